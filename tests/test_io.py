"""Atomic writes and the HDF5 phrase file (pipeline/io.py, pipeline/data/phrase_file.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from pipeline.data import phrase_file
from pipeline.data.phrase_file import (
    EncodedBatch,
    PhraseBatch,
    TrackInfo,
    count_phrases,
    encode_phrases,
    iter_phrase_chunks,
    read_attrs,
    read_phrases,
    read_track_info,
    write_phrase_file,
)
from pipeline.io import atomic_dir, atomic_path, write_json

TRACKS = TrackInfo(["Drums", "Piano"], [0, 0], [True, False])


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir_replaces_the_folder_whole(tmp_path):
    target = tmp_path / "midi"
    target.mkdir()
    (target / "old.mid").write_text("old")
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and list(tmp.iterdir()) == []
        (tmp / "new.mid").write_text("new")
        assert (target / "old.mid").is_file()  # the old folder stays until the new one is done
    assert [p.name for p in target.iterdir()] == ["new.mid"]
    assert [p.name for p in tmp_path.iterdir()] == ["midi"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def test_atomic_dir_leaves_the_old_folder_on_failure(tmp_path):
    target = tmp_path / "audio"
    target.mkdir()
    (target / "a.flac").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.flac").write_text("half")
        raise RuntimeError("failed")
    assert (target / "a.flac").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["audio"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from pipeline.io import atomic_dir
with atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "first.png").write_text("written")
    print("half", flush=True)
    time.sleep(60)
"""


def test_a_killed_writer_leaves_no_folder_and_the_next_run_clears_its_leftovers(tmp_path):
    target = tmp_path / "curves"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline() == "half\n"  # one file written, the folder not finished
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert not target.exists()  # absent, not half filled
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]) == 1
    with atomic_dir(target) as tmp:
        (tmp / "done.png").write_text("complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves"]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_write_json_replaces_atomically(tmp_path):
    write_json(tmp_path / "a" / "m.json", {"b": 1, "a": float("nan")})
    assert (tmp_path / "a" / "m.json").read_text() == '{\n  "a": NaN,\n  "b": 1\n}\n'


def _write(path, phrases, chunk):
    batches = []
    for i in range(0, len(phrases), chunk):
        rows = range(i, min(i + chunk, len(phrases)))
        batches.append(
            PhraseBatch(
                phrases[i : i + chunk], [f"id{j}" for j in rows], ["m"] * len(rows), list(rows)
            )
        )
    write_phrase_file(path, batches, phrases.shape[1:], TRACKS, 24, 24, {"seed": 1})
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_phrase_file_round_trip_and_bytes(tmp_path):
    phrases = np.random.default_rng(0).random((5, 4, 96, 84, 2)) > 0.97
    first = _write(tmp_path / "a.h5", phrases, 2)
    second = _write(tmp_path / "b.h5", phrases, 2)
    assert first == second  # same input, byte-identical file
    assert count_phrases(tmp_path / "a.h5") == 5
    assert np.array_equal(read_phrases(tmp_path / "a.h5"), phrases)
    chunks = list(iter_phrase_chunks(tmp_path / "a.h5", 3))
    assert [len(c) for c in chunks] == [3, 2]
    assert np.array_equal(np.concatenate(chunks), phrases)
    assert read_track_info(tmp_path / "a.h5") == TRACKS
    attrs = read_attrs(tmp_path / "a.h5")
    assert attrs["params"] == {"seed": 1} and attrs["lowest_pitch"] == 24


def _stored_chunks(path):
    with h5py.File(path, "r") as f:
        data = f["phrases"]
        return [data.id.read_direct_chunk((i, 0, 0, 0, 0)) for i in range(data.shape[0])]


def test_chunks_encoded_in_workers_are_the_chunks_hdf5_stores_itself(tmp_path):
    """build_tensor's workers compress phrases and the writer copies the bytes: the stored chunks
    (filter mask and bytes) must be those HDF5 stores when it compresses the same phrases."""
    phrases = np.random.default_rng(1).random((4, 4, 96, 84, 2)) > 0.9
    _write(tmp_path / "a.h5", phrases, 4)
    batch = EncodedBatch(encode_phrases(phrases), ["id"] * 4, ["m"] * 4, [0, 1, 2, 3])
    write_phrase_file(tmp_path / "b.h5", [batch], phrases.shape[1:], TRACKS, 24, 24, {})
    assert _stored_chunks(tmp_path / "b.h5") == _stored_chunks(tmp_path / "a.h5")
    assert np.array_equal(read_phrases(tmp_path / "b.h5"), phrases)


@pytest.mark.skipif(sys.platform != "linux", reason="hdf5plugin's library is libh5zstd.so here")
def test_direct_zstd_frames_are_the_hdf5_filters_bytes():
    """encode_phrases calls hdf5plugin's libzstd itself: on empty, full, sparse and dense phrases
    its frames must be exactly the chunks HDF5's filter makes."""
    assert phrase_file._direct_zstd() is not None  # the fast path is the one tested here
    rng = np.random.default_rng(2)
    shape = (4, 96, 84, 8)
    phrases = np.stack(
        [
            np.zeros(shape, bool),
            np.ones(shape, bool),
            rng.random(shape) > 0.99,
            rng.random(shape) > 0.5,
        ]
    )
    assert encode_phrases(phrases) == phrase_file.encode_through_hdf5(phrases)
