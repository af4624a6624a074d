"""The 12-bin "chroma" behind the in-scale rate, the chroma-used count and the tonal distance.

Two kinds (docs/model.md, section 5.4):

``band8`` (mode ``paper``)
    What the original code computes (bmusegan ``musegan/utils/metrics.py`` ``to_chroma``): the
    pitch axis is zero-padded by ``12 - n_pitches % 12`` columns (12 for 84 pitches, although 84
    is already a multiple of 12), reshaped to (12, -1) and summed over the last axis. Bin ``k``
    therefore holds pitch indices ``8k .. 8k+7``: bands of 8 consecutive semitones, not pitch
    classes. With 84 pitches bin 10 covers 4 real pitches and bin 11 is always 0. C1, C2 and C3
    (indices 0, 12, 24) land in bins 0, 1 and 3.
``pitch_class`` (mode ``musical``)
    A true pitch-class profile: pitch index ``i`` goes to bin ``(lowest_pitch + i) % 12``, so with
    the tensor's lowest pitch MIDI 24 (C1) index 0 is C and bin 0 is C.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

ChromaKind = Literal["band8", "pitch_class"]
N_BINS = 12


def chroma_bins(n_pitches: int, kind: ChromaKind, lowest_pitch: int = 24) -> NDArray[np.intp]:
    """The chroma bin of every pitch index.

    Parameters
    ----------
    n_pitches : int
        Length of the pitch axis (84 in the paper's tensor).
    kind : {"band8", "pitch_class"}
        ``band8`` reproduces the original reshape bug, ``pitch_class`` is a true chroma.
    lowest_pitch : int
        MIDI number of pitch index 0 (24 = C1); only used by ``pitch_class``.

    Returns
    -------
    ndarray of int, shape (n_pitches,)
        Bin 0..11 of each pitch index.
    """
    index = np.arange(n_pitches)
    if kind == "band8":
        width = (n_pitches + N_BINS - n_pitches % N_BINS) // N_BINS  # 96 // 12 = 8 for 84
        return index // width
    if kind == "pitch_class":
        return (index + lowest_pitch) % N_BINS
    raise ValueError(f"unknown chroma kind {kind!r}")


def chroma_matrix(n_pitches: int, kind: ChromaKind, lowest_pitch: int = 24) -> NDArray[np.float64]:
    """A 0/1 matrix of shape (n_pitches, 12) that maps pitch counts onto chroma bins."""
    matrix = np.zeros((n_pitches, N_BINS))
    matrix[np.arange(n_pitches), chroma_bins(n_pitches, kind, lowest_pitch)] = 1.0
    return matrix


def to_chroma(pianoroll: ArrayLike, kind: ChromaKind, lowest_pitch: int = 24) -> NDArray:
    """Sum a piano-roll's pitch axis into 12 chroma bins (not normalised).

    Parameters
    ----------
    pianoroll : array_like, shape (..., n_pitches)
        Any leading axes (bars, steps); the last axis is pitch. Bool or numeric.
    kind, lowest_pitch
        As in :func:`chroma_bins`.

    Returns
    -------
    ndarray, shape (..., 12)
        Integer counts for bool/int input, floats for float input.
    """
    x = np.asarray(pianoroll)
    if x.dtype == bool:
        x = x.astype(np.int64)
    bins = chroma_bins(x.shape[-1], kind, lowest_pitch)
    out = np.zeros((*x.shape[:-1], N_BINS), dtype=x.dtype)
    for k in range(N_BINS):  # 12 bins, not a loop over bars
        out[..., k] = x[..., bins == k].sum(axis=-1)
    return out
