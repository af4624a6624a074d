"""Yang & Lerch overlapped-area distances between a phrase set and the training data.

Yang & Lerch (2020, "On the evaluation of generative models in music", Neural Computing and
Applications 32) compare two sets feature by feature: the **intra-set** distances (between phrases
of the training data) and the **inter-set** distances (between a phrase of the evaluated set and
one of the training data) are each smoothed into a density by a Gaussian kernel density estimate;
the **overlapped area** (OA) of the two densities is 1 when the set is distributed like the
training data and falls towards 0 as it departs; the Kullback-Leibler divergence (KLD) of the
intra-set density from the inter-set one grows as it departs.

Our choices (docs/metrics.md): the features are computed per four-bar phrase over the non-drum
tracks (:func:`phrase_features`); distances are absolute differences of scalars and Euclidean
distances of the pitch-class histogram; ``n_pairs`` random pairs per distribution, drawn with a
seeded generator instead of all pairs; Scott's bandwidth (``std * n ** (-1/5)``, what
``scipy.stats.gaussian_kde`` uses by default, as did the paper's toolbox), at least 1/400 of the
distances' range; both densities evaluated on one grid of :data:`GRID_POINTS` points spanning the
two samples' range and four bandwidths beyond (each density by linear binning onto the
grid and one convolution, :func:`binned_kde`; :func:`kde` is the exact sum it approximates),
integrated with the trapezoid rule, in NumPy only. A pair whose distance is undefined (a phrase
without the feature) is an outcome of its own, so an undefined feature counts as no overlap
(:func:`overlap`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeline.metrics.modern import PhraseStatistics, pitch_class_histogram

FEATURES = (
    "note_count",
    "pitch_count",
    "pitch_range",
    "pitch_class_histogram",
    "inter_onset_interval",
)
FEATURE_DIMS = {name: 12 if name == "pitch_class_histogram" else 1 for name in FEATURES}
GRID_POINTS = 2048
MIN_BANDWIDTH_FRACTION = 1 / 400  # of the distances' range: a floor for a degenerate sample
KDE_CHUNK = 1024  # samples per chunk of the density sum (bounds memory to chunk x grid)
KL_FLOOR = 1e-12  # probability floor of the inter-set density in the KLD


def phrase_features(stats: PhraseStatistics, drum_track: int) -> dict[str, NDArray[np.float64]]:
    """Per-phrase features of the non-drum tracks together, each (n, d), NaN where undefined.

    * ``note_count`` (d = 1): notes in the phrase (Yang & Lerch NC);
    * ``pitch_count`` (1): distinct pitches used (PC);
    * ``pitch_range`` (1): highest minus lowest pitch used, semitones (PR); NaN without notes;
    * ``pitch_class_histogram`` (12): notes per pitch class, normalised (PCH); NaN without notes;
    * ``inter_onset_interval`` (1): mean interval in beats between successive onset steps of
      the merged tracks (IOI; the mean of successive differences is (last - first) / (k - 1));
      NaN with fewer than two onset steps.
    """
    n_tracks = stats.notes.shape[-1]
    pitched = np.arange(n_tracks) != drum_track
    notes = stats.notes[..., pitched].sum(axis=-1, dtype=np.int64)  # (n, P)
    used = notes > 0
    n_notes = notes.sum(axis=1)
    has = n_notes > 0
    pitch_index = np.arange(notes.shape[1])
    highest = np.where(used, pitch_index, -1).max(axis=1)
    lowest = np.where(used, pitch_index, notes.shape[1]).min(axis=1)
    hist = pitch_class_histogram(stats)[:, pitched].sum(axis=1)  # (n, 12)
    with np.errstate(invalid="ignore", divide="ignore"):
        hist = np.where(has[:, None], hist / np.maximum(n_notes, 1)[:, None], np.nan)
    onset_steps = np.asarray(stats.onsets[..., pitched].any(axis=-1))  # (n, S)
    k = onset_steps.sum(axis=1)
    first = onset_steps.argmax(axis=1)
    last = onset_steps.shape[1] - 1 - onset_steps[:, ::-1].argmax(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ioi = np.where(k > 1, (last - first) / np.maximum(k - 1, 1) / stats.resolution, np.nan)
    return {
        "note_count": n_notes[:, None].astype(np.float64),
        "pitch_count": used.sum(axis=1)[:, None].astype(np.float64),
        "pitch_range": np.where(has, highest - lowest, np.nan)[:, None],
        "pitch_class_histogram": hist,
        "inter_onset_interval": ioi[:, None],
    }


def pair_distances(a: NDArray, b: NDArray, i: NDArray, j: NDArray) -> NDArray[np.float64]:
    """Euclidean distances between rows ``a[i]`` and ``b[j]`` (absolute difference for d = 1),
    leaving out pairs where either row is undefined (NaN)."""
    diff = np.asarray(a, dtype=np.float64)[i] - np.asarray(b, dtype=np.float64)[j]
    dist = np.sqrt(np.square(diff).sum(axis=1))
    return dist[~np.isnan(dist)]


def draw_pairs(
    n_a: int, n_b: int | None, n_pairs: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``n_pairs`` random index pairs: within one set of ``n_a`` (``n_b`` None: never a phrase
    with itself) or across two sets of ``n_a`` and ``n_b``."""
    i = rng.integers(0, n_a, size=n_pairs)
    if n_b is None:
        if n_a < 2:
            raise ValueError("intra-set distances need at least two phrases")
        j = (i + rng.integers(1, n_a, size=n_pairs)) % n_a
    else:
        j = rng.integers(0, n_b, size=n_pairs)
    return i, j


