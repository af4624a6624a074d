"""Bounds checked before a song is decompressed or converted, so hostile files cost little.

A song file is refused, before its contents are expanded, when

* ``too_long``: it is longer than ``filter.max_song_steps`` time steps. For an LPD ``.npz`` the
  length is the shape its piano-rolls claim; for a MIDI file it is estimated from the tempo map and
  the end time (beats = seconds x tempo / 60, times 24 steps; the denominator of the time signature
  can make beats shorter, which the estimate allows for) *before* pretty_midi computes the beats,
  since a hostile tempo map makes that computation itself unbounded;
* ``too_large``: a MIDI file has more than ``filter.max_midi_bytes`` bytes (pretty_midi holds every
  note as a Python object, about 1.5 kB each, so the file size bounds memory and time), or a
  member of an ``.npz`` declares more uncompressed bytes than a song of ``max_song_steps`` steps can
  hold (a zip bomb). ``pipeline.data.npz`` never inflates a member past its declared size.

The song readers (``lpd``, ``midi``) stay as they are; the stages call these checks around them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi

from pipeline.data.npz import Member, NpzReader
from pipeline.data.song import RESOLUTION

PITCHES = 128
_HEADER_SLACK = 4096  # bytes of .npy header and rounding allowed on top of any member's data
_SMALL_MEMBER = 1 << 20  # shape and info.json members are tiny in every LPD file


class SongTooBig(ValueError):
    """A song over a bound; ``rule`` is the filter report's rule (too_long or too_large)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _too_large(name: str, info: Member, limit: int) -> SongTooBig:
    return SongTooBig(
        "too_large",
        f"member {name} would inflate to {info.file_size} bytes "
        f"({info.compress_size} stored), over the {limit} its song can need",
    )


def _claimed_steps(npz: NpzReader, shape_member: Member) -> int:
    """The number of steps a ``pianoroll_<i>_csc_shape`` member claims (a tiny .npy)."""
    if shape_member.file_size > _SMALL_MEMBER:
        raise _too_large(shape_member.name, shape_member, _SMALL_MEMBER)
    shape = npz[shape_member.name[: -len(".npy")]]
    return int(shape[0]) if shape.size else 0


def check_npz(npz: NpzReader, max_steps: int) -> None:
    """Refuse an open LPD ``.npz`` that claims a song over ``max_steps`` steps (too_long), or
    whose members declare more bytes than their claimed song can hold (too_large: a zip bomb).

    Reads only the zip directory (read when the file was opened) and the tiny shape members. A
    track's CSC data and indices hold at most 8 bytes per cell of its claimed (steps x 128)
    matrix; downbeat and tempo at most 8 bytes per allowed step; everything else (indptr, shapes,
    info.json) is tiny.
    """
    # Each name split once, at its last "_": ("pianoroll_0_csc", "data.npy"), ("", "tempo.npy").
    parts = [(name.rpartition("_"), info) for name, info in npz.members.items()]
    steps = {
        track: _claimed_steps(npz, info)
        for (track, _, kind), info in parts
        if kind == "shape.npy" and track.endswith("_csc")
    }
    check_length(max(steps.values(), default=0), max_steps)
    for (track, _, kind), info in parts:
        if kind in ("data.npy", "indices.npy") and track.endswith("_csc"):
            limit = steps.get(track, 0) * PITCHES * 8 + _HEADER_SLACK
        elif info.name.startswith(("downbeat", "tempo")):
            limit = max_steps * 8 + _HEADER_SLACK
        else:
            limit = _SMALL_MEMBER
        if info.file_size > limit:
            raise _too_large(info.name, info, limit)


def check_length(length: int, max_steps: int) -> None:
    if length > max_steps:
        raise SongTooBig("too_long", f"{length} steps, over filter.max_song_steps = {max_steps}")


def check_midi_size(path: str | Path, max_bytes: int) -> None:
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise SongTooBig("too_large", f"{size} bytes, over filter.max_midi_bytes = {max_bytes}")


def estimated_midi_steps(pm: pretty_midi.PrettyMIDI) -> int:
    """An upper estimate of the steps ``midi.beat_times`` would give, from the tempo map alone."""
    end = pm.get_end_time()
    times, tempi = pm.get_tempo_changes()
    if end <= 0 or len(times) == 0:
        return 0
    bounds = np.append(np.minimum(times, end), end)
    beats = float(np.sum(np.diff(bounds) * tempi / 60.0)) + 1
    denominators = [ts.denominator for ts in pm.time_signature_changes] or [4]
    return int(np.ceil(beats * max(1.0, max(denominators) / 4) * RESOLUTION))


def check_midi_length(pm: pretty_midi.PrettyMIDI, max_steps: int) -> None:
    check_length(estimated_midi_steps(pm), max_steps)
