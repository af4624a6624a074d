"""Reading LPD: the official tree layout and the legacy pypianoroll ``.npz`` format, with NumPy.

An LPD tree is ``<root>/<A>/<B>/<C>/<MSD id>/<md5>.npz`` where A, B, C are the 3rd, 4th and 5th
characters of the MSD id (``lpd_cleansed``, ``lpd_5_cleansed`` and ``lpd_17_cleansed`` share
it).

The ``.npz`` holds, per track ``i``, a scipy CSC matrix (time x 128 pitches) as
``pianoroll_<i>_csc_{data,indices,indptr,shape}``, plus ``downbeat``, ``tempo`` and an
``info.json`` member (``beat_resolution`` and per track ``program``, ``is_drum``, ``name``).
Values are uint8 velocities (bool for empty tracks). An empty track may have shape (0, 128); the
song length is the longest track (or the downbeat array, whichever is longer).

In CSC the entries of one pitch column are contiguous, so a pitch range is a single slice of
``indices``/``data``; tracks that a track set drops are never decompressed at all. The members are
read with ``pipeline.data.npz.NpzReader``; one open file serves the bounds check, the header and
the cells.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.npz import NpzReader
from pipeline.data.song import RESOLUTION, Song, SourceTrack
from pipeline.io import find_files

_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MSD = re.compile(r"^TR[A-Z0-9]{16}$")


@dataclass(frozen=True)
class LpdFile:
    """One file of an LPD tree: its MSD id, md5 and path relative to the tree root (POSIX)."""

    msd_id: str
    md5: str
    path: str


@dataclass(frozen=True)
class NpzHeader:
    """What the filter needs from a file: its length in steps and its number of tracks."""

    length: int
    n_tracks: int


def layout_error(rel: str) -> str | None:
    """Why ``rel`` (relative POSIX path) is not ``A/B/C/<MSD id>/<md5>.npz``; None if it is."""
    parts = rel.split("/")
    if len(parts) != 5:
        return "not in the LPD layout <A>/<B>/<C>/<MSD id>/<md5>.npz"
    a, b, c, msd, name = parts
    md5 = name[: -len(".npz")]
    if not _MSD.match(msd) or (a, b, c) != (msd[2], msd[3], msd[4]):
        return f"folder {msd!r} is not an MSD id matching its parent folders"
    if not _MD5.match(md5):
        return f"file name {name!r} is not <md5>.npz"
    return None


def find_npz_files(root: str | Path) -> Iterator[str]:
    """Every ``*.npz`` under ``root`` as a relative POSIX path, in sorted order."""
    return find_files(root, (".npz",), "LPD root")


def parse_lpd_path(rel: str) -> LpdFile:
    """The MSD id and md5 a well-laid-out relative path names."""
    parts = rel.split("/")
    return LpdFile(msd_id=parts[3], md5=parts[4][: -len(".npz")], path=rel)


def _track_count(files: list[str]) -> int:
    return sum(1 for k in files if k.startswith("pianoroll_") and k.endswith("_csc_shape"))


def _info(npz: NpzReader) -> dict:
    if "info.json" not in npz.files:
        raise ValueError("no info.json member")
    info = json.loads(npz.raw("info.json"))
    resolution = info.get("beat_resolution", RESOLUTION)
    if resolution != RESOLUTION:
        raise ValueError(f"beat_resolution is {resolution}, expected {RESOLUTION}")
    return info


def _song_length(npz: NpzReader, n_tracks: int) -> int:
    lengths = [int(npz[f"pianoroll_{i}_csc_shape"][0]) for i in range(n_tracks)]
    if "downbeat" in npz.files:
        lengths.append(len(npz["downbeat"]))
    return max(lengths, default=0)


def npz_header(npz: NpzReader) -> NpzHeader:
    """Length (steps) and track count of an open LPD ``.npz``, reading only small members."""
    info = _info(npz)
    n = _track_count(npz.files)
    for i in range(n):
        if str(i) not in info:
            raise ValueError(f"info.json has no entry for track {i}")
    return NpzHeader(length=_song_length(npz, n), n_tracks=n)


def read_npz_header(path: str | Path) -> NpzHeader:
    """Length (steps) and track count of the LPD ``.npz`` at ``path``."""
    with NpzReader(path) as npz:
        return npz_header(npz)


_PITCHES = np.arange(128, dtype=np.int32)  # LPD's pitch numbers, sliced per track


def _read_track(npz: NpzReader, i: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Active (time, pitch) cells of track ``i`` with pitches in ``lo..hi-1``.

    Times keep the file's index dtype (int32 in LPD) and pitches are int32: converting to int64
    cost more than reading. Every check is one NumPy method call on a whole array: a track has a
    few thousand cells, so per-call overhead (``np.diff``, ``np.any``, two reductions for one
    range check) had cost as much as the checks themselves.
    """
    key = f"pianoroll_{i}_csc"
    n_steps, n_pitches = npz[f"{key}_shape"].tolist()
    if n_steps == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    indptr = npz[f"{key}_indptr"].astype(np.int64)  # signed: a decreasing uint pointer shows
    per_pitch = indptr[1:] - indptr[:-1]
    if n_pitches != 128 or len(indptr) != 129 or per_pitch.min() < 0:
        raise ValueError(f"track {i}: malformed CSC matrix (shape {n_steps}x{n_pitches})")
    first, last, total = int(indptr[lo]), int(indptr[hi]), int(indptr[-1])
    indices = npz[f"{key}_indices"]
    data = npz[f"{key}_data"]
    if len(indices) != total or len(data) != total:
        raise ValueError(f"track {i}: CSC arrays disagree with indptr")
    times = indices[first:last]
    pitches = np.repeat(_PITCHES[lo:hi], per_pitch[lo:hi])
    velocities = data[first:last]
    if len(velocities) and velocities.min() <= 0:  # explicit zeros are rare: mask only then
        active = velocities > 0
        times, pitches = times[active], pitches[active]
    if len(times) and _outside(times, n_steps):
        raise ValueError(f"track {i}: time index outside 0..{n_steps - 1}")
    return times, pitches


