"""The learning score: has a model learned the training data, as an untrained or broken one has not?

A set of generated phrases is measured beside a set of training phrases (``set_measures``) and
judged against :data:`CRITERIA` (``judge``). Each criterion is written here with its limit and the
reason for it. Together they are built so that none of these passes:

* an untrained model (a fresh G's sigmoid outputs sit near 0.5, so about half of all cells are
  on after thresholding; a fresh DBN refiner outputs almost all ones);
* an all-empty set (what the faithful stage one makes for its first few hundred iterations);
* independent random cells at the data's density per track (notes of one step, no structure);
* a set much denser than the data (every track sounding ten times as many cells);
* one phrase, or a few phrases, repeated (mode collapse);

while the training data itself passes. The paper's metrics alone cannot tell: the issue that
asked for this score found a model with the data's EB, QN and PP whose tracks each sounded 10% of
their cells (the data: 0.2% to 2.6%).

The measures:

* ``empty_bar_rate``, ``qualified_note_rate``, ``polyphonicity``, ``tonal_distance``: the paper's
  aggregate metrics in mode ``paper`` (docs/model.md, section 5; :mod:`pipeline.metrics.evaluator`);
* ``density``: the fraction of active cells per track, and ``density_error``, the mean over tracks
  of ``|ln(density / data density)|``, a silent track counting as a thousand times too sparse;
* ``overlap_area``: the Yang & Lerch overlapped area against a second, disjoint set of training
  phrases, averaged over the five features, an undefined feature counting as no overlap
  (:mod:`pipeline.metrics.distances`);
* ``distinct``: the fraction of phrases that differ from every other phrase of the set;
* ``nearest_neighbour_distance``: the median over the set's phrases of the Jaccard distance
  ``1 - |a & b| / |a | b|`` between a phrase's active cells and those of the nearest other phrase
  of the set (two empty phrases are at distance 0), and ``diversity``, that distance over the
  data's. A set of copies, or near-copies, of a few phrases has every phrase next to a copy.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.config import Metrics
from pipeline.metrics.distances import phrase_features, set_distances
from pipeline.metrics.evaluator import evaluate_phrases
from pipeline.metrics.modern import phrase_statistics

PAPER_MEASURES = ("empty_bar_rate", "qualified_note_rate", "polyphonicity", "tonal_distance")
SILENT_RATIO = 1e-3  # a silent track's density counts as this fraction of the data's
N_PAIRS = 20_000  # distance pairs of the overlapped area, per feature and distribution


@dataclass(frozen=True)
class Criterion:
    """One pass condition: ``measure`` compared by ``op`` with ``limit``."""

    measure: str
    op: str  # ">=" or "<="
    limit: float
    reason: str

    def passes(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        return value >= self.limit if self.op == ">=" else value <= self.limit


CRITERIA = (
    Criterion(
        "empty_bar_rate",
        "<=",
        0.9,
        "mostly silence is not music: an all-empty set scores 1.0; the data about 0.55 and "
        "every model of the paper 0.02 to 0.62 (mean over the 8 tracks)",
    ),
    Criterion(
        "qualified_note_rate",
        ">=",
        0.25,
        "notes must last: independent random cells are notes of one step (QN near 0); the data "
        "scores about 0.88 and the paper's models 0.28 to 0.78 (its noisiest, joint SBN, 0.18)",
    ),
    Criterion(
        "density_error",
        "<=",
        math.log(3.0),
        "each track must sound about as often as in the data: within a factor of 3 on average "
        "over the tracks (a set ten times denser scores ln 10 = 2.3; a set where half the tracks "
        "are silent scores over 3.4; an untrained G, about half of all cells, over 3.5)",
    ),
    Criterion(
        "overlap_area",
        ">=",
        0.5,
        "the phrases' note count, pitch count, pitch range, pitch classes and onset intervals "
        "must be distributed like the data's: training data against training data scores about "
        "0.9, an all-empty set about 0.25, random cells about 0.3",
    ),
    Criterion(
        "distinct",
        ">=",
        0.9,
        "one phrase repeated is not a generator: a set of k distinct phrases among n scores k/n "
        "(at most; the data: 1.0)",
    ),
    Criterion(
        "diversity",
        ">=",
        0.5,
        "each phrase must be at least half as far from its nearest neighbour in the set as a "
        "data phrase is from its own (median Jaccard distance, over the data's): copies or "
        "near-copies of a few phrases are next to each other (0)",
    ),
)


def density(phrases: NDArray) -> NDArray[np.float64]:
    """Fraction of active cells per track, (tracks,)."""
    return np.asarray(phrases, dtype=bool).mean(axis=(0, 1, 2, 3), dtype=np.float64)


def density_error(own: NDArray, data: NDArray) -> float:
    """Mean over tracks of ``|ln(own / data)|``; a silent track counts as ``SILENT_RATIO``.

    Tracks the data never sounds are left out (their ratio is undefined).
    """
    sounding = data > 0
    ratio = np.maximum(own[sounding], data[sounding] * SILENT_RATIO) / data[sounding]
    return float(np.abs(np.log(ratio)).mean())


def distinct_fraction(phrases: NDArray) -> float:
    """The fraction of phrases that appear once in the set (identical phrases count once)."""
    packed = np.packbits(np.asarray(phrases, dtype=bool).reshape(len(phrases), -1), axis=1)
    counts = Counter(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in packed)
    return sum(1 for c in counts.values() if c == 1) / len(phrases)


def jaccard_distances(phrases: NDArray, chunk: int = 16_384) -> NDArray[np.float64]:
    """(n, n) Jaccard distances ``1 - |a & b| / |a | b|`` between the phrases' active cells.

    Two empty phrases are at distance 0. The intersections are one matrix product of the
    flattened phrases, in chunks of ``chunk`` cells (n x chunk floats at a time).
    """
    flat = np.asarray(phrases, dtype=bool).reshape(len(phrases), -1)
    both = np.zeros((len(flat), len(flat)))
    for start in range(0, flat.shape[1], chunk):
        part = flat[:, start : start + chunk].astype(np.float32)
        both += part @ part.T  # exact: counts below 2**24 per chunk
    sizes = flat.sum(axis=1, dtype=np.int64).astype(np.float64)
    either = sizes[:, None] + sizes[None, :] - both
    return np.where(either > 0, 1.0 - both / np.maximum(either, 1.0), 0.0)


def nearest_neighbour_distance(phrases: NDArray) -> float:
    """The median over phrases of the Jaccard distance to the nearest other phrase of the set."""
    if len(phrases) < 2:
        return math.nan
    distances = jaccard_distances(phrases)
    np.fill_diagonal(distances, np.inf)
    return float(np.median(distances.min(axis=1)))


def features_of(phrases: NDArray, drum_track: int) -> dict[str, NDArray[np.float64]]:
    """The Yang & Lerch features of every phrase (:func:`distances.phrase_features`)."""
    return phrase_features(phrase_statistics(np.asarray(phrases, dtype=bool)), drum_track)


def set_measures(
    phrases: NDArray,
    reference: NDArray,
    cfg: Metrics,
    track_names: Sequence[str],
    seed: int = 0,
) -> dict[str, Any]:
    """Every measure of the module docstring for bool ``phrases`` (n, 4, 96, 84, T).

    ``reference`` is a set of training phrases, disjoint from the data set the result is judged
    beside: the overlapped area compares ``phrases`` with it, and the density error with its
    densities. ``diversity`` is filled in by :func:`judge`, which knows the data's distance.
    """
    paper = evaluate_phrases(phrases, cfg, "paper", track_names)["aggregate"]
    own, data = density(phrases), density(reference)
    ref_features = features_of(reference, cfg.drum_track)
    per_feature = set_distances(ref_features, features_of(phrases, cfg.drum_track), N_PAIRS, seed)
    return {
        **{name: paper.get(name) for name in PAPER_MEASURES},
        "density": {name: float(d) for name, d in zip(track_names, own, strict=True)},
        "density_error": density_error(own, data),
        "overlap_area": float(np.mean([v["overlap_area"] for v in per_feature.values()])),
        "overlap_area_per_feature": {k: v["overlap_area"] for k, v in per_feature.items()},
        "distinct": distinct_fraction(phrases),
        "nearest_neighbour_distance": nearest_neighbour_distance(phrases),
    }


def judge(measures: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each criterion's value, limit and verdict for ``measures`` beside the data's ``data``.

    Also sets ``measures["diversity"]``, the nearest-neighbour distance over the data's.
    """
    nearest = measures["nearest_neighbour_distance"]
    measures["diversity"] = nearest / data["nearest_neighbour_distance"]
    return [
        {
            "measure": c.measure,
            "value": measures[c.measure],
            "op": c.op,
            "limit": c.limit,
            "passed": c.passes(measures[c.measure]),
            "reason": c.reason,
        }
        for c in CRITERIA
    ]


def passed(verdicts: list[dict[str, Any]]) -> bool:
    """True when every criterion passed."""
    return all(v["passed"] for v in verdicts)
