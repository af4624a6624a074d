"""What travels to a lent GPU machine and what comes back (benchmarks/gpu/carry.py), and the
modules of ``python -m benchmarks.gpu``, imported and used without the packages it lacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.gpu import carry as gpu_carry
from pipeline.config import Params
from pipeline.data.phrase_file import read_phrases
from pipeline.training.data import load_tensor
from tests.benchmarks.conftest import MISSING, run_blocked
from tests.training.conftest import make_phrase_file

READ_AND_WRITE = """
import sys
from pathlib import Path
import numpy as np, torch
from pipeline.data import phrase_file
from pipeline.training.data import load_tensor
assert phrase_file.hdf5plugin is None
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
t = load_tensor(src, torch.device("cpu"))
batch = phrase_file.PhraseBatch(t.numpy()[::-1].copy(), [""] * len(t), [""] * len(t), [-1] * len(t))
info = phrase_file.read_track_info(src)
phrase_file.write_phrase_file(dst, [batch], tuple(t.shape[1:]), info, 24, 24, {})
print(int(t.sum()))
"""


def test_the_tensor_reads_and_writes_through_the_carried_plugin(tmp_path, blocked_site) -> None:
    """Where hdf5plugin cannot be imported, HDF5_PLUGIN_PATH with the stripped Zstandard filter
    alone reads the tensor (the training's own reader) and writes phrase files (sample's)."""
    src = make_phrase_file(tmp_path / "phrases.h5", n=5)
    plugin = gpu_carry.copy_plugin(tmp_path / "plugin")
    assert plugin.stat().st_size < 2 * 2**20  # stripped: about 0.75 MB (9.8 MB unstripped)
    dst = tmp_path / "written.h5"
    args = ["-c", READ_AND_WRITE, str(src), str(dst)]
    done = run_blocked(blocked_site, args, HDF5_PLUGIN_PATH=str(plugin.parent))
    assert done.returncode == 0, done.stderr
    expected = load_tensor(src, torch.device("cpu"))
    assert int(done.stdout.strip()) == int(expected.sum()) > 0
    assert np.array_equal(read_phrases(dst), expected.numpy()[::-1])  # read back with hdf5plugin
    # Without the path the filter is missing: the carried plugin is what made it work.
    failed = run_blocked(blocked_site, args, HDF5_PLUGIN_PATH="")
    assert failed.returncode != 0 and str(src) in failed.stderr


IMPORTS = """
import sys
import benchmarks.gpu.__main__, benchmarks.gpu.phases, benchmarks.gpu.workers, benchmarks.gpu.carry
import pipeline.stages.pretrain, pipeline.stages.train, pipeline.stages.sample
import pipeline.stages.evaluate, pipeline.export_weights, pipeline.training.checkpoint
missing = [m for m in sys.argv[1].split(",") if sys.modules.get(m) is not None]
assert not missing, missing
try:
    import soundfile  # installed here: the block is what stops it
except ImportError:
    pass
else:
    raise AssertionError("soundfile was importable")
print("ok")
"""


def test_gpu_check_imports_without_the_missing_packages(blocked_site) -> None:
    done = run_blocked(blocked_site, ["-c", IMPORTS, ",".join(MISSING)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_pack_results_keeps_to_eight_files_of_16_mib(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "runs").mkdir(parents=True)
    (work / "runs" / "log.csv").write_text("iteration\n0\n")
    (work / "runs" / "checkpoint.pt").write_bytes(b"x" * 100)  # never packed
    exports = []
    for i in range(8):
        exports.append(tmp_path / f"e{i}.weights.pt")
        exports[-1].write_bytes(b"w" * 1000)
    big = tmp_path / "big.weights.pt"
    with open(big, "wb") as f:
        f.truncate(gpu_carry.MAX_BYTES + 1)
    packed = gpu_carry.pack_results(work, out, [big, *exports])
    assert packed["limits_hold"]
    # results.tar.gz + 6 exports + summary.json (written by the check) = 8
    assert len(packed["files"]) == 7 and (out / "results.tar.gz").is_file()
    assert any(name.startswith("big.weights.pt") for name in packed["left_out"])
    assert len(packed["left_out"]) == 3  # the oversized one and two beyond the count
    unpacked = gpu_carry.unpack_results(out, tmp_path / "back")
    assert (unpacked / "runs" / "log.csv").read_text() == "iteration\n0\n"
    assert not (unpacked / "runs" / "checkpoint.pt").exists()


def test_build_carry_holds_plugin_and_reference_curves(tmp_path: Path, params: Params) -> None:
    carry = tmp_path / "carry"
    carry.mkdir()
    make_phrase_file(carry / gpu_carry.TENSOR, n=2)  # stands in for the built tensor
    round1 = tmp_path / "round1"
    round1.mkdir()
    (round1 / "summary.json").write_text("{}")
    (round1 / "pretrain_proposed.weights.pt").write_bytes(b"w")
    (round1 / "pretrain_baseline.weights.pt").write_bytes(b"w")  # not needed by stage two
    info = gpu_carry.build_carry(params, carry, round1)
    files = json.loads((carry / "carry.json").read_text())["files"]
    assert files == info["files"]
    assert "plugin/libh5zstd.so" in files
    assert sum(k.startswith("reference_runs/") for k in files) == 9
    assert "round1/pretrain_proposed.weights.pt" in files
    assert "round1/pretrain_baseline.weights.pt" not in files
    assert info["total_bytes"] == sum(files.values()) < gpu_carry.MAX_CARRY
