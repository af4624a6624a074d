"""Checking a phrase file before a stage relies on it: one clear error naming the file.

The phrase file (layout in ``pipeline.data.phrase_file``) is read by training, sampling and
evaluation. A file truncated by a full disk, garbled by a copy, or written by something else
raises ``PhraseFileError`` (a ``DataError``: the stages exit with status 2 and a one-line
message) here, instead of a KeyError or an HDF5 traceback halfway through a run. Only reads; the
writer lives in ``phrase_file``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from pipeline.data.phrase_file import PHRASES, iter_phrase_chunks
from pipeline.errors import DataError

PROVENANCE = ("msd_id", "md5", "start_bar")
TRACK_ATTRS = ("track_names", "programs", "is_drums")
INT_ATTRS = ("lowest_pitch", "resolution")


class PhraseFileError(DataError):
    """A phrase file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class PhraseFileInfo:
    n_phrases: int
    phrase_shape: tuple[int, ...]  # (bars, steps per bar, pitches, tracks)
    track_names: list[str]


def validate_phrase_file(
    path: str | Path, phrase_shape: tuple[int, ...] | None = None
) -> PhraseFileInfo:
    """Check that ``path`` is a whole phrase file (and of ``phrase_shape``, when given)."""
    path = Path(path)
    if not path.is_file():
        raise PhraseFileError(f"{path}: phrase file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise PhraseFileError(
            f"{path}: not a readable HDF5 file (truncated or damaged: {_first_line(error)})"
        ) from None
    with f:
        n, shape = _check_phrases(f, path)
        names = _check_track_attrs(f, path, shape[-1])
        _check_provenance(f, path, n)
    if phrase_shape is not None and shape != tuple(phrase_shape):
        raise PhraseFileError(f"{path}: phrases have shape {shape}, expected {tuple(phrase_shape)}")
    return PhraseFileInfo(n, shape, names)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _check_phrases(f: h5py.File, path: Path) -> tuple[int, tuple[int, ...]]:
    """The phrases dataset: present, 5-D, bool, not empty."""
    data = f.get(PHRASES)
    if not isinstance(data, h5py.Dataset):
        raise PhraseFileError(f"{path}: no '{PHRASES}' dataset")
    if data.ndim != 5:
        raise PhraseFileError(
            f"{path}: '{PHRASES}' has shape {data.shape}, "
            "expected (N, bars, steps, pitches, tracks)"
        )
    if data.dtype != np.bool_:
        raise PhraseFileError(f"{path}: '{PHRASES}' has dtype {data.dtype}, expected bool")
    if data.shape[0] == 0:
        raise PhraseFileError(f"{path}: the phrase file holds no phrases")
    return int(data.shape[0]), tuple(int(d) for d in data.shape[1:])


def _check_track_attrs(f: h5py.File, path: Path, n_tracks: int) -> list[str]:
    """Track names, programs and drum flags: JSON lists with one entry per track."""
    for key in INT_ATTRS:
        if not isinstance(f.attrs.get(key), int | np.integer):
            raise PhraseFileError(f"{path}: attribute {key!r} missing or not an integer")
    lists = {}
    for key in TRACK_ATTRS:
        try:
            lists[key] = json.loads(f.attrs[key])
        except (KeyError, TypeError, ValueError):
            raise PhraseFileError(f"{path}: attribute {key!r} missing or not JSON") from None
        if not isinstance(lists[key], list) or len(lists[key]) != n_tracks:
            raise PhraseFileError(f"{path}: attribute {key!r} must list {n_tracks} tracks")
    return [str(name) for name in lists["track_names"]]


def _check_provenance(f: h5py.File, path: Path, n: int) -> None:
    """msd_id, md5 and start_bar: one entry per phrase."""
    for key in PROVENANCE:
        data = f.get(key)
        if not isinstance(data, h5py.Dataset):
            raise PhraseFileError(f"{path}: provenance dataset {key!r} missing")
        if data.shape != (n,):
            raise PhraseFileError(
                f"{path}: provenance {key!r} has shape {data.shape}, expected ({n},)"
            )


def iter_checked_chunks(path: str | Path, chunk_size: int) -> Iterator[np.ndarray]:
    """``iter_phrase_chunks``, with a damaged chunk a ``PhraseFileError`` naming the file."""
    try:
        yield from iter_phrase_chunks(path, chunk_size)
    except OSError as error:
        raise PhraseFileError(
            f"{path}: phrase data cannot be read (damaged: {_first_line(error)})"
        ) from None
