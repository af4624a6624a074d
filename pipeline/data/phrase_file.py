"""The HDF5 phrase file: the training tensor, and every set of generated samples.

Layout (one file)::

    phrases   bool (N, n_bars, steps_per_bar, n_pitches, n_tracks) = (N, 4, 96, 84, 8) by default,
              chunked one phrase per chunk, Zstandard-compressed (HDF5 filter 32015)
    msd_id    str  (N,)  provenance of each phrase ("" for generated phrases)
    md5       str  (N,)
    start_bar int32 (N,) first bar of the window in its song (-1 for generated phrases)
    attrs     track_names, programs, is_drums, lowest_pitch, resolution (steps per beat),
              params (JSON of the params that made the file), and any extra attributes given

Same inputs give a byte-identical file: no timestamps (``track_times=False``), fixed chunking and
compression, attributes written in sorted order.

The Zstandard filter comes from ``hdf5plugin`` (imported here, which registers it with HDF5): to
read a phrase file outside this package, ``import hdf5plugin`` before ``h5py.File``. It was chosen
by measurement (``benchmarks/bench_compression.py``, ``benchmarks/RESULTS.md``): against the gzip
level 4 of earlier versions it stores 2.5x less, encodes about 7x and decodes about 4x faster.

Where ``hdf5plugin`` cannot be imported (a lent GPU machine with its own Python; ``docs/gpu.md``),
HDF5 loads the same filter library from the folders of ``HDF5_PLUGIN_PATH`` instead: a copy of
hdf5plugin's ``libh5zstd.so`` alone is enough (``python -m benchmarks.gpu --build-carry``).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pipeline.io import atomic_path

try:
    import hdf5plugin  # registers its filters with HDF5 on import
except ImportError:  # the filter library is then found through HDF5_PLUGIN_PATH (module doc)
    hdf5plugin = None  # type: ignore[assignment]

PHRASES = "phrases"
_STR = h5py.string_dtype(encoding="utf-8")


@dataclass(frozen=True)
class TrackInfo:
    """What a phrase file says about its tracks: names, GM programs and drum flags."""

    names: list[str]
    programs: list[int]
    is_drums: list[bool]


# The chunk filter of the phrases dataset (see the module docstring for why this one): what
# ``dict(hdf5plugin.Zstd(clevel=ZSTD_LEVEL))`` gives, written out so it needs no hdf5plugin.
ZSTD_FILTER_ID = 32015
ZSTD_LEVEL = 1
COMPRESSION = {"compression": ZSTD_FILTER_ID, "compression_opts": (ZSTD_LEVEL,)}
ZSTD_LIBRARY = "libh5zstd.so"


def plugin_dirs() -> list[Path]:
    """Where the Zstandard filter library is: hdf5plugin's folder, else ``HDF5_PLUGIN_PATH``'s."""
    if hdf5plugin is not None:
        return [Path(hdf5plugin.PLUGIN_PATH)]
    return [Path(d) for d in os.environ.get("HDF5_PLUGIN_PATH", "").split(os.pathsep) if d]


@dataclass(frozen=True)
class EncodedBatch:
    """Phrases already compressed by ``encode_phrases`` (one chunk each), with provenance.

    Lets worker processes do the compression, so the single writer only copies bytes.
    """

    chunks: list[bytes]
    msd_ids: list[str]
    md5s: list[str]
    start_bars: list[int]


def encode_phrases(phrases: np.ndarray) -> list[bytes]:
    """One stored chunk per phrase, exactly as HDF5 stores it in a phrase file.

    hdf5plugin's Zstandard filter (HDF5 filter 32015) stores a chunk as the one frame that
    ``ZSTD_compress`` makes of the chunk's bytes at the filter's level. Where that library's own
    libzstd can be called (:func:`_direct_zstd`), the frames are made here, without HDF5's
    per-call work (half the encoding time at release scale); elsewhere the phrases go through an
    in-memory HDF5 dataset with the file's chunking and filter and the raw chunks are read back.
    Both give the same bytes (tests/test_io.py).
    """
    phrases = np.ascontiguousarray(phrases, dtype=bool)
    zstd = _direct_zstd()
    if zstd is None:
        return encode_through_hdf5(phrases)
    return [zstd.compress(phrase) for phrase in phrases]


def encode_through_hdf5(phrases: np.ndarray) -> list[bytes]:
    """The chunks of ``phrases`` as HDF5 writes them with the phrase file's chunking and filter."""
    data = _encoder(tuple(int(d) for d in phrases.shape[1:]))
    data.resize(len(phrases), axis=0)
    data[:] = phrases
    return [data.id.read_direct_chunk((i, 0, 0, 0, 0))[1] for i in range(len(phrases))]


