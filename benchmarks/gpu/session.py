"""One call of the GPU check: its settings, its folders, clock and summary, and its workers.

The settings block below is the one place that says what ``python -m benchmarks.gpu`` runs; the
phases (``benchmarks.gpu.phases``) read it, and ``benchmarks.gpu.workers`` runs the trainings as
separate processes that ``start_worker`` starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------------------
# Settings: the one place where what the check runs is listed. The speed options are params
# (optim.compile, optim.bf16, optim.tf32, optim.grouped, optim.noise_device; docs/gpu_speed.md):
# each setting below is a params override, applied by the training code itself
# (device.configure_device).
# ------------------------------------------------------------------------------------------------
BASE_PARAMS = "params.yaml"
PAPER_OVERLAY = "configs/paper.yaml"  # the paper's setting over it: batch 32 / 16, bursts of 100
TINY = {  # --tiny: every length, batch and width cut to the least that runs every code path
    "model": {"width": 0.125},
    "optim": {"n_critic": 1, "n_critic_burst": 2, "burst_first_iterations": 1, "monitor_every": 2},
    "pretrain": {"batch_size": 2, "n_iterations": 100000},  # the deadline stops them
    "train": {"batch_size": 2, "n_iterations": 100000, "n_iterations_end2end": 100000},
    "sample": {"n_phrases_pretrain": 8, "n_phrases_binary": 8, "batch_size": 8},
    "metrics": {"chunk_size": 8},
}
ALWAYS = {  # no previews there (drawn later on the CPU); the paper's two metric modes only
    "sample": {"n_midi": 0, "n_audio": 0},
    "metrics": {"modes": ["paper", "musical"]},
}
OPTIONAL = {"optim": {"noise_device": "cpu"}}  # keys set only where the params accept them
# The trainings use TF32 (the faithful default, optim.tf32: false, is IEEE fp32 everywhere).
TRAIN_OVERRIDES = {"optim": {"tf32": True}}
SPEED_SETTINGS = {  # name: (params overrides, TF32 on)
    "fp32": ({"optim": {"bf16": False, "compile": False, "tf32": False}}, False),
    "tf32": ({"optim": {"bf16": False, "compile": False, "tf32": True}}, True),
    "bf16": ({"optim": {"bf16": True, "compile": False, "tf32": True}}, True),
    "grouped": ({"optim": {"bf16": False, "compile": False, "tf32": True, "grouped": True}}, True),
    # last: compilation takes the longest, and a setting past the phase's share is not measured
    "compile": ({"optim": {"bf16": False, "compile": True, "tf32": True}}, True),
}
SPEED_RUNS = (("pretrain", "proposed"), ("train", "twostage_dbn"))
SPEED_ITERATIONS, SPEED_WARMUP, SPEED_PHRASES = 30, 8, 512  # tiny: 3, 1, the tiny tensor
EQUALITY_ITERATIONS, EQUALITY_BATCH = 2, 4  # stage one, one critic step: 4 updates
EQUALITY_TOLERANCE = 10.0  # the device may be this many times farther from fp64 than the CPU
STAGE_ONE = ("proposed", "ablated", "baseline")
STAGE_TWO = ("twostage_dbn", "twostage_sbn", "joint_dbn", "joint_sbn", "end2end_dbn", "end2end_sbn")
TINY_PHRASES = 24
SHARES = {"equality": 60, "speed": 120, "after_train": 75}  # seconds at most
# --tiny checks that everything works, not how fast: generous caps (a busy 2-core CPU can take
# half a minute per tiny iteration), trainings stopped by their deadline after TRAIN_WINDOW_TINY.
TINY_SHARES = {"equality": 600, "speed": 900, "after_train": 600}
TRAIN_MARGIN = 30  # seconds between a training's deadline and its kill: the last iteration, writes
TRAIN_WINDOW_TINY = 20  # seconds of training with --tiny (at least one iteration is always done)
SAMPLE_RESERVE = 12  # seconds kept for packing when sample sets are drawn

sys.path.insert(0, str(ROOT))
from benchmarks.gpu import carry as gpu_carry  # noqa: E402


def use_carried_plugin(carry: Path | None) -> None:
    """Point HDF5 at the carried Zstandard filter when hdf5plugin is missing (before h5py)."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        if carry is not None and (carry / gpu_carry.PLUGIN).is_dir():
            os.environ["HDF5_PLUGIN_PATH"] = str((carry / gpu_carry.PLUGIN).resolve())


# ------------------------------------------------------------------------------------------------
# Params and workers
# ------------------------------------------------------------------------------------------------


def merge(base: dict, extra: dict, source: str) -> dict:
    """``base`` with the params overlay ``extra`` on top (``pipeline.config.merge_overlay``: a key
    that params.yaml does not know is an error naming ``source``)."""
    from pipeline.config import merge_overlay

    return merge_overlay(base, extra, source) if extra else dict(base)


