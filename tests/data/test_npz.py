"""The ``.npz`` reader: the same members and arrays as zipfile and NumPy, errors where they err."""

from __future__ import annotations

import io
import zipfile
import zlib

import numpy as np
import pytest

from pipeline.data import npz


def _bundled(data_paths, n: int) -> list:
    return sorted(data_paths.lpd_root.rglob("*.npz"))[:n]


def _plain(path):
    """What the plain-zip parser makes of ``path`` (None: not a plain zip)."""
    data = path.read_bytes()
    return npz._plain_directory(lambda offset, n: data[offset : offset + n], len(data))


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """Runs a test with ISA-L inflating (the installed default) and with zlib (the fallback where
    ISA-L has no wheel): both must read the same bytes and refuse the same damage."""
    if request.param == "zlib":
        monkeypatch.setattr(npz, "_zlib", zlib)
    else:
        assert npz._zlib.__name__ == "isal.isal_zlib"  # a dependency: the default must use it


@pytest.mark.usefixtures("inflater")
def test_directory_and_arrays_equal_zipfile_and_numpy(data_paths):
    """On real LPD files the plain-zip parser is used and agrees with zipfile entry for entry,
    and every array equals np.load's."""
    for path in _bundled(data_paths, 25):
        with zipfile.ZipFile(path) as archive:
            infos = {i.filename: i for i in archive.infolist()}
        with npz.NpzReader(path) as reader:
            assert _plain(path) is not None  # the fast path
            assert set(reader.members) == set(infos)
            for name, member in reader.members.items():
                info = infos[name]
                assert (member.crc, member.compress_size, member.file_size, member.offset) == (
                    info.CRC,
                    info.compress_size,
                    info.file_size,
                    info.header_offset,
                )
            with np.load(path) as ref:
                for key in ref.files:
                    if key + ".npy" not in reader.members:  # info.json: raw bytes
                        assert reader.raw(key) == ref[key]
                        continue
                    assert np.array_equal(reader[key], ref[key]), (path.name, key)
                    assert reader[key].dtype == ref[key].dtype


@pytest.mark.parametrize("layout", ["comment", "zip64", "stored", "prefix"])
def test_other_zip_layouts_give_the_same_arrays(data_paths, tmp_path, layout):
    """A comment or bytes before the first member (the directory read by zipfile), zip64 local
    headers or stored members: the same arrays as the original file."""
    path = _bundled(data_paths, 1)[0]
    target = tmp_path / "other.npz"
    method = zipfile.ZIP_STORED if layout == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w", method) as dst:
        for info in src.infolist():
            with dst.open(info.filename, "w", force_zip64=layout == "zip64") as out:
                out.write(src.read(info))
        if layout == "comment":
            dst.comment = b"a comment"
    if layout == "prefix":
        target.write_bytes(b"\0" * 100 + target.read_bytes())
    plain = _plain(target)
    if layout in ("comment", "prefix"):  # zip64 local headers alone keep a plain directory
        assert plain is None
    with npz.NpzReader(target) as reader, np.load(path) as ref:
        assert reader.raw("info.json") == ref["info.json"]
        for key in ref.files:
            if key != "info.json":
                assert np.array_equal(reader[key], ref[key]), (layout, key)


def test_large_files_read_member_by_member_give_the_same_arrays(data_paths, monkeypatch):
    """Files over WHOLE_FILE_BYTES are read with pread per member: the same arrays."""
    path = _bundled(data_paths, 1)[0]
    with npz.NpzReader(path) as whole:
        expected = {key: whole[key] for key in whole.files if key != "info.json"}
    monkeypatch.setattr(npz, "WHOLE_FILE_BYTES", 0)
    with npz.NpzReader(path) as reader:
        assert reader._whole is None
        assert reader.raw("info.json")
        for key, array in expected.items():
            assert np.array_equal(reader[key], array), key


@pytest.mark.usefixtures("inflater")
def test_a_corrupt_member_raises_not_garbage(data_paths, tmp_path):
    """One flipped byte inside a member's stored data: BadZipFile naming the member (from the
    CRC check or from inflating), never garbage and never the inflating library's own error."""
    path = _bundled(data_paths, 1)[0]
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with npz.NpzReader(bad) as reader, pytest.raises(zipfile.BadZipFile, match=info.filename):
        reader.raw(info.filename)
    with npz.NpzReader(bad) as reader:  # the other members still read
        other = next(n for n in reader.members if n != info.filename)
        assert reader.raw(other)


def test_truncated_and_empty_files_raise_badzipfile(data_paths, tmp_path):
    path = _bundled(data_paths, 1)[0]
    data = path.read_bytes()
    for name, content in {"half.npz": data[: len(data) // 2], "empty.npz": b""}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(zipfile.BadZipFile):
            npz.NpzReader(tmp_path / name)


@pytest.mark.usefixtures("inflater")
def test_a_member_never_inflates_past_its_declared_size(tmp_path):
    """A member whose directory entry declares 10 bytes but holds 1 MB of zeros: refused, and
    what is inflated stops at the declared size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.npy", b"\0" * (1 << 20))
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("a.npy")
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # declared inflated size
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(bytes(data))
    with npz.NpzReader(bomb) as reader:
        assert reader.members["a.npy"].file_size == 10 != info.file_size
        with pytest.raises(zipfile.BadZipFile, match="bad CRC or size"):
            reader.raw("a.npy")


def test_a_missing_member_is_a_key_error(data_paths):
    with npz.NpzReader(_bundled(data_paths, 1)[0]) as reader, pytest.raises(KeyError):
        reader["no_such_member"]
