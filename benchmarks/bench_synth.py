"""Compare the two pip-installable SoundFont synthesizers on the phrases this project renders.

Candidates (docs/listening.md): ``symusic`` (its Synthesizer) and ``tinysoundfont``, both with
pretty_midi's ``TimGM6mb.sf2``. Prints, per phrase kind, the render time and the level (peak, RMS)
of the result. ``tinysoundfont`` is rendered by events here (it has no score renderer we use);
install it with ``pip install --no-deps tinysoundfont`` for this script only: its ``pyaudio``
dependency needs the PortAudio system library to build, which rules it out as a pipeline dependency.

Run: python benchmarks/bench_synth.py [outputs/build_tensor/phrases.h5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline.cli import existing_file, first_paragraph
from pipeline.data.phrase_file import read_phrases, read_track_info
from pipeline.export import audio


def render_tsf(phrase: np.ndarray, tracks, tempo: float = 100.0) -> np.ndarray:
    """One phrase through tinysoundfont, note on/off events at their exact sample times."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=audio.SAMPLE_RATE)
    sfid = synth.sfload(str(audio.soundfont_path()))
    n_bars, n_steps, n_pitches, n_tracks = phrase.shape
    frames_per_step = audio.SAMPLE_RATE * 60.0 / tempo / 24
    events = []
    for t in range(n_tracks):
        chan = 9 if tracks.is_drums[t] else t
        synth.program_select(
            chan, sfid, 128 if tracks.is_drums[t] else 0, tracks.programs[t], tracks.is_drums[t]
        )
        roll = phrase[..., t].reshape(-1, n_pitches)
        pitch, start, length = audio.note_runs(roll)
        for p, s, n in zip(pitch, start, length, strict=True):
            events.append((round(s * frames_per_step), 1, chan, int(p) + 24))
            events.append((round((s + n) * frames_per_step), 0, chan, int(p) + 24))
    events.sort()
    total = audio.n_frames(n_bars * n_steps, 24, tempo)
    out, now = [], 0
    for when, on, chan, key in events + [(total, -1, 0, 0)]:
        if when > now:
            out.append(np.frombuffer(synth.generate(when - now), dtype=np.float32))
            now = when
        if on == 1:
            synth.noteon(chan, key, audio.VELOCITY)
        elif on == 0:
            synth.noteoff(chan, key)
    stereo = np.concatenate(out).reshape(-1, 2)
    return audio.normalise(stereo.mean(axis=1))


def render_symusic(phrase: np.ndarray, tracks, tempo: float = 100.0) -> np.ndarray:
    return audio.render_phrase(phrase, tracks, 24, 24, tempo)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=first_paragraph(__doc__),
        epilog="tinysoundfont is not a dependency: pip install --no-deps tinysoundfont",
    )
    parser.add_argument(
        "tensor",
        type=existing_file,
        nargs="?",
        default="outputs/build_tensor/phrases.h5",
        help="a phrase file (HDF5) whose first four phrases are rendered (default: %(default)s)",
    )
    tensor = parser.parse_args(argv).tensor
    tracks = read_track_info(tensor)
    real = read_phrases(tensor, 0, 4)
    rng = np.random.default_rng(0)
    kinds = {
        "training phrase (mean of 4)": list(real),
        "random 0.5% active": [rng.random(real[0].shape) < 0.005],
        "random 2% active": [rng.random(real[0].shape) < 0.02],
    }
    for name, render in (("tinysoundfont", render_tsf), ("symusic", render_symusic)):
        render(real[0], tracks)  # warm-up: SoundFont loading
        for kind, phrases in kinds.items():
            t0 = time.perf_counter()
            outs = [render(p, tracks) for p in phrases]
            dt = (time.perf_counter() - t0) / len(phrases)
            rms = np.mean([np.sqrt(np.mean(o**2)) for o in outs])
            print(
                f"{name:14s} {kind:28s} {dt:7.3f} s/phrase  RMS {rms:.3f}  "
                f"length {len(outs[0]) / audio.SAMPLE_RATE:.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
