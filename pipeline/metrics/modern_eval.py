"""Mode ``modern`` in stage ``evaluate``: streaming means, the features file, the distances.

:class:`ModernAccumulator` takes the phrase statistics of each chunk
(:func:`pipeline.metrics.modern.phrase_statistics`), keeps per-track sums and counts of the five
per-phrase measures and the distance features of every phrase (16 floats a phrase). At the end
:func:`modern_block` gives the ``modern`` block of ``metrics.json``::

    {"mode": "modern", "n_phrases": N, "n_bars": 4N,
     "aggregate": {"pitch_class_entropy": .., "scale_consistency": .., "polyphony": ..,
                   "empty_beat_rate": .., "groove_consistency": ..},
     "per_track": {"drums": {<the 5 measures>}, ...},
     "distances": {"reference": "training_data" | "self", "n_phrases": k, "n_reference": k_ref,
                   "mean_overlap_area": .., "features": {"note_count": {"overlap_area": ..,
                   "kl_divergence": .., "intra_mean": .., ...}, ...}}}

The distances compare a seeded subsample of ``metrics.modern.n_phrases`` phrases of the set with
the training data's subsample, read from the features file that stage ``evaluate`` wrote for the
training data (:func:`features_document`, :func:`read_features`). The training data itself is
compared with a second, disjoint subsample of itself (``"reference": "self"``): its OA is ~1.
The features file holds the first ``n_phrases`` phrases of a permutation seeded by
``metrics.modern.seed``; the self-comparison uses the first and the next ``n_phrases`` of the same
permutation (fewer, half the set each, for a set of less than ``2 * n_phrases``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.config import ModernMetrics
from pipeline.errors import DataError
from pipeline.metrics.aggregate import finite_or_none, nanmean, track_key
from pipeline.metrics.distances import FEATURE_DIMS, FEATURES, phrase_features, set_distances
from pipeline.metrics.modern import MEASURES, PITCHED_ONLY, PhraseStatistics, phrase_measures

FEATURES_FORMAT = "bmusegan-modern-features"
FEATURES_VERSION = 1
Features = dict[str, NDArray[np.float64]]


@dataclass
class ModernAccumulator:
    """Per-track sums and counts of the per-phrase measures, and every phrase's features."""

    n_tracks: int
    drum_track: int
    sums: NDArray[np.float64] = field(init=False)
    counts: NDArray[np.int64] = field(init=False)
    features: dict[str, list[NDArray[np.float64]]] = field(init=False)
    n_phrases: int = 0
    n_bars: int = 0

    def __post_init__(self) -> None:
        self.sums = np.zeros((len(MEASURES), self.n_tracks))
        self.counts = np.zeros((len(MEASURES), self.n_tracks), dtype=np.int64)
        self.features = {name: [] for name in FEATURES}

    def add(self, stats: PhraseStatistics) -> None:
        """Add the statistics of a chunk of phrases."""
        values = phrase_measures(stats, self.drum_track)  # (5, n, T)
        defined = ~np.isnan(values)
        self.sums += np.where(defined, values, 0.0).sum(axis=1)
        self.counts += defined.sum(axis=1)
        for name, value in phrase_features(stats, self.drum_track).items():
            self.features[name].append(value)
        self.n_phrases += int(values.shape[1])
        self.n_bars += int(values.shape[1]) * stats.n_bars

    def means(self) -> NDArray[np.float64]:
        """Mean of each (measure, track) over the phrases where it is defined; NaN if none."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    def all_features(self) -> Features:
        """Every phrase's features, ``{name: (n_phrases, d)}`` in file order."""
        return {
            name: np.concatenate(parts) if parts else np.zeros((0, FEATURE_DIMS[name]))
            for name, parts in self.features.items()
        }


def subsample(features: Features, size: int, seed: int, skip: int = 0) -> Features:
    """Phrases ``skip`` to ``skip + size`` of a permutation seeded by ``seed``, in file order."""
    n = len(features[FEATURES[0]])
    order = np.random.default_rng(seed).permutation(n)
    picked = np.sort(order[skip : skip + size])
    return {name: value[picked] for name, value in features.items()}


