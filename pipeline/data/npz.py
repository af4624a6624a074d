"""Reading the members of an ``.npz`` (a zip of ``.npy`` files) quickly and within bounds.

An LPD file holds four members per track (CSC data, indices, indptr, shape) plus ``downbeat``,
``tempo`` and ``info.json``: 40 to 70 small members. ``np.load`` parses every ``.npy`` header
with ``ast.literal_eval``, and ``zipfile`` builds an object per directory entry and a stream with
several reads per member; at the release's 21,425 files that overhead cost more than inflating
the data. So, here:

* **The directory.** LPD files are plain zips: no archive comment, no zip64 records, nothing
  before the first member. For such a file the end record and the central directory are parsed
  with ``struct``. Any other layout (a comment, zip64, a damaged or truncated directory) goes to
  ``zipfile``, whose error is then the one reported.
* **A member.** Its local header and stored bytes (a file of up to 8 MiB is read whole, in one
  call; a larger one member by member with ``pread``), inflated never past the size the
  directory declares, so a zip bomb costs no more than it declares
  (``pipeline.data.limits.check_npz`` bounds the declared sizes before any member is read). Size
  and CRC are checked: a corrupt member raises ``zipfile.BadZipFile``, never returns garbage.
  Encrypted members and methods other than stored and deflate go to ``zipfile``.
* **An array.** A plain little-endian, C-order ``.npy`` header is parsed with a regular
  expression; anything else goes to NumPy's reader. Each array is decoded once and kept.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

try:  # Intel's ISA-L: deflate and CRC-32 as zlib defines them, faster (see the module docstring)
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - a platform without its wheels
    import zlib as _zlib  # type: ignore[no-redef]

_END = struct.Struct("<4s4H2LH")  # end of central directory record, without its comment
# A central directory entry without its name, extra field and comment, unpacked to the fields used
# here only: signature, flags, method, CRC, sizes, name/extra/comment lengths, header offset (the
# versions, time, date, disk and attributes are skipped as pad bytes).
_ENTRY = struct.Struct("<4s4x2H4x3L3H8xL")
_LOCAL = struct.Struct("<4s22x2H")  # local file header: signature, name and extra field lengths
_ZIP64 = 0xFFFFFFFF  # a 32-bit field that says "see the zip64 record"
WHOLE_FILE_BYTES = 8 << 20  # files up to this size are read in one call (LPD's: about 100 kB)
_UTF8_NAME = 0x800  # general purpose flag: the name is UTF-8 (else cp437)
_ENCRYPTED = 0x1

_NPY_HEADER = re.compile(
    r"'descr':\s*'(?P<descr>[^']+)',\s*'fortran_order':\s*(?P<fortran>True|False),\s*"
    r"'shape':\s*\((?P<shape>[^)]*)\)"
)


class Member(NamedTuple):
    """One directory entry: what reading the member and bounding its size need (a tuple: an LPD
    file has dozens, the release over half a million)."""

    name: str
    method: int  # zipfile.ZIP_STORED, ZIP_DEFLATED, ...
    flags: int
    crc: int
    compress_size: int
    file_size: int  # declared inflated size
    offset: int  # of its local file header


def _plain_directory(
    read_at: Callable[[int, int], bytes | memoryview], size: int
) -> dict[str, Member] | None:
    """The members of a plain zip (see the module docstring) of ``size`` bytes, read with
    ``read_at(offset, n)``; None for any other layout."""
    if size < _END.size:
        return None
    end = read_at(size - _END.size, _END.size)
    if len(end) != _END.size:
        return None
    sig, disk, dir_disk, n_here, n_total, dir_size, dir_offset, comment = _END.unpack(end)
    if sig != b"PK\x05\x06" or comment or disk or dir_disk or n_here != n_total:
        return None
    if dir_offset + dir_size != size - _END.size:  # zip64 records, a prefix, or a damaged end
        return None
    directory = bytes(read_at(dir_offset, dir_size))  # bytes: slicing it gives bytes
    if len(directory) != dir_size:
        return None
    # Tight on purpose (an LPD file has dozens of entries and the release 21,425 files): one
    # unpack per entry, and each Member made as the plain tuple it is.
    members: dict[str, Member] = {}
    pos, unpack, head, make = 0, _ENTRY.unpack_from, _ENTRY.size, tuple.__new__
    for _ in range(n_total):
        if pos + head > dir_size:
            return None
        (
            sig,
            flags,
            method,
            crc,
            compress_size,
            file_size,
            name_len,
            extra_len,
            comment_len,
            offset,
        ) = unpack(directory, pos)
        if sig != b"PK\x01\x02" or _ZIP64 in (compress_size, file_size, offset):
            return None
        raw_name = directory[pos + head : pos + head + name_len]
        if raw_name.isascii():  # ASCII reads the same in both encodings, and decodes fastest
            name = raw_name.decode("ascii")
        else:
            name = raw_name.decode("utf-8" if flags & _UTF8_NAME else "cp437")
        members[name] = make(Member, (name, method, flags, crc, compress_size, file_size, offset))
        pos += head + name_len + extra_len + comment_len
    return members if pos == dir_size else None


def _zipfile_directory(file: io.BufferedReader) -> dict[str, Member]:
    """The members as ``zipfile`` reads them (it raises ``BadZipFile`` for what is not a zip)."""
    with zipfile.ZipFile(file) as archive:
        return {
            i.filename: Member(
                i.filename,
                i.compress_type,
                i.flag_bits,
                i.CRC,
                i.compress_size,
                i.file_size,
                i.header_offset,
            )
            for i in archive.infolist()
        }


class NpzReader:
    """The members of one ``.npz`` file, read on demand (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            size = os.fstat(self._file.fileno()).st_size
            # An ordinary file is read in one call; a large one member by member, so that a huge
            # file costs no more than the members that are read (after limits.check_npz).
            self._whole = memoryview(self._file.read()) if size <= WHOLE_FILE_BYTES else None
            plain = _plain_directory(self._read_at, size)
            self.members = plain if plain is not None else _zipfile_directory(self._file)
        except BaseException:
            self._file.close()
            raise
        self.files = [n[: -len(".npy")] if n.endswith(".npy") else n for n in self.members]
        self._arrays: dict[str, np.ndarray] = {}

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def _read_at(self, offset: int, n: int) -> bytes | memoryview:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the file)."""
        if self._whole is not None:
            return self._whole[offset : offset + n]
        return os.pread(self._file.fileno(), n, offset)

    def raw(self, name: str) -> bytes:
        """The inflated bytes of member ``name`` (e.g. ``info.json``)."""
        member = self.members.get(name)
        if member is None:
            raise KeyError(f"there is no member named {name!r}")
        if member.flags & _ENCRYPTED or member.method not in (zipfile.ZIP_STORED, _DEFLATED):
            with zipfile.ZipFile(self._file) as archive:
                return archive.read(name)
        head = self._read_at(member.offset, _LOCAL.size)
        if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"member {name}: no local file header")
        _, name_len, extra_len = _LOCAL.unpack(head)
        start = member.offset + _LOCAL.size + name_len + extra_len
        stored = self._read_at(start, member.compress_size)
        if member.method == _DEFLATED:
            try:
                data = _zlib.decompressobj(-15).decompress(stored, member.file_size)
            except _zlib.error as error:  # type: ignore[misc]  # isal's stub; one error type for both
                raise zipfile.BadZipFile(f"member {name}: corrupt deflate data ({error})") from None
        else:
            data = bytes(stored)
        if len(data) != member.file_size or _zlib.crc32(data) != member.crc:
            raise zipfile.BadZipFile(f"member {name}: bad CRC or size (truncated or corrupt)")
        return data

    def __getitem__(self, key: str) -> np.ndarray:
        """The array in member ``key + ".npy"``."""
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = _parse_npy(key, self.raw(key + ".npy"))
        return array


_DEFLATED = zipfile.ZIP_DEFLATED


def _parse_npy(key: str, data: bytes) -> np.ndarray:
    """The array an ``.npy`` member holds (read-only, a view of ``data`` when possible)."""
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"member {key}: not an .npy array")
    major = data[6]
    if major == 1:
        size, offset = int.from_bytes(data[8:10], "little"), 10
    else:
        size, offset = int.from_bytes(data[8:12], "little"), 12
    layout = _npy_layout(data[offset : offset + size])
    if layout is None:
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    dtype, shape = layout
    return np.frombuffer(data, dtype, math.prod(shape), offset + size).reshape(shape)


@functools.lru_cache(maxsize=4096)
def _npy_layout(header: bytes) -> tuple[np.dtype, tuple[int, ...]] | None:
    """(dtype, shape) of a plain little-endian C-order ``.npy`` header; None for anything else.

    Kept per header text: most headers repeat from file to file (every track's shape member has
    the same one), and parsing them was a tenth of the filter's time."""
    match = _NPY_HEADER.search(header.decode("latin1"))
    if match is None or match["fortran"] == "True" or match["descr"][0] == ">":
        return None
    return np.dtype(match["descr"]), tuple(int(x) for x in match["shape"].replace(",", " ").split())