@functools.cache
def _encoder(shape: tuple[int, ...]) -> h5py.Dataset:
    """This process's in-memory dataset for ``encode_through_hdf5`` (made once: creating one per
    song cost a third of the encoding time). Rewritten chunks reuse their space."""
    f = h5py.File(f"encoder-{shape}", "w", driver="core", backing_store=False)
    return f.create_dataset(
        PHRASES,
        shape=(0, *shape),
        maxshape=(None, *shape),
        dtype=bool,
        chunks=(1, *shape),
        **COMPRESSION,
    )


class _Zstd:
    """``ZSTD_compressCCtx`` of a libzstd, with one compression context and output buffer kept
    (the same frame as ``ZSTD_compress``, which makes a context per call)."""

    def __init__(self, lib: ctypes.CDLL, level: int) -> None:
        self._lib, self._level = lib, level
        self._context = lib.ZSTD_createCCtx()
        self._buffer = ctypes.create_string_buffer(0)

    def compress(self, chunk: np.ndarray) -> bytes:
        bound = self._lib.ZSTD_compressBound(chunk.nbytes)
        if len(self._buffer) < bound:
            self._buffer = ctypes.create_string_buffer(bound)
        size = self._lib.ZSTD_compressCCtx(
            self._context, self._buffer, bound, chunk.ctypes.data, chunk.nbytes, self._level
        )
        if self._lib.ZSTD_isError(size):
            raise RuntimeError(f"ZSTD_compressCCtx failed with code {size}")
        return ctypes.string_at(self._buffer, size)


@functools.cache
def _direct_zstd() -> _Zstd | None:
    """The libzstd inside hdf5plugin's Zstandard filter library, or None where it cannot be
    loaded or lacks a function (then ``encode_through_hdf5`` is used)."""
    found = [d / ZSTD_LIBRARY for d in plugin_dirs() if (d / ZSTD_LIBRARY).is_file()]
    if not found:
        return None
    try:
        lib = ctypes.CDLL(str(found[0]))
        size_t, pointer = ctypes.c_size_t, ctypes.c_void_p
        lib.ZSTD_createCCtx.restype = pointer
        lib.ZSTD_compressBound.argtypes, lib.ZSTD_compressBound.restype = [size_t], size_t
        lib.ZSTD_isError.argtypes, lib.ZSTD_isError.restype = [size_t], ctypes.c_uint
        lib.ZSTD_compressCCtx.argtypes = [pointer, pointer, size_t, pointer, size_t, ctypes.c_int]
        lib.ZSTD_compressCCtx.restype = size_t
    except (OSError, AttributeError):
        return None
    return _Zstd(lib, ZSTD_LEVEL)


@dataclass(frozen=True)
class PhraseBatch:
    """A block of phrases with their provenance, as written to or read from the file."""

    phrases: np.ndarray  # bool (n, bars, steps, pitches, tracks)
    msd_ids: list[str]
    md5s: list[str]
    start_bars: list[int]