def distances_block(acc: ModernAccumulator, cfg: ModernMetrics, reference: Features | None) -> Any:
    """The ``distances`` entry: against ``reference`` (training data), or, when ``reference``
    is None, two disjoint subsamples of the set, of up to ``n_phrases`` and at most half the set
    each; None when either side has fewer than two phrases."""
    features = acc.all_features()
    if reference is None:
        size = min(cfg.n_phrases, acc.n_phrases // 2)
        ref = subsample(features, size, cfg.seed)
        cand = subsample(features, size, cfg.seed, skip=size)
    else:
        ref, cand = reference, subsample(features, cfg.n_phrases, cfg.seed)
    n_ref, n_cand = len(ref[FEATURES[0]]), len(cand[FEATURES[0]])
    if n_ref < 2 or n_cand < 2:
        return None
    per_feature = set_distances(ref, cand, cfg.n_pairs, cfg.seed)
    areas = [v["overlap_area"] for v in per_feature.values()]
    return {
        "reference": "self" if reference is None else "training_data",
        "n_phrases": n_cand,
        "n_reference": n_ref,
        "n_pairs": cfg.n_pairs,
        "mean_overlap_area": finite_or_none(nanmean(areas)),
        "features": {
            name: {key: v if isinstance(v, int) else finite_or_none(v) for key, v in values.items()}
            for name, values in per_feature.items()
        },
    }


def modern_block(
    acc: ModernAccumulator,
    cfg: ModernMetrics,
    track_names: list[str],
    reference: Features | None,
) -> dict[str, Any]:
    """The ``modern`` block of ``metrics.json`` (module docstring); NaN as None."""
    means = acc.means()
    keys = [track_key(name) for name in track_names]
    applies = np.ones_like(means, dtype=bool)
    for m, name in enumerate(MEASURES):
        if name in PITCHED_ONLY and 0 <= acc.drum_track < acc.n_tracks:
            applies[m, acc.drum_track] = False
    aggregate = nanmean(np.where(applies, means, np.nan), axis=1)
    return {
        "mode": "modern",
        "n_phrases": acc.n_phrases,
        "n_bars": acc.n_bars,
        "aggregate": {name: finite_or_none(aggregate[m]) for m, name in enumerate(MEASURES)},
        "per_track": {
            key: {name: finite_or_none(means[m, t]) for m, name in enumerate(MEASURES)}
            for t, key in enumerate(keys)
        },
        "distances": distances_block(acc, cfg, reference),
    }


def features_document(acc: ModernAccumulator | None, cfg: ModernMetrics) -> dict[str, Any]:
    """The features file's content: the set's subsample (None when mode ``modern`` is off)."""
    doc: dict[str, Any] = {"format": FEATURES_FORMAT, "version": FEATURES_VERSION}
    if acc is None:
        doc["features"] = None
        return doc
    own = subsample(acc.all_features(), cfg.n_phrases, cfg.seed)
    doc["n_phrases_total"] = acc.n_phrases
    doc["features"] = {
        name: [[finite_or_none(v) for v in row] for row in value] for name, value in own.items()
    }
    return doc


def read_features(path: str | Path) -> Features:
    """The features of a features file; a missing, damaged or empty one is a ``DataError``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; evaluate the training data first") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not valid JSON (truncated or damaged: {error})") from None
    if not isinstance(doc, dict) or doc.get("format") != FEATURES_FORMAT:
        raise DataError(f"{path}: not a features file of stage evaluate")
    features = doc.get("features")
    if features is None:
        raise DataError(f"{path}: holds no features (written with mode modern off); rerun it")
    out = {}
    for name in FEATURES:
        rows = features.get(name) if isinstance(features, dict) else None
        try:
            value = np.array(
                [[math.nan if v is None else float(v) for v in row] for row in rows or []],
                dtype=np.float64,
            )
        except (TypeError, ValueError):
            raise DataError(f"{path}: feature {name!r} is not a table of numbers") from None
        if value.ndim != 2 or len(value) < 2 or value.shape[1] != FEATURE_DIMS[name]:
            raise DataError(
                f"{path}: feature {name!r} needs at least two phrases of"
                f" {FEATURE_DIMS[name]} numbers"
            )
        out[name] = value
    return out
