"""MIDI files to LPD-style songs: the LPD-cleansed rules and LPD's own MIDI converter.

The Lakh Pianoroll Dataset was made from Lakh MIDI with pypianoroll v0.3's
``Multitrack.parse_pretty_midi`` (default arguments, on top of pretty_midi; docs/model.md,
section 1.2). This module re-implements that conversion (our own code, written from a reading of
it) so that a MIDI file becomes exactly the piano-roll LPD holds for it, velocities included:

* Beats come from ``pretty_midi.get_beats(first_beat)``; the first beat is the time of the first
  time-signature event (``estimate_beat_start`` when there is none). A song has ``24 * n_beats``
  steps; one extra beat is appended after the last one, at the last beat's spacing, to measure
  times inside the last beat.
* A time ``t`` falls in beat ``k = searchsorted(beats, t) - 1`` (left side: a time exactly on a
  beat is the end of the previous one) at fraction ``(t - beats[k]) / (beats'[k+1] - beats[k])``
  (``beats'`` with the extra beat); its step position is ``(k + fraction) * 24``, **truncated**
  to an integer, for note starts and note ends alike.
* Notes that end at or before the first beat are dropped.
* Drum tracks: only the onset step of each note is set, to the note's velocity (several notes on
  one cell: the last one in pretty_midi's order wins, as NumPy's fancy assignment does).
* Other tracks, note by note in pretty_midi's order, notes with velocity < 1 skipped: the note
  covers steps ``start .. end`` **inclusive** (``end`` = its truncated end position); if the step
  before ``start`` is already active for that pitch it is cleared (the one-step gap between
  repeated notes); if the step after ``end`` is already active, the note stops one step earlier;
  a cell already active keeps the larger velocity.
* Every instrument becomes a track, empty ones too, in pretty_midi's order.
* ``tempo`` is the old converter's per-step array: the per-beat tempo ``60 / diff(beats')`` tiled
  24 times (the whole beat sequence repeated, not each beat stretched to 24 steps: a quirk LPD's
  files carry, e.g. on the three of the 20 below with tempo changes); ``downbeat`` marks step 0
  and the bars of each time signature before the last one (so only step 0 for one signature).

Checked on all 20 files of ``../shared/data/lmd_to_lpd``: every track, the length, tempo and
downbeat equal LPD's ``.npz`` velocity for velocity (``tests/data/test_midi_lpd.py``).
Two cases the old converter cannot handle and no LPD file therefore contains: a drum onset past the
last step (it would raise IndexError) is dropped here; fewer than two beats raise ValueError.

Not reproduced: the old code looked a pitched note's velocity up by its index among all of the
instrument's notes, not the kept ones; they differ only after a note dropped for ending at or
before the first beat, impossible with the first beat at time 0 (pretty_midi yields no note
ending at time 0), so never on a file the filter keeps. We use each note's own velocity.

``time_signature_problem`` applies LPD-cleansed's rule: one 4/4 time signature at time 0 (so the
first beat is at time 0); identical 4/4 events at time 0 (one per track, as some files carry)
count as one, as LPD-cleansed kept such files.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from pipeline.data.song import RESOLUTION, Song, SourceTrack
from pipeline.io import find_files

MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class VelocityTrack:
    """One converted instrument: GM program, drum flag, name and its non-zero cells."""

    program: int
    is_drum: bool
    name: str
    times: np.ndarray  # int64 (n,), time step of each non-zero cell
    pitches: np.ndarray  # int64 (n,), MIDI pitch of each non-zero cell
    velocities: np.ndarray  # uint8 (n,), the cell's value (1..127)


@dataclass(frozen=True)
class MidiPianoroll:
    """What LPD's converter makes of one MIDI file (what LPD's ``.npz`` stores for it)."""

    length: int  # steps: 24 per beat
    tempo: np.ndarray  # float64 (length,), the old converter's tempo array (see module doc)
    downbeat: np.ndarray | None  # bool (length,); None without time-signature events
    tracks: list[VelocityTrack]

    def dense_track(self, index: int) -> np.ndarray:
        """Track ``index`` as a uint8 velocity piano-roll (length, 128), as LPD stores it."""
        roll = np.zeros((self.length, 128), dtype=np.uint8)
        track = self.tracks[index]
        roll[track.times, track.pitches] = track.velocities
        return roll

    def to_song(self) -> Song:
        """The binarized :class:`Song` (every stored cell has velocity >= 1)."""
        tracks = [
            SourceTrack(t.program, t.is_drum, t.name, t.times, t.pitches) for t in self.tracks
        ]
        return Song(length=self.length, tracks=tracks)


def find_midi_files(root: str | Path) -> Iterator[str]:
    """Every MIDI file under ``root`` as a relative POSIX path, in sorted order."""
    return find_files(root, MIDI_SUFFIXES, "MIDI folder")


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
    """Why LPD-cleansed would reject the file's time signatures; None if it is 4/4 throughout.

    Identical 4/4 events at time 0 are one time signature (LPD-cleansed holds a file with eight
    of them); any other second event is a change (even at time 0, e.g. a spurious 1/4).
    """
    changes = pm.time_signature_changes
    if not changes:
        return "no_time_signature"
    meters = {(ts.numerator, ts.denominator) for ts in changes}
    times = {ts.time for ts in changes}
    if len(meters) > 1 or len(times) > 1:
        return "several_time_signatures"
    if times != {0.0}:
        return "first_beat_not_at_zero"
    if meters != {(4, 4)}:
        return "not_4_4"
    return None


def beat_times(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Sorted beat times (seconds) from the converter's first beat."""
    if pm.get_end_time() <= 0.0:
        return np.zeros(0)
    return np.sort(pm.get_beats(first_beat_time(pm)))


