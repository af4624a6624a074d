"""Tonal distance of two tracks (paper 4.2 "TD"; docs/model.md, section 5.5; ``get_harmonicity``).

Harte, Sandler and Gasser (2006), "Detecting harmonic change in musical audio", project a
normalised 12-bin chroma onto a 6-D tonal centroid: the circle of fifths, of minor thirds and of
major thirds. The tonal distance of two tracks in one beat is the Euclidean distance of their
centroids; the bar's value is the mean over its beats.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeline.metrics.chroma import ChromaKind, chroma_matrix

DEFAULT_RADII = (1.0, 1.0, 0.5)


def tonal_matrix(radii: Sequence[float] = DEFAULT_RADII) -> NDArray[np.float64]:
    """The 6x12 tonal-centroid matrix (Harte et al. 2006), rows in pairs (sin, cos).

    Bin ``k`` maps to ``r1 (sin, cos)(7 pi k / 6)`` (fifths), ``r2 (sin, cos)(3 pi k / 2)``
    (minor thirds) and ``r3 (sin, cos)(2 pi k / 3)`` (major thirds); the original and the paper
    use ``r1, r2, r3 = 1, 1, 0.5``.
    """
    r1, r2, r3 = radii
    k = np.arange(12)
    rows = []
    for radius, step in ((r1, 7.0 / 6.0), (r2, 3.0 / 2.0), (r3, 2.0 / 3.0)):
        rows += [radius * np.sin(k * step * np.pi), radius * np.cos(k * step * np.pi)]
    return np.stack(rows)


def beat_centroids(beat_chroma: ArrayLike, radii: Sequence[float] = DEFAULT_RADII) -> NDArray:
    """Tonal centroids, shape (..., 6), of chroma vectors ``(..., 12)`` after L1 normalisation.

    A silent beat (chroma sum 0) gives NaN, as the original's division by zero does.
    """
    chroma = np.asarray(beat_chroma, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = chroma / chroma.sum(axis=-1, keepdims=True)
    return normalised @ tonal_matrix(radii).T


def tonal_distance(
    pianoroll_a: ArrayLike,
    pianoroll_b: ArrayLike,
    resolution: int = 24,
    radii: Sequence[float] = DEFAULT_RADII,
    chroma: ChromaKind = "band8",
    lowest_pitch: int = 24,
) -> NDArray[np.float64]:
    """Tonal distance, TD, of two tracks per bar (default pair Piano, Guitar).

    See docs/model.md, section 5.5.

    For each beat of ``resolution`` steps, each track's chroma is summed over the beat and
    L1-normalised, projected by :func:`tonal_matrix`, and the two 6-D centroids are compared by
    Euclidean distance. The bar's TD is the mean over its ``n_steps // resolution`` beats.

    Parameters
    ----------
    pianoroll_a, pianoroll_b : array_like, shape (..., n_steps, n_pitches)
        The two tracks' bars (bool or numeric; non-zero = active).
    resolution : int
        Steps per beat (24 in the paper's tensor).
    radii : sequence of 3 floats
        ``r1, r2, r3`` of the tonal matrix.
    chroma : {"band8", "pitch_class"}
        ``band8`` (mode ``paper``): the original's 8-semitone bands; ``pitch_class`` (mode
        ``musical``): true pitch classes. See :mod:`pipeline.metrics.chroma`.
    lowest_pitch : int
        MIDI number of pitch index 0, for ``pitch_class``.

    Returns
    -------
    ndarray of float, shape (...)
        NaN when either track is silent in any beat of the bar (the original divides by a zero
        chroma sum there), which includes every bar where either track is empty. The table's TD
        is the mean over the bars where it is defined.
    """
    per_beat = []
    for roll in (pianoroll_a, pianoroll_b):
        x = np.asarray(roll)
        x = x if x.dtype == bool else x != 0
        n_beats = x.shape[-2] // resolution
        beats = x[..., : n_beats * resolution, :].reshape(
            *x.shape[:-2], n_beats, resolution, x.shape[-1]
        )
        counts = beats.sum(axis=-2, dtype=np.int64)  # (..., beats, pitches)
        per_beat.append(counts @ chroma_matrix(x.shape[-1], chroma, lowest_pitch))
    centroid_a, centroid_b = (beat_centroids(c, radii) for c in per_beat)
    return np.linalg.norm(centroid_a - centroid_b, axis=-1).mean(axis=-1)
