"""A full disk: build_tensor writing onto a small tmpfs stops with a clear error, and the previous
output stays in place, byte for byte, with no temporary file left beside it."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from pipeline.data import lpd
from tests.dag.dag_tools import SHARED
from tests.robust.damage import assert_clean_exit_2, run_module
from tests.robust.test_hostile_input import _params
from tests.training.conftest import make_phrase_file

LPD = SHARED / "data" / "lpd" / "lpd_cleansed"
DISK = "256k"  # smaller than the tensor of SONGS songs (about 0.7 MB with Zstandard chunks)
SONGS = 100


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 kB tmpfs mounted at ``tmp_path/disk`` (needs root; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip() or mount.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_full_disk_keeps_the_previous_tensor(tmp_path, small_disk):
    previous = make_phrase_file(small_disk / "phrases.h5", n=1)
    before = previous.read_bytes()
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["msd_id", "md5", "source", "path"])
        for rel in list(lpd.find_npz_files(LPD))[:SONGS]:
            song = lpd.parse_lpd_path(rel)
            writer.writerow([song.msd_id, song.md5, "lpd", rel])
    args = [
        *(
            "--params",
            str(_params(tmp_path, "lpd", phrases_per_song=6)),
            "--manifest",
            str(manifest),
        ),
        *("--lpd-root", str(LPD), "--midi-dir", str(LPD)),
        *("--tensor", str(previous), "--report", str(tmp_path / "report.json")),
    ]
    proc = run_module("pipeline.stages.build_tensor", args)
    assert_clean_exit_2(proc, str(previous), "no space left on device")
    assert previous.read_bytes() == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["phrases.h5"]
    assert not (tmp_path / "report.json").exists()
