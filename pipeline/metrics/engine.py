"""All metrics of a batch of multitrack bars at once, fast: shared statistics, then each mode.

Layout: ``bars`` is bool ``(n_bars, n_steps, n_pitches, n_tracks)`` = (n, 96, 84, 8), the phrase
tensor with phrases and bars merged. Every metric of both modes follows from a few small
statistics, computed in one streaming pass (:func:`bar_statistics`) shared by the modes:

* ``counts[b, s, t]``: active pitches at step ``s`` (PP, EB, and with ``pairs`` the onsets for DP);
* ``windows[j-1][b, t]``: ``W_j``, the number of windows of ``j`` consecutive active steps of one
  pitch within the bar. A note (run) of length L holds ``max(L - j + 1, 0)`` of them, so
  ``W_j - W_{j+1}`` is the number of notes of length >= j and ``W_1 - W_2`` the number of notes:
  QN with threshold k is ``(W_k - W_{k+1}) / (W_1 - W_2)``;
* ``pairs[b, s, t]``: pitches active at both ``s`` and ``s + 1``; onsets at ``s`` are
  ``counts[s] - pairs[s - 1]`` and the bool-XOR changes ``2 onsets[s] + counts[s-1] - counts[s]``;
* ``beat_pitch[b, k, p, t]``: active steps of pitch ``p`` in beat ``k`` (TD), and its sum over
  the beats ``bar_pitch[b, t, p]`` (UP, and through a chroma map IS and NCU).

The pass is SWAR ("SIMD within a register"): the 8 tracks of one (step, pitch) cell are 8
adjacent bytes, each 0 or 1, so the bool tensor viewed as ``uint64`` holds one cell of all 8
tracks per word. Adding words adds the 8 tracks' counts byte-wise without carries as long as a
count stays below 256 (at most 96 here), and AND of words is the per-track AND of cells. So a
sum over pitches or over a beat is one NumPy reduction over 8-byte words for all tracks, and the
result viewed back as bytes is the per-track count. Bars are processed in blocks of a few dozen so
that the temporaries stay in cache; the Python loop runs over blocks, never over bars or tracks.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.config import MetricMode, Metrics
from pipeline.metrics.aggregate import METRICS, metric_map
from pipeline.metrics.chroma import chroma_matrix
from pipeline.metrics.intra_track import drum_grid
from pipeline.metrics.tonal import beat_centroids

BLOCK_BARS = 16  # bars per block: 16 x 96 x 84 x 8 bytes = 1 MiB, cache-sized temporaries


@dataclass(frozen=True)
class BarStatistics:
    """The sufficient statistics of a batch of bars (see the module docstring)."""

    counts: NDArray[np.uint8]  # (n, steps, tracks): active pitches per step
    pairs: NDArray[np.uint8]  # (n, steps - 1, tracks): pitches active at s and s + 1
    windows: list[NDArray[np.int64]]  # W_1 .. W_K, each (n, tracks)
    beat_pitch: NDArray[np.uint8]  # (n, beats, pitches, tracks): active steps per beat
    bar_pitch: NDArray[np.uint8]  # (n, tracks, pitches): active steps per bar

    @property
    def n_bars(self) -> int:
        return int(self.counts.shape[0])


def pack_tracks(bars: NDArray) -> tuple[NDArray[np.uint64], int]:
    """Bool bars (n, S, P, T) as uint64 words (n, S, P, G), 8 tracks per word; also T."""
    x = np.asarray(bars)
    if x.dtype != bool:
        x = x != 0
    n_tracks = x.shape[-1]
    pad = -n_tracks % 8
    if pad:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], pad), dtype=bool)], axis=-1)
    x = np.ascontiguousarray(x)
    return x.view(np.uint64), n_tracks


_LOW_BYTES = np.uint64(0x00FF00FF00FF00FF)


def byte_totals(x: NDArray) -> NDArray[np.int64]:
    """Sum a (n, S, T) uint8/bool array over axis 1, giving (n, T) int64.

    Fast path (SWAR again): 8 tracks per uint64 word, the even and the odd bytes moved into
    16-bit lanes, so up to 257 steps of bytes add without carries.
    """
    n, n_steps, n_tracks = x.shape
    if sys.byteorder != "little" or n_tracks % 8 or n_steps > 257 or not x.flags.c_contiguous:
        return x.sum(axis=1, dtype=np.int64)
    words = x.view(np.uint64)  # (n, S, T / 8)
    out = np.empty((n, n_tracks), np.int64)
    out[:, 0::2] = np.add.reduce(words & _LOW_BYTES, axis=1).view(np.uint16)
    out[:, 1::2] = np.add.reduce((words >> np.uint64(8)) & _LOW_BYTES, axis=1).view(np.uint16)
    return out


def unpack_counts(words: NDArray[np.uint64], n_tracks: int) -> NDArray[np.uint8]:
    """Byte-packed per-track counts (..., G) uint64 back to (..., n_tracks) uint8."""
    return words.view(np.uint8).reshape(*words.shape[:-1], -1)[..., :n_tracks]


def _word_sums(
    words: NDArray[np.uint64],
    rows: range,
    resolution: int,
    out: dict[str, NDArray[np.uint64]],
    block: int,
) -> None:
    """Fill the word-level sums of the bars ``rows`` into ``out``, ``block`` bars at a time."""
    _, n_steps, n_pitches, n_words = words.shape
    n_beats = n_steps // resolution
    window_lengths = sorted(int(key[1:]) for key in out if key.startswith("w"))
    buffers = {
        j: np.empty((block, n_steps - j + 1, n_pitches, n_words), np.uint64) for j in window_lengths
    }
    for start in range(rows.start, rows.stop, block):
        x = words[start : min(start + block, rows.stop)]  # (b, S, P, G)
        b, part = x.shape[0], slice(start, start + x.shape[0])
        np.add.reduce(x, axis=2, out=out["counts"][part])
        beats = x[:, : n_beats * resolution].reshape(b, n_beats, resolution, n_pitches, n_words)
        np.add.reduce(beats, axis=2, out=out["beats"][part])
        run = x
        for j in window_lengths:  # run[s] = x[s] & x[s+1] & ... & x[s+j-1]
            np.bitwise_and(run[:, :-1], x[:, j - 1 :], out=buffers[j][:b])
            run = buffers[j][:b]
            np.add.reduce(run, axis=2, out=out[f"w{j}"][part])


def bar_statistics(
    bars: NDArray,
    max_window: int = 4,
    resolution: int = 24,
    block: int = BLOCK_BARS,
    threads: int = 1,
) -> BarStatistics:
    """Compute :class:`BarStatistics` of ``bars`` (n, n_steps, n_pitches, n_tracks).

    ``max_window`` is the longest window ``W_j`` needed: QN with threshold k needs k + 1. Any
    non-zero entry counts as active. ``threads`` > 1 splits the bars between threads (NumPy
    releases the GIL in its loops). Memory: about 3 bytes per (bar, step, track) plus the beat
    counts, plus cache-sized temporaries.
    """
    if bars.ndim != 4:
        raise ValueError(f"bars must be (n, steps, pitches, tracks), got shape {bars.shape}")
    words, n_tracks = pack_tracks(bars)
    n, n_steps, n_pitches, n_words = words.shape
    n_beats = n_steps // resolution
    out = {
        "counts": np.empty((n, n_steps, n_words), np.uint64),
        "beats": np.empty((n, n_beats, n_pitches, n_words), np.uint64),
    }
    lengths = range(2, max(2, min(max_window, n_steps)) + 1)
    for j in lengths:
        out[f"w{j}"] = np.empty((n, n_steps - j + 1, n_words), np.uint64)
    threads = max(1, min(threads, n // block))
    bounds = [n * i // threads for i in range(threads + 1)]
    parts = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if threads == 1:
        _word_sums(words, parts[0], resolution, out, block)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda rows: _word_sums(words, rows, resolution, out, block), parts))
    counts = unpack_counts(out["counts"], n_tracks)
    windows = [byte_totals(counts)]
    windows += [byte_totals(unpack_counts(out[f"w{j}"], n_tracks)) for j in lengths]
    beats_per_bar = np.add.reduce(out["beats"], axis=1)
    bar_pitch = unpack_counts(beats_per_bar, n_tracks)  # (n, P, T), at most 96
    return BarStatistics(
        counts=counts,
        pairs=unpack_counts(out["w2"], n_tracks),
        windows=windows,
        beat_pitch=unpack_counts(out["beats"], n_tracks),
        bar_pitch=np.ascontiguousarray(bar_pitch.transpose(0, 2, 1)),
    )


def drum_hits(stats: BarStatistics, track: int, semantics: str) -> NDArray[np.int64]:
    """Drum hits per step (n, steps) of one track: onsets, or all changes (``xor``)."""
    counts = stats.counts[..., track].astype(np.int64)
    previous = np.zeros_like(counts)
    previous[:, 1:] = counts[:, :-1]
    onsets = counts.copy()
    onsets[:, 1:] -= stats.pairs[..., track]
    if semantics == "onset":
        return onsets
    if semantics == "xor":
        return 2 * onsets + previous - counts
    raise ValueError(f"unknown drum semantics {semantics!r}")


def _ratio(numerator: NDArray, denominator: NDArray) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _chroma_of(counts: NDArray, matrix: NDArray[np.float32]) -> NDArray[np.float64]:
    """Chroma (..., 12) of per-pitch counts (..., P), as one float32 matrix product (exact)."""
    flat = np.ascontiguousarray(counts, dtype=np.float32).reshape(-1, counts.shape[-1])
    return (flat @ matrix).reshape(*counts.shape[:-1], -1).astype(np.float64)


def bar_scores(
    stats: BarStatistics, mode: MetricMode, cfg: Metrics, lowest_pitch: int = 24
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-bar values of one mode: ``scores`` (7, n_tracks, n) in :data:`METRICS` order, and
    ``tonal`` (n,), the tonal distance of ``cfg.tonal_pair``. NaN marks undefined values: empty
    bars (all but EB), tracks a metric does not apply to, bars with a silent beat (TD)."""
    n, n_steps, n_tracks = stats.counts.shape
    k = mode.qualified_min_steps
    if k + 1 > len(stats.windows):
        raise ValueError(f"statistics hold windows up to {len(stats.windows)}, QN needs {k + 1}")
    matrix = chroma_matrix(stats.bar_pitch.shape[-1], mode.chroma, lowest_pitch)
    bar_chroma = _chroma_of(stats.bar_pitch, matrix.astype(np.float32))  # (n, T, 12)
    cells, windows = stats.windows[0], stats.windows
    hits = drum_hits(stats, cfg.drum_track, mode.drum_semantics)
    drum_score = (hits @ drum_grid(cfg.drum_filter, n_steps)).max(axis=1)
    drum_rate = np.full((n, n_tracks), np.nan)
    drum_rate[:, cfg.drum_track] = _ratio(drum_score, hits.sum(axis=1))
    polyphonic = byte_totals(stats.counts >= mode.polyphonic_min_pitches)
    per_metric = {
        "empty_bar_rate": cells == 0,
        "n_pitches_used": np.count_nonzero(stats.bar_pitch, axis=2),
        "qualified_note_rate": _ratio(windows[k - 1] - windows[k], cells - windows[1]),
        "polyphonicity": polyphonic / n_steps,
        "in_scale_rate": _ratio(
            bar_chroma @ np.asarray(cfg.scale_mask, dtype=np.float64), bar_chroma.sum(axis=2)
        ),
        "drum_pattern_rate": drum_rate,
        "n_chroma_used": np.count_nonzero(bar_chroma, axis=2),
    }
    scores = np.empty((len(METRICS), n_tracks, n))  # (7, T, n)
    for m, name in enumerate(METRICS):
        scores[m] = np.asarray(per_metric[name], dtype=np.float64).T
    scores[1:, (cells == 0).T] = np.nan  # only EB is defined for an empty bar
    scores[~metric_map(n_tracks, cfg.drum_track)] = np.nan
    return scores, pair_tonal_distance(stats, mode, cfg, lowest_pitch)


def pair_tonal_distance(
    stats: BarStatistics, mode: MetricMode, cfg: Metrics, lowest_pitch: int = 24
) -> NDArray[np.float64]:
    """Tonal distance (n,) of the track pair ``cfg.tonal_pair`` from the beat statistics."""
    matrix = chroma_matrix(stats.beat_pitch.shape[2], mode.chroma, lowest_pitch)
    centroids = [
        beat_centroids(
            _chroma_of(stats.beat_pitch[..., track], matrix.astype(np.float32)), cfg.tonal_radii
        )
        for track in cfg.tonal_pair
    ]  # each (n, beats, 6)
    return np.linalg.norm(centroids[0] - centroids[1], axis=-1).mean(axis=-1)
