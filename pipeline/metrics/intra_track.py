"""The seven per-bar, per-track metrics of BinaryMuseGAN (paper 4.2; docs/model.md, section 5.3).

Every function takes a batch of single-track bars, ``pianoroll`` of shape
``(..., n_steps, n_pitches)`` (any leading axes: bars, tracks), and returns one float per bar,
shape ``(...)``. Any non-zero entry counts as an active cell. They are vectorised over the leading
axes; none loops over bars.

Edge case shared by all but the empty-bar rate: **an empty bar gives NaN**, because the original
code leaves every other metric undefined for an empty bar, so the per-track averages run over
non-empty bars only (docs/model.md, sections 5.2, 5.6).

The two metric modes differ only in the arguments: mode ``paper`` (the original code) uses
``min_steps=2``, ``min_pitches=2`` and ``chroma="band8"``; mode ``musical`` (the paper's text) uses
``min_steps=3``, ``min_pitches=3`` and ``chroma="pitch_class"`` (see ``params.yaml``, ``metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeline.metrics.chroma import ChromaKind, chroma_matrix

DrumSemantics = Literal["onset", "xor", "dtype"]
DEFAULT_DRUM_FILTER = (1.0, 0.1, 0.0, 0.0, 0.0, 0.1)
C_MAJOR = (1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1)


def _active(pianoroll: ArrayLike) -> NDArray[np.bool_]:
    x = np.asarray(pianoroll)
    if x.ndim < 2:
        raise ValueError(f"expected (..., n_steps, n_pitches), got shape {x.shape}")
    return x if x.dtype == bool else x != 0


def _nan_where(values: NDArray, undefined: NDArray[np.bool_]) -> NDArray[np.float64]:
    out = np.asarray(values, dtype=np.float64).copy()
    out[undefined] = np.nan
    return out


def _is_empty(x: NDArray[np.bool_]) -> NDArray[np.bool_]:
    return np.asarray(~x.any(axis=(-2, -1)))


def empty_bar(pianoroll: ArrayLike) -> NDArray[np.float64]:
    """Empty-bar indicator, EB (paper 4.2 "EB: ratio of empty bars"; docs/model.md, section 5.3).

    Parameters
    ----------
    pianoroll : array_like, shape (..., n_steps, n_pitches)

    Returns
    -------
    ndarray of float, shape (...)
        1.0 where the bar has no active cell, else 0.0. Averaged over bars it is the empty-bar rate.
        Defined for every bar (never NaN).
    """
    return _is_empty(_active(pianoroll)).astype(np.float64)


def n_pitches_used(pianoroll: ArrayLike) -> NDArray[np.float64]:
    """Number of pitches used, UP (docs/model.md, section 5.3; original ``get_num_pitch_used``).

    The number of pitch rows active at least once in the bar: pitches, not pitch classes.

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar.
    """
    x = _active(pianoroll)
    return _nan_where(x.any(axis=-2).sum(axis=-1), _is_empty(x))


def note_onsets(pianoroll: ArrayLike) -> NDArray[np.bool_]:
    """Where notes start: an active cell whose predecessor in the same bar is silent.

    A note is a maximal run of consecutive active steps of one pitch *within the bar* (a note
    that crosses a bar line counts once in each bar, docs/model.md, section 5.1). Shape as the
    input.
    """
    x = _active(pianoroll)
    onset = x.copy()
    onset[..., 1:, :] &= ~x[..., :-1, :]
    return onset


def qualified_note_rate(pianoroll: ArrayLike, min_steps: int = 2) -> NDArray[np.float64]:
    """Qualified-note rate, QN (paper 4.2; docs/model.md, section 5.3; ``get_qualified_note_rate``).

    QN = (number of notes lasting at least ``min_steps`` steps) / (number of notes). A note is a
    run of consecutive active steps of one pitch within the bar; its length is its number of steps.

    Parameters
    ----------
    pianoroll : array_like, shape (..., n_steps, n_pitches)
    min_steps : int
        ``2`` in mode ``paper``: the original code's default, never overridden, so only 1-step
        notes are unqualified. ``3`` in mode ``musical``: the paper's text ("no shorter than three
        time steps, i.e. a 32nd note").

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar (no notes).
    """
    x = _active(pianoroll)
    onset = note_onsets(x)
    qualified = onset.copy()
    for lag in range(1, min_steps):  # a note starting at t is qualified if t+1..t+k-1 sound
        qualified[..., :-lag, :] &= x[..., lag:, :]
        qualified[..., -lag:, :] = False
    n_notes = onset.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = qualified.sum(axis=(-2, -1)) / n_notes
    return _nan_where(rate, n_notes == 0)


def polyphonicity(pianoroll: ArrayLike, min_pitches: int = 2) -> NDArray[np.float64]:
    """Polyphonicity, PP (paper 4.2; docs/model.md, section 5.3; original ``get_polyphonic_ratio``).

    PP = (number of steps where at least ``min_pitches`` pitches are active) / n_steps. Silent
    steps count in the denominator.

    Parameters
    ----------
    min_pitches : int
        ``2`` in mode ``paper`` (the original code: "at least two"); ``3`` in mode ``musical``
        (the paper's text: "more than two").

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar.
    """
    x = _active(pianoroll)
    poly = (x.sum(axis=-1) >= min_pitches).mean(axis=-1)
    return _nan_where(poly, _is_empty(x))


def _bar_chroma(x: NDArray[np.bool_], chroma: ChromaKind, lowest_pitch: int) -> NDArray:
    counts = x.sum(axis=-2, dtype=np.int64)  # (..., n_pitches): active steps of each pitch
    return counts @ chroma_matrix(x.shape[-1], chroma, lowest_pitch)  # (..., 12)


def in_scale_rate(
    pianoroll: ArrayLike,
    scale_mask: Sequence[int] = C_MAJOR,
    chroma: ChromaKind = "band8",
    lowest_pitch: int = 24,
) -> NDArray[np.float64]:
    """In-scale rate, IS (docs/model.md, section 5.3; original ``get_in_scale``).

    The chroma of the bar (active cells summed over time into 12 bins) is split by ``scale_mask``;
    IS = mass in the scale's bins / total mass. The key is fixed (no transposition).

    Parameters
    ----------
    scale_mask : sequence of 12 ints
        1 = bin in the scale; default C major {0, 2, 4, 5, 7, 9, 11}.
    chroma : {"band8", "pitch_class"}
        ``band8`` (mode ``paper``) applies the mask to the original's 8-semitone bands (see
        :mod:`pipeline.metrics.chroma`); ``pitch_class`` (mode ``musical``) to true pitch classes.
    lowest_pitch : int
        MIDI number of pitch index 0 (24 = C1), for ``pitch_class``.

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar.
    """
    x = _active(pianoroll)
    bar_chroma = _bar_chroma(x, chroma, lowest_pitch)
    total = bar_chroma.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = bar_chroma @ np.asarray(scale_mask, dtype=np.float64) / total
    return _nan_where(rate, total == 0)


def n_chroma_used(
    pianoroll: ArrayLike, chroma: ChromaKind = "band8", lowest_pitch: int = 24
) -> NDArray[np.float64]:
    """Number of chroma bins used, NCU (docs/model.md, section 5.3).

    The number of the 12 chroma bins active at least once in the bar. With ``chroma="band8"``
    (mode ``paper``) these are the original's 8-semitone bands (at most 11 can be used);
    with ``pitch_class`` (mode ``musical``) true pitch classes.

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar.
    """
    x = _active(pianoroll)
    used = (_bar_chroma(x, chroma, lowest_pitch) > 0).sum(axis=-1)
    return _nan_where(used, _is_empty(x))


def drum_grid(drum_filter: Sequence[float], n_steps: int) -> NDArray[np.float64]:
    """The drum filter tiled along the bar and all its circular shifts, shape (n_steps, period).

    Column ``r`` is the filter tiled to ``n_steps`` and rolled by ``r`` steps (the original's
    ``np.roll(drum_filter, r)`` for ``r`` in ``range(6)``).
    """
    tiled = np.resize(np.asarray(drum_filter, dtype=np.float64), n_steps)
    return np.stack([np.roll(tiled, r) for r in range(len(drum_filter))], axis=1)


def drum_pattern_rate(
    pianoroll: ArrayLike,
    drum_filter: Sequence[float] = DEFAULT_DRUM_FILTER,
    semantics: DrumSemantics = "onset",
) -> NDArray[np.float64]:
    """Drum-in-pattern rate, DP (docs/model.md, section 5.3; original ``get_drum_pattern``).

    Per step, count the drum hits (see ``semantics``); the filter ``[1, .1, 0, 0, 0, .1]`` tiled
    over the bar marks the 16th-note grid at 24 steps per beat with a 0.1 weight one step off.
    DP = max over the filter's circular shifts of sum(filter * hits) / total hits.

    Parameters
    ----------
    pianoroll : array_like, shape (..., n_steps, n_pitches)
        Drum bars.
    drum_filter : sequence of float
        One period of the grid; its length is the number of shifts tried.
    semantics : {"onset", "xor", "dtype"}
        ``onset``: a hit is a note onset (active now, silent the step before). This is what the
        original code computes for numeric arrays and what produced the published DP (0.915 on
        the training data); modes ``paper`` and ``musical`` use it.
        ``xor``: every change counts, onsets and offsets: what NumPy's ``diff`` computes for a
        bool array in the original code (isolated 1-step hits on the grid score 0.55, not 1.0).
        ``dtype``: the original's dtype quirk: ``xor`` for a bool input, ``onset`` otherwise.

    Returns
    -------
    ndarray of float, shape (...)
        NaN for an empty bar.
    """
    raw = np.asarray(pianoroll)
    if semantics == "dtype":
        semantics = "xor" if raw.dtype == bool else "onset"
    x = _active(raw).astype(np.int8)
    change = np.diff(x, axis=-2, prepend=np.zeros_like(x[..., :1, :]))
    if semantics == "onset":
        hits = (change > 0).sum(axis=-1)
    elif semantics == "xor":
        hits = (change != 0).sum(axis=-1)
    else:
        raise ValueError(f"unknown drum semantics {semantics!r}")
    score = (hits @ drum_grid(drum_filter, x.shape[-2])).max(axis=-1)
    total = hits.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = score / total
    return _nan_where(rate, total == 0)