def _steps(times: np.ndarray, beats: np.ndarray, extended: np.ndarray) -> np.ndarray:
    """Truncated step positions of ``times``, in the converter's order of float operations.

    For a time before the first beat ``k`` is -1 and NumPy's negative indexing gives the old
    code's (small, non-negative) result; we keep that rather than special-casing it.
    """
    k = np.searchsorted(beats, times) - 1
    fraction = (times - beats[k]) / (extended[k + 1] - beats[k])
    return ((k + fraction) * RESOLUTION).astype(np.int64)


def _drum_roll(on: np.ndarray, pitch: np.ndarray, velocity: np.ndarray, n: int) -> np.ndarray:
    roll = np.zeros((n, 128), dtype=np.uint8)
    inside = (on >= 0) & (on < n)  # the old code would crash on an onset past the end
    roll[on[inside], pitch[inside]] = velocity[inside]
    return roll


def _pitched_roll(
    on: np.ndarray, off: np.ndarray, pitch: np.ndarray, velocity: np.ndarray, n: int
) -> np.ndarray:
    roll = np.zeros((n, 128), dtype=np.uint8)
    for start, end, p, v in zip(
        on.tolist(), off.tolist(), pitch.tolist(), velocity.tolist(), strict=True
    ):
        if v < 1:
            continue
        if 0 < start < n and roll[start - 1, p]:
            roll[start - 1, p] = 0  # one-step gap before a repeated pitch
        if end < n - 1 and roll[end + 1, p]:
            end -= 1  # do not run into a note already written
        cells = roll[start : end + 1, p]  # end inclusive; a view, clipped at the song's end
        np.maximum(cells, v, out=cells)
    return roll


def _track(
    inst: pretty_midi.Instrument, first: float, beats: np.ndarray, extended: np.ndarray
) -> VelocityTrack:
    notes = [note for note in inst.notes if note.end > first]
    pitch = np.array([note.pitch for note in notes], dtype=np.int64)
    velocity = np.array([note.velocity for note in notes], dtype=np.int64)
    on = _steps(np.array([note.start for note in notes], dtype=float), beats, extended)
    n = RESOLUTION * len(beats)
    if inst.is_drum:
        roll = _drum_roll(on, pitch, velocity, n)
    else:
        off = _steps(np.array([note.end for note in notes], dtype=float), beats, extended)
        roll = _pitched_roll(on, off, pitch, velocity, n)
    times, pitches = np.nonzero(roll)
    values = roll[times, pitches]
    return VelocityTrack(int(inst.program), bool(inst.is_drum), inst.name, times, pitches, values)


def _downbeat(pm: pretty_midi.PrettyMIDI, beats: np.ndarray) -> np.ndarray | None:
    """The old converter's downbeats: step 0, then the bars of each time signature but the last."""
    if not pm.time_signature_changes:
        return None
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    downbeat = np.zeros(RESOLUTION * len(beats), dtype=bool)
    downbeat[0] = True
    start = 0
    for ts, following in zip(changes[:-1], changes[1:], strict=True):
        end = start + int(np.searchsorted(beats[start:], following.time))
        downbeat[start * RESOLUTION : end * RESOLUTION : ts.numerator * RESOLUTION] = True
        start = end
    return downbeat


def convert(pm: pretty_midi.PrettyMIDI) -> MidiPianoroll:
    """Convert a parsed MIDI file exactly as LPD's converter did (see the module docstring)."""
    first = first_beat_time(pm)
    beats = beat_times(pm)
    if len(beats) < 2:
        raise ValueError("fewer than two beats: cannot quantize")
    extended = np.append(beats, 2 * beats[-1] - beats[-2])
    tempo = np.tile(60.0 / np.diff(extended), RESOLUTION)
    tracks = [_track(inst, first, beats, extended) for inst in pm.instruments]
    return MidiPianoroll(RESOLUTION * len(beats), tempo, _downbeat(pm, beats), tracks)


def midi_to_song(pm: pretty_midi.PrettyMIDI) -> Song:
    """Convert a parsed MIDI file to the binarized :class:`Song` LPD would hold for it."""
    return convert(pm).to_song()