def write_phrase_file(
    path: str | Path,
    batches: Iterable[PhraseBatch | EncodedBatch],
    phrase_shape: tuple[int, int, int, int],
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    params: dict[str, Any],
    extra_attrs: dict[str, Any] | None = None,
) -> int:
    """Stream ``batches`` into a new phrase file at ``path`` (atomically); return N.

    ``phrase_shape`` is (bars, steps per bar, pitches, tracks). Memory stays bounded by one batch.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        data = f.create_dataset(
            PHRASES,
            shape=(0, *phrase_shape),
            maxshape=(None, *phrase_shape),
            dtype=bool,
            chunks=(1, *phrase_shape),
            **COMPRESSION,
            track_times=False,
        )
        prov: dict[str, list[Any]] = {"msd_id": [], "md5": [], "start_bar": []}
        n = 0
        for batch in batches:
            k = len(batch.chunks if isinstance(batch, EncodedBatch) else batch.phrases)
            if k == 0:
                continue
            data.resize(n + k, axis=0)
            if isinstance(batch, EncodedBatch):
                for i, chunk in enumerate(batch.chunks):
                    data.id.write_direct_chunk((n + i, 0, 0, 0, 0), chunk)
            else:
                data[n : n + k] = batch.phrases.astype(bool, copy=False)
            prov["msd_id"] += batch.msd_ids
            prov["md5"] += batch.md5s
            prov["start_bar"] += batch.start_bars
            n += k
        f.create_dataset(
            "msd_id", data=np.array(prov["msd_id"], dtype=object), dtype=_STR, track_times=False
        )
        f.create_dataset(
            "md5", data=np.array(prov["md5"], dtype=object), dtype=_STR, track_times=False
        )
        f.create_dataset(
            "start_bar", data=np.array(prov["start_bar"], dtype=np.int32), track_times=False
        )
        attrs = {
            "track_names": json.dumps(tracks.names),
            "programs": json.dumps(tracks.programs),
            "is_drums": json.dumps(tracks.is_drums),
            "lowest_pitch": int(lowest_pitch),
            "resolution": int(resolution),
            "params": json.dumps(params, sort_keys=True),
            **(extra_attrs or {}),
        }
        for key in sorted(attrs):
            f.attrs[key] = attrs[key]
    return n


def count_phrases(path: str | Path) -> int:
    """Number of phrases in a phrase file."""
    with h5py.File(path, "r") as f:
        return int(f[PHRASES].shape[0])


def phrase_shape(path: str | Path) -> tuple[int, int, int, int]:
    """(bars, steps per bar, pitches, tracks) of the phrases in a phrase file."""
    with h5py.File(path, "r") as f:
        bars, steps, pitches, tracks = (int(d) for d in f[PHRASES].shape[1:])
    return bars, steps, pitches, tracks


def read_track_info(path: str | Path) -> TrackInfo:
    """Track names, programs and drum flags stored in a phrase file."""
    with h5py.File(path, "r") as f:
        return TrackInfo(
            names=json.loads(f.attrs["track_names"]),
            programs=json.loads(f.attrs["programs"]),
            is_drums=json.loads(f.attrs["is_drums"]),
        )


def read_attrs(path: str | Path) -> dict[str, Any]:
    """All attributes of a phrase file, JSON attributes decoded."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            if isinstance(value, str) and value[:1] in "[{":
                value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
    return out


def read_phrases(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Phrases ``start:stop`` as a bool array (n, bars, steps, pitches, tracks)."""
    with h5py.File(path, "r") as f:
        return np.asarray(f[PHRASES][start:stop], dtype=bool)


def iter_phrase_chunks(path: str | Path, chunk_size: int) -> Iterator[np.ndarray]:
    """Yield the phrases of a file in consecutive bool chunks of at most ``chunk_size``."""
    with h5py.File(path, "r") as f:
        data = f[PHRASES]
        for start in range(0, data.shape[0], chunk_size):
            yield np.asarray(data[start : start + chunk_size], dtype=bool)