def scott_bandwidth(samples: ArrayLike) -> float:
    """Scott's rule for one dimension: the sample standard deviation (ddof 1) times n^(-1/5)."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 2:
        return 0.0
    return float(x.std(ddof=1) * len(x) ** (-1 / 5))


def kde(samples: ArrayLike, grid: NDArray[np.float64], bandwidth: float) -> NDArray[np.float64]:
    """Gaussian kernel density of ``samples`` with ``bandwidth`` evaluated at ``grid``."""
    x = np.asarray(samples, dtype=np.float64)
    density = np.zeros_like(grid)
    for start in range(0, len(x), KDE_CHUNK):
        z = (grid[None, :] - x[start : start + KDE_CHUNK, None]) / bandwidth
        density += np.exp(-0.5 * z * z).sum(axis=0)
    return density / (len(x) * bandwidth * math.sqrt(2 * math.pi))


def binned_kde(
    samples: ArrayLike, grid: NDArray[np.float64], bandwidth: float
) -> NDArray[np.float64]:
    """:func:`kde` on a uniform ``grid`` in O(grid) time: the samples are split linearly between
    their two nearest grid points, then the weights are convolved with the Gaussian sampled at
    the grid spacing. The error is of order (spacing / bandwidth)^2 relative to the density."""
    x = np.asarray(samples, dtype=np.float64)
    n_grid, step = len(grid), float(grid[1] - grid[0])
    position = np.clip((x - grid[0]) / step, 0, n_grid - 1)
    left = np.minimum(np.floor(position).astype(np.int64), n_grid - 2)
    frac = position - left
    weights = np.bincount(left, 1 - frac, n_grid) + np.bincount(left + 1, frac, n_grid)
    reach = min(int(math.ceil(6 * bandwidth / step)), n_grid - 1)
    offsets = np.arange(-reach, reach + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    density = np.convolve(weights, kernel)[reach : reach + n_grid]
    return density / (len(x) * bandwidth * math.sqrt(2 * math.pi))


def overlap(
    intra: ArrayLike, inter: ArrayLike, intra_defined: float = 1.0, inter_defined: float = 1.0
) -> dict[str, float]:
    """Overlapped area and KL divergence of the KDEs of two distance samples (module docstring).

    Returns ``{"overlap_area", "kl_divergence"}``. The densities are integrated over the two
    samples' range and four bandwidths beyond, so that the whole of both kernel densities
    counts; Yang & Lerch's toolbox (mgeval ``overlap_area``) integrates over ``[min, max]``
    only, which cuts off up to half a kernel at each end and gives identical samples an area
    below 1 (docs/metrics.md). Two constant samples at the same value overlap fully.

    ``intra_defined`` and ``inter_defined`` are the fractions of the drawn pairs whose distance
    is defined (both phrases have the feature); the rest is an "undefined" outcome that the two
    distributions share only as far as both have it. So the area is the overlap of the
    densities scaled by those fractions plus ``min(1 - intra_defined, 1 - inter_defined)``: a
    set whose phrases never have the feature (an all-empty set's pitch range) overlaps the
    training data by ``1 - intra_defined``, about 0, instead of being left out. With fewer than
    two defined values on a side, only that shared undefined part counts. KLD is over the
    defined distances only; NaN with fewer than two on a side.
    """
    p_samples = np.asarray(intra, dtype=np.float64)
    q_samples = np.asarray(inter, dtype=np.float64)
    undefined_shared = min(1.0 - intra_defined, 1.0 - inter_defined)
    if len(p_samples) < 2 or len(q_samples) < 2:
        return {"overlap_area": undefined_shared, "kl_divergence": math.nan}
    low = min(p_samples.min(), q_samples.min())
    high = max(p_samples.max(), q_samples.max())
    if high == low:  # both samples one and the same value: identical point masses
        return {
            "overlap_area": min(intra_defined, inter_defined) + undefined_shared,
            "kl_divergence": 0.0,
        }
    floor = (high - low) * MIN_BANDWIDTH_FRACTION
    h_p = max(scott_bandwidth(p_samples), floor)
    h_q = max(scott_bandwidth(q_samples), floor)
    reach = 4 * max(h_p, h_q)
    grid = np.linspace(low - reach, high + reach, GRID_POINTS)
    p, q = binned_kde(p_samples, grid, h_p), binned_kde(q_samples, grid, h_q)
    area = float(np.trapezoid(np.minimum(intra_defined * p, inter_defined * q), grid))
    p_mass, q_mass = p / p.sum(), np.maximum(q / q.sum(), KL_FLOOR)
    positive = p_mass > 0
    kl = float((p_mass[positive] * np.log(p_mass[positive] / q_mass[positive])).sum())
    return {"overlap_area": min(area + undefined_shared, 1.0), "kl_divergence": max(kl, 0.0)}


def _summary(values: NDArray[np.float64]) -> tuple[float, float]:
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std())


def set_distances(
    reference: Mapping[str, NDArray],
    candidate: Mapping[str, NDArray],
    n_pairs: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Per feature: OA and KLD of the reference's intra-set distances against the
    reference-candidate inter-set distances, with the distances' means and spreads.

    ``reference`` and ``candidate`` map each name of :data:`FEATURES` to (n, d) features. The
    pairs depend only on the set sizes and ``seed``, so every set evaluated against the same
    reference meets the same intra-set distances.
    """
    out = {}
    for f, name in enumerate(FEATURES):
        ref, cand = np.asarray(reference[name]), np.asarray(candidate[name])
        rng = np.random.default_rng([seed, f])
        i, j = draw_pairs(len(ref), None, n_pairs, rng)
        intra = pair_distances(ref, ref, i, j)
        i, j = draw_pairs(len(ref), len(cand), n_pairs, rng)
        inter = pair_distances(ref, cand, i, j)
        intra_mean, intra_std = _summary(intra)
        inter_mean, inter_std = _summary(inter)
        out[name] = {
            **overlap(intra, inter, len(intra) / n_pairs, len(inter) / n_pairs),
            "intra_mean": intra_mean,
            "intra_std": intra_std,
            "inter_mean": inter_mean,
            "inter_std": inter_std,
            "n_intra": int(len(intra)),
            "n_inter": int(len(inter)),
        }
    return out
