"""The in-memory form of one song: its length and, per source track, the active cells.

Both readers (``lpd.read_npz`` for LPD ``.npz`` files, ``midi.midi_to_song`` for MIDI files) return
a :class:`Song`. A track holds only the coordinates of its non-zero cells (binarized: velocity > 0),
so a song costs memory in proportion to its notes, never to its length times 128 pitches.
Times are in steps of 1/24 beat (LPD's resolution); a bar is 96 steps (4/4 throughout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESOLUTION = 24  # steps per beat (LPD)
STEPS_PER_BAR = 4 * RESOLUTION  # 4/4 throughout


@dataclass(frozen=True)
class SourceTrack:
    """One track of a source song: GM program, drum flag, name and its active cells."""

    program: int
    is_drum: bool
    name: str
    times: np.ndarray  # integer (n,), time step of each active cell (int32 from LPD files)
    pitches: np.ndarray  # integer (n,), MIDI pitch of each active cell


@dataclass(frozen=True)
class Song:
    """A multitrack song at 24 steps per beat; ``length`` in steps (not always a multiple of 96)."""

    length: int
    tracks: list[SourceTrack]

    @property
    def n_bars(self) -> int:
        """Number of complete 4/4 bars."""
        return self.length // STEPS_PER_BAR

    def dense_track(self, index: int) -> np.ndarray:
        """Track ``index`` as a bool piano-roll (length, 128), for tests and checks."""
        roll = np.zeros((self.length, 128), dtype=bool)
        track = self.tracks[index]
        roll[track.times, track.pitches] = True
        return roll
