"""Accompany a user's own track: a track-conditional model writes the other tracks (issue 21).

    python -m pipeline.accompany \\
        --checkpoint outputs/train_conditional/twostage_dbn/checkpoint.pt \\
        --midi my_song.mid --track Piano --out my_song_out/ [--seed 0]

1. The MIDI file is read with the project's LPD-exact converter (``pipeline.data.midi``, the
   same conversion as ``filter.source: midi``). Like LPD-cleansed, it must be 4/4 throughout
   with its time signature at time 0; anything else is refused, naming the file and its time
   signatures.
2. Its instruments are grouped by the checkpoint's track set (``pipeline.data.tracks``); the
   instruments that fall on ``--track`` are the given track. ``--track`` must be the model's
   condition track; a file without such instruments, or with no note on them, is refused.
3. The given track, binarized, pitches MIDI 24-107 (``build_tensor``'s range: lowest_pitch 24,
   84 pitches; notes outside it are not seen by the model but stay in the output file), is cut
   into consecutive four-bar phrases from the first downbeat (step 0); the last, partial phrase
   is padded with silence and the output cut back to the song's length.
4. The model generates the other tracks phrase by phrase, z drawn from ``--seed``.
5. Written to ``--out``: ``<name>.mid`` (the given track's instruments exactly as in the input,
   notes and velocities; every generated track as one instrument at velocity 100, timed on the
   input's beats), ``<name>.flac`` (audio of the binarized phrases at the file's first tempo,
   ``pipeline.export.audio``) and ``<name>.png`` (piano-roll of the first ``--png-phrases``).

Every bad input ends with one line naming the file and the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import torch

from pipeline.data.labels import DataError
from pipeline.data.midi import (
    MidiPianoroll,
    beat_times,
    convert,
    read_midi,
    time_signature_problem,
)
from pipeline.data.phrase_file import TrackInfo
from pipeline.data.song import RESOLUTION, STEPS_PER_BAR
from pipeline.data.tracks import TRACK_SET_NAMES, TrackSet, get_track_set
from pipeline.export.audio import VELOCITY, render_phrase, write_audio
from pipeline.export.pianoroll_png import plot_phrase_grid
from pipeline.io import atomic_path
from pipeline.sampling import draw
from pipeline.training.checkpoint import Sampler, load_checkpoint, load_sampler

log = logging.getLogger(__name__)

LOWEST_PITCH, N_PITCHES, N_BARS = 24, 84, 4  # build_tensor's defaults: the networks' input
PHRASE_STEPS = N_BARS * STEPS_PER_BAR  # 384 steps of 1/24 beat


class AccompanyError(DataError):
    """A bad input of ``accompany``; the message names the file and the problem."""


@dataclass(frozen=True)
class Given:
    """The given track of a MIDI file: its instruments and its binarized piano-roll."""

    instruments: list[int]  # indices into the PrettyMIDI's instruments
    roll: np.ndarray  # bool (length, 84), pitches LOWEST_PITCH ..
    length: int  # steps of the song


def track_set_of(names: list[str], path: Path) -> TrackSet:
    """The track set whose track names are ``names`` (the checkpoint's)."""
    for name in TRACK_SET_NAMES:
        if get_track_set(name).info.names == names:
            return get_track_set(name)
    raise AccompanyError(f"{path}: tracks {names} are not those of a known track set")


def load_conditional(path: Path, track: str | None, device: torch.device) -> Sampler:
    """The sampler of a track-conditional checkpoint whose given track is ``track``."""
    ckpt = load_checkpoint(path)
    given = ckpt["run"].get("condition_track")
    if given is None:
        raise AccompanyError(
            f"{path}: an unconditional model ({ckpt['run']['name']}); accompany needs a "
            "track-conditional one (docs/accompany.md)"
        )
    if track is not None and track != given:
        raise AccompanyError(f"{path}: the model is conditional on {given!r}, not {track!r}")
    return load_sampler(path, device)


def read_song(path: Path) -> tuple[pretty_midi.PrettyMIDI, MidiPianoroll]:
    """Parse and convert ``path``; refuse anything but 4/4 throughout from time 0."""
    try:
        pm = read_midi(path)
    except Exception as error:  # pretty_midi/mido raise many types on a damaged file
        raise AccompanyError(f"{path}: not a readable MIDI file ({error})") from None
    problem = time_signature_problem(pm)
    if problem is not None:
        events = ", ".join(
            f"{ts.numerator}/{ts.denominator} at {ts.time:.3g} s"
            for ts in pm.time_signature_changes
        )
        raise AccompanyError(
            f"{path}: time signature {events or 'missing'} ({problem}); "
            "the model needs one 4/4 time signature at time 0"
        )
    try:
        return pm, convert(pm)
    except ValueError as error:
        raise AccompanyError(f"{path}: {error}") from None


def given_track(song: MidiPianoroll, tracks: TrackSet, track: str, path: Path) -> Given:
    """The instruments of ``song`` that the track set puts on ``track``, merged and binarized."""
    index = tracks.info.names.index(track)
    chosen = [
        i for i, t in enumerate(song.tracks) if tracks.track_of(t.program, t.is_drum) == index
    ]
    if not chosen:
        found = sorted(
            {
                tracks.info.names[k]
                for t in song.tracks
                if (k := tracks.track_of(t.program, t.is_drum)) >= 0
            }
        )
        raise AccompanyError(f"{path}: no {track} track (instruments found for: {found or 'none'})")
    roll = np.zeros((song.length, 128), dtype=bool)
    for i in chosen:
        roll[song.tracks[i].times, song.tracks[i].pitches] = True
    if not roll.any():
        raise AccompanyError(f"{path}: the {track} track is empty (no notes)")
    inside = roll[:, LOWEST_PITCH : LOWEST_PITCH + N_PITCHES]
    if not inside.any():
        raise AccompanyError(
            f"{path}: the {track} track is empty in the model's pitch range, MIDI "
            f"{LOWEST_PITCH}-{LOWEST_PITCH + N_PITCHES - 1} (all its notes lie outside it)"
        )
    return Given(chosen, inside, song.length)


def phrases_of(roll: np.ndarray) -> np.ndarray:
    """(length, 84) -> (n, 4, 96, 84): four-bar phrases from step 0, the last padded."""
    n = -(-len(roll) // PHRASE_STEPS)
    padded = np.zeros((n * PHRASE_STEPS, roll.shape[1]), dtype=bool)
    padded[: len(roll)] = roll
    return padded.reshape(n, N_BARS, STEPS_PER_BAR, roll.shape[1])


def generate(sampler: Sampler, conditions: np.ndarray, seed: int, batch: int = 16) -> np.ndarray:
    """Bool phrases (n, 4, 96, 84, T) for the given-track phrases ``conditions``."""
    device = next(sampler.parameters()).device
    given = lambda start, n: conditions[start : start + n]  # noqa: E731
    return draw(sampler, len(conditions), batch, "model", seed, device, given)


def step_times(song: MidiPianoroll, pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Seconds of every step boundary 0 .. length, on the file's own beats."""
    beats = beat_times(pm)  # the converter's beats: song.length == 24 * len(beats)
    ends = np.append(beats, 2 * beats[-1] - beats[-2])
    frac = np.arange(RESOLUTION) / RESOLUTION
    grid = (beats[:, None] + frac[None, :] * np.diff(ends)[:, None]).reshape(-1)
    return np.append(grid, ends[-1])


def track_notes(roll: np.ndarray, times: np.ndarray, end: float) -> list[pretty_midi.Note]:
    """Notes of a bool (steps, 84) roll at ``VELOCITY``: one per run of active steps, timed by
    the step boundaries ``times`` and ending no later than ``end`` (the input's end)."""
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0).T  # (pitches, steps + 1): +1 at an onset, -1 after an offset
    on_pitch, on_step = np.nonzero(edges == 1)
    _, off_step = np.nonzero(edges == -1)  # the same (pitch, time) order as the onsets
    return [
        pretty_midi.Note(VELOCITY, int(p) + LOWEST_PITCH, times[a], min(times[b], end))
        for p, a, b in zip(on_pitch, on_step, off_step, strict=True)
    ]


def write_output_midi(
    path: Path,
    pm: pretty_midi.PrettyMIDI,
    given: Given,
    song_roll: np.ndarray,
    info: TrackInfo,
    index: int,
    times: np.ndarray,
) -> None:
    """The given instruments as they are, plus one instrument per generated track.

    The file ends where the input ends (a text event "end" at that time; the input's other
    instruments, which set its end, are gone), so it has the input's beats and length: its given
    track converts back to the input's, cell for cell.
    """
    out = copy.deepcopy(pm)  # the input's resolution, tempo map and time signature
    out.instruments = [out.instruments[i] for i in given.instruments]  # kept as they are
    end = pm.get_end_time()
    for t, name in enumerate(info.names):
        if t != index:
            inst = pretty_midi.Instrument(info.programs[t], bool(info.is_drums[t]), name)
            inst.notes = track_notes(song_roll[..., t], times, end)
            out.instruments.append(inst)
    out.text_events.append(pretty_midi.Text("end", end))  # dropped instruments set the end
    with atomic_path(path) as tmp:
        out.write(str(tmp))
        exact_tempos(tmp, pm)


def exact_tempos(path: Path, pm: pretty_midi.PrettyMIDI) -> None:
    """Rewrite the set-tempo events of the file pretty_midi wrote at ``path`` with ``pm``'s own.

    pretty_midi 0.2 writes ``int(6e7 / qpm)`` microseconds per beat, which truncates the
    input's 342857 to 342856 (Mr. Blue Sky): every time drifts and notes land on other steps.
    Rounding restores the input's values, in the order pretty_midi writes them.
    """
    exact = [round(60e6 / qpm) for qpm in pm.get_tempo_changes()[1]]
    midi = mido.MidiFile(str(path))
    events = [i for i, msg in enumerate(midi.tracks[0]) if msg.type == "set_tempo"]
    if len(events) != len(exact):
        raise RuntimeError(f"{path}: {len(events)} tempo events written for {len(exact)}")
    for i, tempo in zip(events, exact, strict=True):
        midi.tracks[0][i] = midi.tracks[0][i].copy(tempo=tempo)
    midi.save(str(path))


def accompany(
    checkpoint: Path,
    midi: Path,
    track: str | None,
    out_dir: Path,
    seed: int,
    png_phrases: int = 4,
    device: str = "cpu",
) -> dict:
    """Write the accompanied MIDI, audio and piano-roll of ``midi`` into ``out_dir``."""
    sampler = load_conditional(checkpoint, track, torch.device(device))
    tracks = track_set_of(sampler.track_names, checkpoint)
    index = sampler.condition
    assert index is not None and sampler.condition_track is not None
    pm, song = read_song(midi)
    given = given_track(song, tracks, sampler.condition_track, midi)
    conditions = phrases_of(given.roll)
    phrases = generate(sampler, conditions, seed)
    song_roll = phrases.reshape(-1, N_PITCHES, phrases.shape[-1])[: given.length]
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = midi.stem
    write_output_midi(
        out_dir / f"{stem}.mid", pm, given, song_roll, tracks.info, index, step_times(song, pm)
    )
    tempo = float(pm.get_tempo_changes()[1][0]) if len(pm.get_tempo_changes()[1]) else 120.0
    song_phrase = phrases.reshape(-1, *phrases.shape[2:])  # (n * 4 bars, 96, 84, T): the song
    audio = render_phrase(song_phrase, tracks.info, LOWEST_PITCH, RESOLUTION, tempo)
    write_audio(out_dir / f"{stem}.flac", audio)
    plot_phrase_grid(out_dir / f"{stem}.png", phrases[:png_phrases], tracks.info.names)
    result = {
        "phrases": len(phrases),
        "steps": given.length,
        "given_track": sampler.condition_track,
    }
    log.info("%s: %d phrases accompanied into %s", midi, len(phrases), out_dir)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a conditional model")
    parser.add_argument("--midi", type=Path, required=True, help="the user's MIDI file (4/4)")
    parser.add_argument("--track", default=None, help="the given track (default: the model's)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png-phrases", type=int, default=4, help="phrases in the PNG")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.midi.is_file():
        parser.exit(2, f"error: {args.midi}: MIDI file not found\n")
    try:
        accompany(
            args.checkpoint,
            args.midi,
            args.track,
            args.out,
            args.seed,
            args.png_phrases,
            args.device,
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
