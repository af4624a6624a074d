"""A straightforward per-bar, per-track loop implementation of every metric: the test oracle.

It follows the original evaluation step by step (docs/model.md, section 5.2): for each bar and
each track, skip the other metrics if the bar is empty, otherwise compute each metric on that one
(steps, pitches) slice; the tonal distance is computed for every bar. It is deliberately simple and
slow (about the original's speed, ~100 phrases/s); :mod:`pipeline.metrics.engine` must agree with
it, and the benchmark (``benchmarks/bench_metrics.py``) compares the two.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pipeline.config import MetricMode, Metrics
from pipeline.metrics.aggregate import METRICS, metric_map
from pipeline.metrics.chroma import chroma_bins
from pipeline.metrics.tonal import tonal_matrix


def _chroma(roll: NDArray, kind: str, lowest_pitch: int) -> NDArray[np.float64]:
    """(steps, 12) chroma of one bar of one track."""
    bins = chroma_bins(roll.shape[1], kind, lowest_pitch)  # type: ignore[arg-type]
    out = np.zeros((roll.shape[0], 12))
    np.add.at(out.T, bins, roll.T.astype(np.float64))
    return out


def _qualified_note_rate(roll: NDArray, min_steps: int) -> float:
    """Notes are runs in each pitch row: pad the row with silence, find starts and ends."""
    padded = np.pad(roll.astype(np.int8), ((1, 1), (0, 0)))
    change = np.diff(padded, axis=0).T.ravel()  # pitch-major, so runs never mix pitches
    starts, ends = np.flatnonzero(change > 0), np.flatnonzero(change < 0)
    return float(np.sum(ends - starts >= min_steps) / len(starts))


def _drum_pattern_rate(roll: NDArray, drum_filter: list[float], semantics: str) -> float:
    if semantics == "xor":
        previous = np.zeros(roll.shape[1], dtype=bool)
        hits = np.zeros(roll.shape[0])
        for step in range(roll.shape[0]):
            hits[step] = np.sum(roll[step] != previous)
            previous = roll[step]
    else:
        padded = np.concatenate([np.zeros((1, roll.shape[1])), roll.astype(np.float64)])
        hits = np.clip(np.diff(padded, axis=0), 0, None).sum(axis=1)
    period = len(drum_filter)
    tiled = np.array([drum_filter[s % period] for s in range(roll.shape[0])])
    best = 0.0
    for shift in range(period):
        best = max(best, float(np.sum(np.roll(tiled, shift) * hits)))
    return best / float(hits.sum())


def _tonal_distance(
    roll_a: NDArray, roll_b: NDArray, mode: MetricMode, cfg: Metrics, resolution: int, lowest: int
) -> float:
    matrix = tonal_matrix(cfg.tonal_radii)
    distances = []
    for beat in range(roll_a.shape[0] // resolution):
        steps = slice(beat * resolution, (beat + 1) * resolution)
        centroids = []
        for roll in (roll_a, roll_b):
            chroma = _chroma(roll[steps], mode.chroma, lowest).sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                centroids.append(matrix @ (chroma / chroma.sum()))
        distances.append(np.linalg.norm(centroids[0] - centroids[1]))
    return float(np.mean(distances))


def _track_scores(
    roll: NDArray, mode: MetricMode, cfg: Metrics, lowest: int, semantics: str
) -> list[float]:
    """The 7 metrics (METRICS order) of one non-empty bar of one track."""
    active = roll != 0
    chroma = _chroma(active, mode.chroma, lowest).sum(axis=0)
    if semantics == "dtype":
        semantics = "xor" if roll.dtype == bool else "onset"
    return [
        0.0,
        float(np.sum(active.any(axis=0))),
        _qualified_note_rate(active, mode.qualified_min_steps),
        float(np.mean(active.sum(axis=1) >= mode.polyphonic_min_pitches)),
        float(np.sum(chroma * np.asarray(cfg.scale_mask)) / chroma.sum()),
        _drum_pattern_rate(active, cfg.drum_filter, semantics),
        float(np.sum(chroma > 0)),
    ]


def loop_bar_scores(
    bars: NDArray,
    mode: MetricMode,
    cfg: Metrics,
    resolution: int = 24,
    lowest_pitch: int = 24,
    drum_semantics: str | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-bar values by looping over bars and tracks; same outputs as ``engine.bar_scores``.

    Parameters
    ----------
    bars : ndarray, shape (n, n_steps, n_pitches, n_tracks)
        Bool or numeric (non-zero = active).
    drum_semantics : {"onset", "xor", "dtype"}, optional
        Overrides ``mode.drum_semantics``; ``dtype`` reproduces the original's dependence on the
        array dtype (bool = XOR).

    Returns
    -------
    scores : ndarray (7, n_tracks, n)
    tonal : ndarray (n,)
    """
    n_bars, n_tracks = bars.shape[0], bars.shape[-1]
    semantics = drum_semantics or mode.drum_semantics
    applies = metric_map(n_tracks, cfg.drum_track)
    scores = np.full((len(METRICS), n_tracks, n_bars), np.nan)
    tonal = np.full(n_bars, np.nan)
    first, second = cfg.tonal_pair
    for b in range(n_bars):
        for t in range(n_tracks):
            roll = bars[b, :, :, t]
            if not np.any(roll):
                scores[0, t, b] = 1.0
                continue
            values = _track_scores(roll, mode, cfg, lowest_pitch, semantics)
            for m in range(len(METRICS)):
                if applies[m, t]:
                    scores[m, t, b] = values[m]
        roll_a, roll_b = bars[b, :, :, first] != 0, bars[b, :, :, second] != 0
        tonal[b] = _tonal_distance(roll_a, roll_b, mode, cfg, resolution, lowest_pitch)
    return scores, tonal
