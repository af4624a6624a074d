"""MIDI files to LPD-style songs: the LPD-cleansed rules and the 2018 converter's conventions.

The Lakh Pianoroll Dataset was made from Lakh MIDI with pypianoroll v0.3 (spec 1.1,
[PR@5866eda] ``Multitrack.parse_pretty_midi``, default arguments) on top of pretty_midi. This
module re-implements that conversion (our own code) so that a MIDI file becomes the piano-roll LPD
itself would hold for it:

* Beats come from ``pretty_midi.get_beats(first_beat_time)``; the first beat is the time of the
  first time-signature event (``estimate_beat_start`` when there is none). A song has
  ``24 * n_beats`` steps.
* A time ``t`` falls in beat ``k = searchsorted(beats, t) - 1`` (left side, so a time exactly on a
  beat counts as the end of the previous one) at fraction ``(t - beats[k]) / (beats'[k+1] -
  beats[k])``, where ``beats'`` has one extra beat after the last. Its step position is
  ``(k + fraction) * 24``. Note starts are **rounded** (half to even); note ends are **truncated**.
* Drum tracks: only the onset step of each note is set (no durations).
* Other tracks, note by note in pretty_midi's order: if the step just before the note's start is
  already active for that pitch, it is cleared (a one-step gap separates back-to-back repeats; the
  earlier note loses its last step); if the note's end step is already active, the note ends one
  step earlier; then steps ``start .. end-1`` are set.
* Notes that end at or before the first beat are dropped. The old converter would crash on a drum
  onset rounded past the last step; we drop such an onset instead (no LPD file can contain it).

``time_signature_problem`` applies LPD-cleansed's rules: exactly one time-signature event, 4/4,
at time 0 (so the first beat is at time 0).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pretty_midi

from pipeline.data.song import RESOLUTION, Song, SourceTrack
from pipeline.io import find_files

MIDI_SUFFIXES = (".mid", ".midi")


def find_midi_files(root: str | Path) -> Iterator[str]:
    """Every MIDI file under ``root`` as a relative POSIX path, in sorted order."""
    return find_files(root, MIDI_SUFFIXES, "MIDI folder")


def file_md5(path: str | Path) -> str:
    """Hex md5 of a file's bytes (Lakh MIDI names its files by this)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def read_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file with pretty_midi (its warnings about odd files silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(str(path))


def first_beat_time(pm: pretty_midi.PrettyMIDI) -> float:
    """The converter's first beat: the first time-signature event, else pretty_midi's estimate."""
    if pm.time_signature_changes:
        return float(min(ts.time for ts in pm.time_signature_changes))
    return float(pm.estimate_beat_start())


def time_signature_problem(pm: pretty_midi.PrettyMIDI) -> str | None:
    """Why LPD-cleansed would reject the file's time signatures; None if it is 4/4 throughout."""
    changes = pm.time_signature_changes
    if not changes:
        return "no_time_signature"
    if len(changes) > 1:
        return "several_time_signatures"
    (ts,) = changes
    if ts.time > 0.0:
        return "first_beat_not_at_zero"
    if (ts.numerator, ts.denominator) != (4, 4):
        return "not_4_4"
    return None


def beat_times(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Sorted beat times (seconds) from the converter's first beat."""
    if pm.get_end_time() <= 0.0:
        return np.zeros(0)
    return np.sort(pm.get_beats(first_beat_time(pm)))


def _positions(times: np.ndarray, beats: np.ndarray, extended: np.ndarray) -> np.ndarray:
    """Step positions (float) of ``times``, computed in the converter's order of operations."""
    k = np.searchsorted(beats, times) - 1
    fraction = (times - beats[k]) / (extended[k + 1] - beats[k])
    return (k + fraction) * RESOLUTION


def _drum_cells(on: np.ndarray, pitch: np.ndarray, n_steps: int) -> np.ndarray:
    roll = np.zeros((n_steps, 128), dtype=bool)
    inside = (on >= 0) & (on < n_steps)
    roll[on[inside], pitch[inside]] = True
    return roll


def _pitched_cells(on: np.ndarray, off: np.ndarray, pitch: np.ndarray, n_steps: int) -> np.ndarray:
    roll = np.zeros((n_steps, 128), dtype=bool)
    for start, end, p in zip(on.tolist(), off.tolist(), pitch.tolist(), strict=True):
        if 0 < start < n_steps and roll[start - 1, p]:
            roll[start - 1, p] = False  # one-step gap before a repeated pitch
        if end < n_steps - 1 and roll[end, p]:
            end -= 1  # do not run into a note already written
        if start < end:
            roll[start:end, p] = True
    return roll


def midi_to_song(pm: pretty_midi.PrettyMIDI) -> Song:
    """Convert a parsed MIDI file to the :class:`Song` LPD would hold for it."""
    first = first_beat_time(pm)
    beats = beat_times(pm)
    if len(beats) < 2:
        raise ValueError("fewer than two beats: cannot quantize")
    n_steps = RESOLUTION * len(beats)
    extended = np.append(beats, 2 * beats[-1] - beats[-2])
    tracks = []
    for inst in pm.instruments:
        notes = [n for n in inst.notes if n.end > first and n.velocity >= 1]
        pitch = np.array([n.pitch for n in notes], dtype=np.int64)
        starts = np.array([n.start for n in notes], dtype=float)
        on = np.round(_positions(starts, beats, extended)).astype(np.int64)
        if inst.is_drum:
            roll = _drum_cells(on, pitch, n_steps)
        else:
            ends = np.array([n.end for n in notes], dtype=float)
            off = _positions(ends, beats, extended).astype(np.int64)
            roll = _pitched_cells(on, off, pitch, n_steps)
        times, pitches = np.nonzero(roll)
        tracks.append(SourceTrack(int(inst.program), bool(inst.is_drum), inst.name, times, pitches))
    return Song(length=n_steps, tracks=tracks)
