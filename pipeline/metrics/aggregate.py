"""From per-bar values to the paper's numbers (docs/model.md, section 5.6).

The original code stores, per evaluated set, ``score_matrix_mean`` (7 metrics x 8 tracks: the
mean of every per-bar metric over the bars where it is defined, i.e. the non-empty bars) and the
Piano-Guitar tonal distance averaged over the bars where it is defined. A table value is the
unweighted ``nanmean`` over tracks of one row of ``score_matrix_mean``: tracks that never play are
NaN and skipped, and the mean is not weighted by bar counts. Which tracks a metric applies to is
``metric_map`` (docs/model.md, section 5.2): EB and pitches used all tracks; QN, PP, in-scale rate
and chroma used the non-drum tracks; DP only drums.

Streaming: :class:`Accumulator` keeps per-track sums and counts, so the means over a file read in
chunks equal those over the whole file at once.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Row order of score_matrix_mean, as in the original code and original_eval.json.
METRICS = (
    "empty_bar_rate",
    "n_pitches_used",
    "qualified_note_rate",
    "polyphonicity",
    "in_scale_rate",
    "drum_pattern_rate",
    "n_chroma_used",
)
TONAL_DISTANCE = "tonal_distance"
AGGREGATE_KEYS = (*METRICS, TONAL_DISTANCE)
ALL_TRACKS = ("empty_bar_rate", "n_pitches_used")
DRUMS_ONLY = ("drum_pattern_rate",)


def metric_map(n_tracks: int, drum_track: int = 0) -> NDArray[np.bool_]:
    """Which (metric, track) cells are defined, shape (7, n_tracks) (original ``metric_map``)."""
    is_drum = np.arange(n_tracks) == drum_track
    rows = []
    for name in METRICS:
        if name in ALL_TRACKS:
            rows.append(np.ones(n_tracks, dtype=bool))
        elif name in DRUMS_ONLY:
            rows.append(is_drum)
        else:
            rows.append(~is_drum)
    return np.stack(rows)


def nanmean(values: ArrayLike, axis: int | None = None) -> Any:
    """``np.nanmean`` that returns NaN for an all-NaN slice without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(np.asarray(values, dtype=np.float64), axis=axis)


def aggregate(
    score_matrix_mean: ArrayLike, tonal_distance: float, drum_track: int = 0
) -> dict[str, float]:
    """The table numbers of every metric from a (7, n_tracks) ``score_matrix_mean`` and TD.

    Each metric's value is the unweighted mean over the tracks it applies to (``metric_map``)
    that are not NaN; TD is passed through. Keys: :data:`AGGREGATE_KEYS`.
    """
    matrix = np.array(score_matrix_mean, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(METRICS):
        raise ValueError(f"score_matrix_mean must be (7, n_tracks), got {matrix.shape}")
    matrix[~metric_map(matrix.shape[1], drum_track)] = np.nan
    means = nanmean(matrix, axis=1)
    out = {name: float(value) for name, value in zip(METRICS, means, strict=True)}
    out[TONAL_DISTANCE] = float(tonal_distance)
    return out


def table_numbers(
    score_matrix_mean: ArrayLike, tonal_distance: float, drum_track: int = 0
) -> dict[str, float]:
    """The three columns of paper Tables 1 and 2: ``{"QN", "PP", "TD"}`` (full precision)."""
    means = aggregate(score_matrix_mean, tonal_distance, drum_track)
    return {
        "QN": means["qualified_note_rate"],
        "PP": means["polyphonicity"],
        "TD": means[TONAL_DISTANCE],
    }


def round_significant(value: float, digits: int = 2) -> float:
    """Round to ``digits`` significant digits (how the paper prints TD: 1.0265 -> 1.0)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def as_printed(numbers: dict[str, float]) -> dict[str, float]:
    """QN and PP to 2 decimals and TD to 2 significant digits, as the paper prints them."""
    return {
        "QN": round(numbers["QN"], 2),
        "PP": round(numbers["PP"], 2),
        "TD": round_significant(numbers["TD"], 2),
    }


@dataclass
class Accumulator:
    """Per-track sums and counts of per-bar values, for streaming over chunks of bars."""

    n_tracks: int
    sums: NDArray[np.float64] = field(init=False)
    counts: NDArray[np.int64] = field(init=False)
    td_sum: float = 0.0
    td_count: int = 0
    n_bars: int = 0

    def __post_init__(self) -> None:
        self.sums = np.zeros((len(METRICS), self.n_tracks))
        self.counts = np.zeros((len(METRICS), self.n_tracks), dtype=np.int64)

    def add(self, scores: NDArray[np.float64], tonal: NDArray[np.float64]) -> None:
        """Add per-bar ``scores`` (7, n_tracks, n_bars) and ``tonal`` (n_bars,); NaN = undefined."""
        defined = ~np.isnan(scores)
        self.sums += np.where(defined, scores, 0.0).sum(axis=-1)
        self.counts += defined.sum(axis=-1)
        td_defined = ~np.isnan(tonal)
        self.td_sum += float(tonal[td_defined].sum())
        self.td_count += int(td_defined.sum())
        self.n_bars += int(tonal.shape[0])

    def score_matrix_mean(self) -> NDArray[np.float64]:
        """Mean of each (metric, track) over the bars where it is defined; NaN if none."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    def tonal_distance(self) -> float:
        """Mean TD over the bars where it is defined; NaN if none."""
        return self.td_sum / self.td_count if self.td_count else math.nan


def track_key(name: str) -> str:
    """A track name as a lower-case snake key: "Synth Lead" -> "synth_lead"."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def finite_or_none(value: float) -> float | None:
    """A float for JSON: NaN and infinities become None (JSON null)."""
    value = float(value)
    return value if math.isfinite(value) else None


def mode_block(
    acc: Accumulator, mode: str, n_phrases: int, track_names: list[str], drum_track: int = 0
) -> dict[str, Any]:
    """One mode's block of ``metrics.json``: counts, aggregate and per-track values (NaN = None)."""
    matrix = acc.score_matrix_mean()
    matrix[~metric_map(acc.n_tracks, drum_track)] = np.nan
    means = aggregate(matrix, acc.tonal_distance(), drum_track)
    keys = [track_key(name) for name in track_names]
    if len(set(keys)) != len(keys):
        raise ValueError(f"track names do not give distinct keys: {track_names}")
    return {
        "mode": mode,
        "n_phrases": int(n_phrases),
        "n_bars": int(acc.n_bars),
        "aggregate": {key: finite_or_none(means[key]) for key in AGGREGATE_KEYS},
        "per_track": {
            key: {name: finite_or_none(matrix[m, t]) for m, name in enumerate(METRICS)}
            for t, key in enumerate(keys)
        },
    }
