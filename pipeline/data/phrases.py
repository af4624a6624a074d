"""Phrases: merging a song into a track set and drawing bar-aligned windows from it.

Selection rules (documented in docs/data.md):

* A window is ``n_bars`` consecutive complete bars starting on any bar; a trailing partial bar
  never enters a window.
* Unless ``allow_silent``, a window must have at least one active cell (any kept track, inside the
  pitch range).
* Without ``allow_overlap`` the chosen windows are pairwise disjoint. They are drawn uniformly at
  random among the valid starts, one after another, each accepted only if the remaining windows can
  still be placed (so a song that can hold ``k`` disjoint windows always gets ``k``). With
  ``allow_overlap`` they are ``k`` distinct valid starts drawn without replacement.
* Each song has its own RNG, seeded from (seed, md5), so the choice is independent of process
  scheduling and of the other songs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pipeline.data.song import STEPS_PER_BAR, Song
from pipeline.data.tracks import DROPPED, TrackSet, track_table


@dataclass(frozen=True)
class Cells:
    """The active cells of a merged song: one entry per (time, pitch, track), pitch re-based."""

    length: int  # steps
    times: np.ndarray  # 0 .. length - 1 (a Song's cells lie inside the song)
    pitches: np.ndarray  # 0 .. n_pitches-1
    tracks: np.ndarray  # index of the cell's track in the track set


def merge_cells(song: Song, track_set: TrackSet, lowest_pitch: int, n_pitches: int) -> Cells:
    """OR-merge the song's tracks into ``track_set`` (cells may repeat), keeping the pitch range."""
    table = track_table(track_set)
    parts_t, parts_p, parts_k = [], [], []
    for track in song.tracks:
        target = table[int(track.is_drum), track.program]
        if target == DROPPED or len(track.times) == 0:
            continue
        times, pitches = track.times, track.pitches - lowest_pitch
        if pitches.min() < 0 or pitches.max() >= n_pitches:  # readers often cropped already
            inside = (pitches >= 0) & (pitches < n_pitches)
            times, pitches = times[inside], pitches[inside]
        parts_t.append(times)
        parts_p.append(pitches)
        parts_k.append(np.full(len(times), target, dtype=np.int8))
    if not parts_t:
        empty = np.zeros(0, np.int64)
        return Cells(song.length, empty, empty, empty)
    return Cells(
        song.length, np.concatenate(parts_t), np.concatenate(parts_p), np.concatenate(parts_k)
    )


def dense_song(
    song: Song, track_set: TrackSet, lowest_pitch: int = 0, n_pitches: int = 128
) -> np.ndarray:
    """The whole merged song as bool (length, n_pitches, n_tracks); for checks and small songs."""
    cells = merge_cells(song, track_set, lowest_pitch, n_pitches)
    out = np.zeros((song.length, n_pitches, track_set.n_tracks), dtype=bool)
    out[cells.times, cells.pitches, cells.tracks] = True
    return out


def active_bars(cells: Cells) -> np.ndarray:
    """bool (n complete bars,): whether each bar has any active cell."""
    n_bars = cells.length // STEPS_PER_BAR
    hit = np.zeros(cells.length, dtype=bool)  # per step: no division per cell
    hit[cells.times] = True
    return np.asarray(hit[: n_bars * STEPS_PER_BAR].reshape(n_bars, STEPS_PER_BAR).any(axis=1))


def valid_starts(active: np.ndarray, n_bars: int, allow_silent: bool) -> np.ndarray:
    """bool (number of windows,): which start bars give an allowed window."""
    n_windows = len(active) - n_bars + 1
    if n_windows <= 0:
        return np.zeros(0, dtype=bool)
    if allow_silent:
        return np.ones(n_windows, dtype=bool)
    counts = np.concatenate([[0], np.cumsum(active, dtype=np.int64)])
    return (counts[n_bars:] - counts[:-n_bars]) > 0


