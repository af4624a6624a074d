"""Phrases to audio, so a sample set can be judged by ear (docs/listening.md).

A phrase (bars, steps, pitches, tracks) becomes notes: a run of consecutive active steps of one
pitch in one track is one note, across bar lines, exactly as the MIDI export writes it. The notes
are played by ``symusic``'s SoundFont synthesizer with the General MIDI SoundFont that
``pretty_midi`` ships (``TimGM6mb.sf2``): pip installs both, nothing is downloaded at run time.
Every track plays with its track set's GM program; drums go to the percussion channel (GM channel
10), as in the MIDI files.

Timing: ``resolution`` steps per beat at ``tempo`` beats per minute, so a four-bar phrase of 96
steps per bar lasts 16 beats (9.6 s at 100 bpm). The audio is exactly that long plus a fixed
release tail (``RELEASE_TAIL_S``) in which the last notes ring out. It is peak-normalised to
``PEAK`` (about -1 dBFS), so no file clips; a phrase without notes gives silence.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import symusic

from pipeline.data.phrase_file import TrackInfo
from pipeline.io import atomic_path

SAMPLE_RATE = 22050  # Hz; enough for a 6 MB GM SoundFont, half the size of 44.1 kHz files
RELEASE_TAIL_S = 1.0  # seconds of audio after the phrase's last step
PEAK = 0.89  # normalised peak, about -1 dBFS
HIGHEST_PITCH = 96  # C7; see playable_pitches
VELOCITY = 100  # the phrases are binary: every note gets the same MIDI velocity
FORMAT = "FLAC"  # lossless, about half the size of WAV, played by Chromium and Firefox


def soundfont_path() -> Path:
    """``TimGM6mb.sf2``, the General MIDI SoundFont bundled with ``pretty_midi``."""
    path = Path(str(resources.files("pretty_midi") / "TimGM6mb.sf2"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the SoundFont bundled with pretty_midi is missing")
    return path


def synthesizer(sample_rate: int = SAMPLE_RATE) -> Any:
    """A new synthesizer (about 6 ms): one per phrase, since a synthesizer keeps state between
    renders that changes later output slightly (see render_phrase)."""
    return symusic.Synthesizer(str(soundfont_path()), sample_rate=sample_rate, quality=4)


def n_frames(n_steps: int, resolution: int, tempo: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Audio frames of a phrase of ``n_steps`` steps: its duration at ``tempo`` plus the tail."""
    seconds = n_steps / resolution * 60.0 / tempo + RELEASE_TAIL_S
    return round(seconds * sample_rate)


def note_runs(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes of a bool (time, pitches) roll: (pitch index, start step, length in steps), in time
    order."""
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0).T  # (pitches, time + 1): +1 at an onset, -1 after an offset
    on_pitch, on_step = np.nonzero(edges == 1)  # sorted by pitch, then time
    _, off_step = np.nonzero(edges == -1)  # the same order, so the i-th offset ends note i
    order = np.lexsort((on_pitch, on_step))  # by time, then pitch: the synthesizer needs it
    return on_pitch[order], on_step[order], (off_step - on_step)[order]


def playable_pitches(pitches: np.ndarray) -> np.ndarray:
    """MIDI pitches above ``HIGHEST_PITCH`` moved down by octaves until they are not.

    Measured: symusic 0.5.9's synthesizer never returns for some notes above C7 with this
    SoundFont (Guitar at 99, 102, 104, 106; Synth Lead at 97-102, 106, 107), so melodic notes
    that high play one or two octaves lower. Drums are unaffected (GM drums stop at 81).
    """
    out = pitches.copy()
    while (high := out > HIGHEST_PITCH).any():
        out[high] -= 12
    return out


def phrase_score(
    phrase: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float,
    for_synth: bool = True,
) -> Any:
    """One phrase as a symusic Score: one track per phrase track, ticks = steps.

    ``for_synth`` moves notes above ``HIGHEST_PITCH`` into range (``playable_pitches``); the MIDI
    export keeps every pitch as it is.
    """
    n_bars, n_steps, n_pitches, n_tracks = phrase.shape
    score: Any = symusic.Score(resolution)  # ticks per quarter = steps per beat
    score.tempos.append(symusic.Tempo(0, float(tempo)))
    for t in range(n_tracks):
        roll = phrase[..., t].reshape(n_bars * n_steps, n_pitches).astype(bool)
        pitches, starts, lengths = note_runs(roll)
        keys = pitches + lowest_pitch
        track: Any = symusic.Track(
            tracks.names[t], program=int(tracks.programs[t]), is_drum=bool(tracks.is_drums[t])
        )
        track.notes = symusic.Note.from_numpy(
            time=starts.astype(np.int32),
            duration=lengths.astype(np.int32),
            pitch=(playable_pitches(keys) if for_synth and not tracks.is_drums[t] else keys).astype(
                np.int8
            ),
            velocity=np.full(len(starts), VELOCITY, dtype=np.int8),
        )
        score.tracks.append(track)
    return score


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Cut or zero-pad mono ``audio`` to exactly ``frames`` samples."""
    out = np.zeros(frames, dtype=np.float32)
    n = min(frames, len(audio))
    out[:n] = audio[:n]
    return out


def normalise(audio: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """Scale ``audio`` so that its largest absolute sample is ``peak``; silence stays silent."""
    top = float(np.max(np.abs(audio), initial=0.0))
    return audio if top == 0.0 else (audio * (peak / top)).astype(np.float32)


def render_phrase(
    phrase: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mono float32 audio of one phrase (bars, steps, pitches, tracks); see the module doc."""
    score = phrase_score(phrase, tracks, lowest_pitch, resolution, tempo)
    frames = n_frames(phrase.shape[0] * phrase.shape[1], resolution, tempo, sample_rate)
    if score.note_num() == 0:
        return np.zeros(frames, dtype=np.float32)
    # A new synthesizer per phrase: one that rendered before renders slightly differently
    # (about 1e-3 in a few samples). A rare difference of that size remains between runs, from
    # symusic itself, so audio files are the one output that is not byte-identical between runs
    # (tests compare them decoded, within 1e-2). A warm-up render of the same phrase, tried
    # against it, doubled the cost and changed nothing measurable: 15 renders in separate
    # processes on 1 and 2 CPUs gave identical bytes with and without it.
    stereo = np.asarray(synthesizer(sample_rate).render(score, stereo=True))
    # the SoundFont's voices are centred: average the channels, half the file size
    return normalise(fit_length(stereo.mean(axis=0), frames))


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono ``audio`` as 16-bit FLAC at ``path`` (atomically)."""
    with atomic_path(Path(path)) as tmp:
        soundfile.write(tmp, audio, sample_rate, format=FORMAT, subtype="PCM_16")


def write_audio_files(
    audio_dir: Path,
    phrases: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float,
) -> list[Path]:
    """Render each phrase to ``audio_dir/sample_<i>.flac``; the folder exists even when empty."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, phrase in enumerate(phrases):
        path = audio_dir / f"sample_{i:03d}.flac"
        write_audio(path, render_phrase(phrase, tracks, lowest_pitch, resolution, tempo))
        paths.append(path)
    return paths