def accepted_optional() -> dict:
    """The OPTIONAL keys that ``pipeline.config`` knows (the others are reported, not set)."""
    import dataclasses

    from pipeline import config

    out: dict = {}
    for section, keys in OPTIONAL.items():
        cls = getattr(config, section.capitalize())
        names = {f.name for f in dataclasses.fields(cls)}
        accepted = {k: v for k, v in keys.items() if k in names}
        if accepted:
            out[section] = accepted
    return out


class Check:
    """One call: its options, folders, clock and summary (written to ``out`` after each phase)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.tiny, self.device = args, args.tiny, args.device
        self.t0 = time.time()
        budget = args.budget_s or (3000 if args.tiny else 450)
        self.deadline = self.t0 + budget
        self.share = TINY_SHARES if args.tiny else SHARES
        self.out = Path(args.out)
        self.work = Path(args.work or tempfile.mkdtemp(prefix="gpu_check_"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.carry = Path(args.carry) if args.carry else None
        self.summary: dict[str, Any] = {"phases": {}, "budget_s": budget, "tiny": self.tiny}
        self.exports: list[Path] = []
        self.tensor = self._tensor()
        self.base = self._base_params()

    def _tensor(self) -> Path:
        carried = self.carry / gpu_carry.TENSOR if self.carry else None
        source = Path(self.args.tensor) if self.args.tensor else carried
        if self.tiny:
            tracks = gpu_carry.TINY_TRACKS
            return gpu_carry.tiny_tensor(source, self.work / "tiny.h5", TINY_PHRASES, tracks)
        if source is None or not source.is_file():
            raise SystemExit(f"error: no tensor ({source}); build the carry or pass --tensor")
        return source

    def _base_params(self) -> dict:
        import yaml

        base = yaml.safe_load((ROOT / BASE_PARAMS).read_text())
        # the paper's setting is an overlay of params.yaml (configs/paper.yaml names its keys only)
        overlay = TINY if self.tiny else yaml.safe_load((ROOT / PAPER_OVERLAY).read_text())
        base = merge(base, overlay, "--tiny" if self.tiny else PAPER_OVERLAY)
        base = merge(base, ALWAYS, "the GPU check's fixed settings")
        return merge(base, {"optim": {"device": self.device}, **accepted_optional()}, "--device")

    def params_file(self, name: str, extra: dict | None = None) -> Path:
        """A validated params file of the base params with ``extra`` on top."""
        import yaml

        from pipeline.config import params_from_dict

        data = merge(self.base, extra or {}, name)
        path = self.work / "params" / f"{name}.yaml"
        params_from_dict(data, str(path))  # a bad setting fails here, not in a worker
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def left(self) -> float:
        return self.deadline - time.time()

    def save(self) -> None:
        from pipeline.io import write_json

        self.summary["elapsed_s"] = round(time.time() - self.t0, 1)
        write_json(self.out / "summary.json", self.summary)

    def phase(self, name: str, fn: Any, *args: Any) -> dict[str, Any]:
        """Run one phase; its failure is recorded, not raised."""
        start = time.time()
        try:
            result = fn(self, *args) or {}
        except Exception as error:
            (self.work / "logs").mkdir(exist_ok=True)
            (self.work / "logs" / f"{name}.traceback.txt").write_text(traceback.format_exc())
            result = {"status": "failed", "error": f"{type(error).__name__}: {str(error)[:300]}"}
        result.setdefault("status", "ok")
        result["seconds"] = round(time.time() - start, 1)
        self.summary["phases"][name] = result
        self.save()
        return result


# ------------------------------------------------------------------------------------------------
# Worker processes (benchmarks/gpu/workers.py)
# ------------------------------------------------------------------------------------------------


def start_worker(check: Check, kind: str, name: str, spec: dict) -> subprocess.Popen:
    """``python -m benchmarks.gpu.workers kind spec.json``, its output in logs/<name>.log."""
    spec_path = check.work / "specs" / f"{name}.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=1))
    (check.work / "logs").mkdir(exist_ok=True)
    log = open(check.work / "logs" / f"{name}.log", "w")  # noqa: SIM115 (the child holds it)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    if check.device == "cpu" and kind != "speed":
        env["OMP_NUM_THREADS"] = "1"  # parallel workers on a CPU: one thread each
    cmd = [sys.executable, "-m", "benchmarks.gpu.workers", kind, str(spec_path)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_all(procs: dict[str, subprocess.Popen], until: float) -> dict[str, int | None]:
    """Wait for every process until the wall-clock ``until``; kill what is still running."""
    codes: dict[str, int | None] = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(until - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes[name] = None  # killed at the deadline
    return codes


def run_spec(check: Check, stage: str, name: str, params: Path, root: Path, **extra: Any) -> dict:
    return {
        "params": str(params),
        "stage": stage,
        "name": name,
        "tensor": str(check.tensor),
        "out_dir": str(root / stage / name),
        "snapshot_dir": str(root / "snapshots" / stage / name),
        **extra,
    }