class _Packer:
    """Counts how many more disjoint valid windows fit in the bars left free by chosen ones."""

    def __init__(self, valid: np.ndarray, width: int) -> None:
        self.width = width
        self.n_bars = len(valid) + width - 1
        big = len(valid) + self.n_bars + 1
        nxt = np.where(valid, np.arange(len(valid)), big)
        # nxt[t] = first valid start >= t (``big`` when none); one entry per bar plus the end.
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]
        self.next = np.concatenate([nxt, np.full(width + 1, big)]).tolist()

    def _fit(self, lo: int, hi: int, need: int) -> int:
        count, t = 0, lo
        while count < need:
            s = self.next[t]
            if s + self.width > hi:
                break
            count, t = count + 1, s + self.width
        return count

    def room(self, chosen: list[int], need: int) -> int:
        """Disjoint valid windows (at most ``need``) that fit around the ``chosen`` starts."""
        total, lo = 0, 0
        for start in [*sorted(chosen), self.n_bars]:
            total += self._fit(lo, start, need - total)
            lo = start + self.width
            if total >= need:
                break
        return total


def choose_starts(
    valid: np.ndarray, k: int, width: int, allow_overlap: bool, rng: np.random.Generator
) -> list[int]:
    """Up to ``k`` start bars drawn at random among ``valid`` ones, sorted; see module doc."""
    candidates = np.flatnonzero(valid)
    if allow_overlap:
        n = min(k, len(candidates))
        return sorted(int(s) for s in rng.choice(candidates, size=n, replace=False))
    packer = _Packer(valid, width)
    k = min(k, packer.room([], k))
    chosen: list[int] = []
    for start in rng.permutation(candidates).tolist():
        if len(chosen) == k:
            break
        if any(abs(start - c) < width for c in chosen):
            continue
        if packer.room([*chosen, start], k) >= k - len(chosen) - 1:
            chosen.append(start)
    return sorted(chosen)


def song_rng(seed: int, md5: str) -> np.random.Generator:
    """The RNG of one song: seeded from the global seed and the song's md5."""
    return np.random.default_rng(np.random.SeedSequence([seed, int(md5, 16)]))


def densify_windows(
    cells: Cells,
    starts: list[int],
    n_bars: int,
    n_pitches: int,
    n_tracks: int,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """bool (len(starts), n_bars, 96, n_pitches, n_tracks): the windows at ``starts``, each a
    window of complete bars inside the song (as :func:`valid_starts` gives them).

    With ``scratch`` (a C-contiguous bool array of at least that size, e.g. from
    :func:`window_scratch`) the windows are written into it and a view of it is returned, valid
    until the next call: build_tensor compresses each song's windows at once, and a fresh array
    per song cost page faults that took as long as the densifying itself.
    """
    span = n_bars * STEPS_PER_BAR
    shape = (len(starts), span, n_pitches, n_tracks)
    if scratch is None:
        out = np.zeros(shape, dtype=bool)
    else:
        out = scratch.reshape(-1)[: math.prod(shape)].reshape(shape)
        out.fill(False)
    if _disjoint(starts, n_bars):
        # One pass over the cells: each step belongs to at most one window. ``base[t]`` is the
        # flat index in ``out`` of step t's (pitch 0, track 0) cell, -1 outside the windows: one
        # lookup per cell, and one flat index per cell (several times faster than four arrays).
        row = n_pitches * n_tracks
        ramp = np.arange(span, dtype=np.int64) * row
        base = np.full(cells.length, -1, dtype=np.int64)
        for i, start in enumerate(starts):
            base[start * STEPS_PER_BAR : start * STEPS_PER_BAR + span] = ramp + i * span * row
        at = base[cells.times]
        inside = at >= 0
        out.reshape(-1)[at[inside] + cells.pitches[inside] * n_tracks + cells.tracks[inside]] = True
    else:  # overlapping windows (allow_overlap): a cell may fall in several
        for i, start in enumerate(starts):
            t0 = start * STEPS_PER_BAR
            inside = (cells.times >= t0) & (cells.times < t0 + span)
            out[i, cells.times[inside] - t0, cells.pitches[inside], cells.tracks[inside]] = True
    return out.reshape(len(starts), n_bars, STEPS_PER_BAR, n_pitches, n_tracks)


@functools.cache
def window_scratch(n_windows: int, n_bars: int, n_pitches: int, n_tracks: int) -> np.ndarray:
    """This process's reusable buffer for ``densify_windows(..., scratch=...)``."""
    return np.zeros((n_windows, n_bars * STEPS_PER_BAR, n_pitches, n_tracks), dtype=bool)


def _disjoint(starts: list[int], n_bars: int) -> bool:
    ordered = sorted(starts)
    return all(b - a >= n_bars for a, b in zip(ordered, ordered[1:], strict=False))