def _outside(values: np.ndarray, n: int) -> bool:
    """Whether any of the integer ``values`` lies outside ``0 .. n - 1``, in one pass: seen as
    unsigned, a negative value is larger than any ``n``."""
    if values.dtype.kind == "i":
        values = values.view(values.dtype.str.replace("i", "u"))  # same bytes and order
    elif values.dtype.kind != "u":
        raise ValueError(f"time indices are {values.dtype}, not integers")
    return bool(values.max() >= n)


def npz_song(
    npz: NpzReader,
    keep: Callable[[int, bool], bool] | None = None,
    pitch_range: tuple[int, int] = (0, 128),
) -> Song:
    """An open LPD ``.npz`` as a :class:`Song` of binarized cells.

    Only tracks for which ``keep(program, is_drum)`` is true are decompressed (the others are
    returned without cells), and only pitches ``pitch_range[0] .. pitch_range[1] - 1``.
    """
    lo, hi = pitch_range
    info = _info(npz)
    n = _track_count(npz.files)
    tracks = []
    for i in range(n):
        meta = info[str(i)]
        program, is_drum = int(meta["program"]), bool(meta["is_drum"])
        empty = np.zeros(0, np.int64)
        times, pitches = empty, empty
        if keep is None or keep(program, is_drum):
            times, pitches = _read_track(npz, i, lo, hi)
        tracks.append(SourceTrack(program, is_drum, str(meta.get("name", "")), times, pitches))
    return Song(length=_song_length(npz, n), tracks=tracks)


def read_npz(
    path: str | Path,
    keep: Callable[[int, bool], bool] | None = None,
    pitch_range: tuple[int, int] = (0, 128),
) -> Song:
    """The LPD ``.npz`` at ``path`` as a :class:`Song` (see :func:`npz_song`)."""
    with NpzReader(path) as npz:
        return npz_song(npz, keep, pitch_range)
