"""Track sets: how the tracks of an LPD song are grouped (OR-merged) into a fixed set of tracks.

A track set maps every (is_drum, program) pair of a source track to one output track, or to none
(the track is dropped). Three sets are known:

``bmusegan8`` (paper section 4.1, docs/model.md, section 1.3)
    Drums, Piano, Guitar, Bass, Ensemble, Reed, Synth Lead, Synth Pad. ``is_drum`` goes to Drums;
    otherwise the GM family ``program // 8`` picks the track (0 Piano, 3 Guitar, 4 Bass,
    6 Ensemble, 8 Reed, 10 Synth Lead, 11 Synth Pad); every other family is dropped.
``lpd5`` (how LPD-5 was made, data README)
    Drums, Piano, Guitar, Bass, Strings. ``is_drum`` to Drums; 0-7 Piano; 24-31 Guitar;
    32-39 Bass; 96-103 and 112-127 dropped; every other program Strings.
``lpd17`` (how LPD-17 was made)
    Drums plus the 16 GM families ``program // 8``.

The stored programs are the first program of each family, as the original code's config.py:240
(0, 0, 24, 32, 48, 64, 80, 88 for bmusegan8); they are only used when writing MIDI.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.phrase_file import TrackInfo
from pipeline.errors import DataError

DROPPED = -1

GM_FAMILIES = (
    "Piano",
    "Chromatic Percussion",
    "Organ",
    "Guitar",
    "Bass",
    "Strings",
    "Ensemble",
    "Brass",
    "Reed",
    "Pipe",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic",
    "Percussive",
    "Sound Effects",
)


@dataclass(frozen=True)
class TrackSet:
    """A named set of output tracks and the table that maps source tracks onto them."""

    name: str
    info: TrackInfo
    drum_track: int  # output track of every is_drum source track
    program_track: tuple[int, ...]  # 128 entries: output track of a non-drum program, or DROPPED

    @property
    def n_tracks(self) -> int:
        return len(self.info.names)

    def track_of(self, program: int, is_drum: bool) -> int:
        """Output track of a source track, or ``DROPPED``."""
        if is_drum:
            return self.drum_track
        if not 0 <= program < 128:
            raise ValueError(f"program {program} is outside 0..127")
        return self.program_track[program]


def _bmusegan8() -> TrackSet:
    families = {0: 1, 3: 2, 4: 3, 6: 4, 8: 5, 10: 6, 11: 7}  # GM family -> output track
    table = tuple(families.get(p // 8, DROPPED) for p in range(128))
    info = TrackInfo(
        names=["Drums", "Piano", "Guitar", "Bass", "Ensemble", "Reed", "Synth Lead", "Synth Pad"],
        programs=[0, 0, 24, 32, 48, 64, 80, 88],
        is_drums=[True] + [False] * 7,
    )
    return TrackSet("bmusegan8", info, 0, table)


def _lpd5_track(program: int) -> int:
    if program < 8:
        return 1  # Piano
    if 24 <= program < 32:
        return 2  # Guitar
    if 32 <= program < 40:
        return 3  # Bass
    if 96 <= program < 104 or program >= 112:
        return DROPPED  # Synth Effects, Percussive, Sound Effects
    return 4  # Strings: every other program


def _lpd5() -> TrackSet:
    info = TrackInfo(
        names=["Drums", "Piano", "Guitar", "Bass", "Strings"],
        programs=[0, 0, 24, 32, 48],
        is_drums=[True, False, False, False, False],
    )
    return TrackSet("lpd5", info, 0, tuple(_lpd5_track(p) for p in range(128)))


def _lpd17() -> TrackSet:
    info = TrackInfo(
        names=["Drums", *GM_FAMILIES],
        programs=[0] + [8 * f for f in range(16)],
        is_drums=[True] + [False] * 16,
    )
    return TrackSet("lpd17", info, 0, tuple(1 + p // 8 for p in range(128)))


_BUILDERS = {"bmusegan8": _bmusegan8, "lpd5": _lpd5, "lpd17": _lpd17}
TRACK_SET_NAMES = tuple(_BUILDERS)


def get_track_set(name: str) -> TrackSet:
    """The track set called ``name`` (bmusegan8, lpd5 or lpd17)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown track set {name!r}; known: {list(_BUILDERS)}")
    return _built(name)


def track_set_named_by(names: list[str], source: Path) -> TrackSet:
    """The known track set whose track names are ``names``, in this order. A model's checkpoint
    (``source``) stores its track names only; this gives back their programs and drum flags. No
    such set is a ``DataError`` naming ``source``."""
    for name in TRACK_SET_NAMES:
        if get_track_set(name).info.names == list(names):
            return get_track_set(name)
    raise DataError(
        f"{source}: tracks {list(names)} match no known track set ({', '.join(TRACK_SET_NAMES)})"
    )


@functools.cache
def _built(name: str) -> TrackSet:
    """Each track set is built once per process: build_tensor asks for it twice per song."""
    return _BUILDERS[name]()


def track_table(track_set: TrackSet) -> np.ndarray:
    """int array (2, 128): output track of (is_drum, program); ``DROPPED`` where dropped."""
    table = np.empty((2, 128), dtype=np.int64)
    table[0] = track_set.program_track
    table[1] = track_set.drum_track
    return table
