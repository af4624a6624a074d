"""One command for a lent GPU machine: check, measure, train, sample, evaluate (docs/gpu.md).

    python -m benchmarks.gpu_check --build-carry gpu_carry            # here, once (< 64 MiB)
    PYTHONPATH=. python -m benchmarks.gpu_check --carry gpu_carry --out $OUT      # GPU, 1st call
    PYTHONPATH=. python -m benchmarks.gpu_check --carry gpu_carry --out $OUT \\
        --continue gpu_carry/round1                                   # GPU, 2nd call: stage two
    python -m benchmarks.gpu_check --plot RESULTS_DIR --out plots/     # here: the curves
    python -m benchmarks.gpu_check --device cpu --tiny --out /tmp/x   # CI: all of it, tiny

Phases, in order, each catching its own failure and writing ``summary.json`` as it goes:

env       Python, torch, CUDA, the GPU and its memory, which optional params keys exist
equality  the first updates (stage one, 2 iterations) on the device and on the CPU, both judged
          against an fp64 reference on the CPU; needs the noise drawn on the CPU
          (``optim.noise_device: cpu``) and says "not available" where the params lack it
speed     iterations per second and peak memory per setting (SPEED_SETTINGS) at the paper's batch
          sizes, 32 in stage one and 16 in stage two
train     the three stage-one trainings (paper: configs/paper.yaml) as parallel processes on the one
          device until a deadline; each stops cleanly with a checkpoint and its log (a second
          call: the stage-two and end-to-end runs from the first call's proposed-D export)
sample    HT and BS sample sets of every trained stage-one model (binary models: their own output)
          and every metric of each in both modes, through the sample and evaluate stages' code
plot      the monitoring curves (EB, QN, PP, TD against the global step) beside the original runs'
pack      results.tar.gz (logs, CSVs, JSON, plots) and weights-only exports, at most 8 files of at
          most 16 MiB in ``--out``, with summary.json; the sizes are checked and reported

The budget (``--budget-s``; default 450 s on a device, 3000 s with ``--tiny``) is kept to the
second: the trainings get what is left after the other phases' shares and stop at their deadline.
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

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------------
# Settings: the one place where what the check runs is listed. The speed options are params
# (optim.compile, optim.bf16, optim.tf32, optim.grouped, optim.noise_device; docs/gpu_speed.md):
# each setting below is a params override, applied by the training code itself
# (runner.configure_device).
# ------------------------------------------------------------------------------------------------
BASE_PARAMS = "params.yaml"
PAPER_OVERLAY = "configs/paper.yaml"  # the paper's setting over it: batch 32 / 16, bursts of 100
TINY = {  # --tiny: every length and batch cut to the least that runs every code path
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
from benchmarks import gpu_carry  # noqa: E402


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


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def accepted_optional() -> dict:
    """The OPTIONAL keys that ``pipeline.config`` knows (the others are reported, not set)."""
    import dataclasses

    from pipeline import config

    out: dict = {}
    for section, keys in OPTIONAL.items():
        cls = getattr(config, section.capitalize())
        names = {f.name for f in dataclasses.fields(cls)}
        out[section] = {k: v for k, v in keys.items() if k in names}
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
        base = merge(base, overlay)
        return merge(merge(base, ALWAYS), {"optim": {"device": self.device}, **accepted_optional()})

    def params_file(self, name: str, extra: dict | None = None) -> Path:
        """A validated params file of the base params with ``extra`` on top."""
        import yaml

        from pipeline.config import params_from_dict

        data = merge(self.base, extra or {})
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
# Worker processes (benchmarks/gpu_workers.py)
# ------------------------------------------------------------------------------------------------


def start_worker(check: Check, kind: str, name: str, spec: dict) -> subprocess.Popen:
    """``python -m benchmarks.gpu_workers kind spec.json``, its output in logs/<name>.log."""
    spec_path = check.work / "specs" / f"{name}.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=1))
    (check.work / "logs").mkdir(exist_ok=True)
    log = open(check.work / "logs" / f"{name}.log", "w")  # noqa: SIM115 (the child holds it)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    if check.device == "cpu" and kind != "speed":
        env["OMP_NUM_THREADS"] = "1"  # parallel workers on a CPU: one thread each
    cmd = [sys.executable, "-m", "benchmarks.gpu_workers", kind, str(spec_path)]
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="results folder (what comes back)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="everything scaled down (CI, CPU)")
    parser.add_argument("--carry", type=Path, help="the carry folder (--build-carry)")
    parser.add_argument("--tensor", type=Path, help="training tensor (default: the carry's)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--budget-s", type=float, help="wall-clock budget of the whole call")
    parser.add_argument("--continue", dest="from_dir", type=Path, help="a first call's results")
    parser.add_argument("--build-carry", type=Path, help="build the carry folder and exit")
    parser.add_argument("--round1", type=Path, help="with --build-carry: a first call's results")
    parser.add_argument("--plot", type=Path, help="draw the curves of returned results and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.build_carry:
        from pipeline.config import load_params

        info = gpu_carry.build_carry(
            load_params(ROOT / "params.yaml"), args.build_carry, args.round1
        )
        mib, n = info["total_bytes"] / 2**20, len(info["files"])
        print(f"{args.build_carry}: {mib:.1f} MiB in {n} files")
        return 0
    if args.out is None:
        raise SystemExit("error: --out is required")
    use_carried_plugin(args.carry)
    from benchmarks.gpu_phases import (
        phase_env,
        phase_equality,
        phase_pack,
        phase_plot,
        phase_sample,
        phase_speed,
        phase_train,
        print_table,
    )

    if args.plot:
        return phase_plot_only(args)
    check = Check(args)
    phase_list: list[tuple[str, Any]] = [("env", phase_env)]
    if args.from_dir is None or _failed(args.from_dir, "equality"):
        phase_list.append(("equality", phase_equality))
    if args.from_dir is None or _failed(args.from_dir, "speed"):
        phase_list.append(("speed", phase_speed))
    phase_list += [("train", phase_train), ("sample", phase_sample), ("plot", phase_plot)]
    for name, fn in phase_list:
        check.phase(name, fn)
    check.phase("pack", phase_pack)
    print_table(check.summary)
    failed = [n for n, p in check.summary["phases"].items() if p["status"] == "failed"]
    return 1 if failed else 0


def _failed(from_dir: Path, phase: str) -> bool:
    """Whether ``phase`` failed in the first call (a second call reruns only what failed)."""
    try:
        summary = json.loads((from_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return True
    return summary.get("phases", {}).get(phase, {}).get("status") == "failed"


def phase_plot_only(args: argparse.Namespace) -> int:
    """``--plot RESULTS``: unpack a returned results.tar.gz and draw its curves here."""
    from benchmarks.gpu_phases import draw_curves

    with tempfile.TemporaryDirectory() as tmp:
        work = gpu_carry.unpack_results(args.plot, Path(tmp))
        drawn = draw_curves(work / "runs", args.carry, args.out)
    print(f"{len(drawn)} plots in {args.out}")
    return 0


if __name__ == "__main__":
    # Through the package module, so that gpu_phases sees this module's settings (one copy).
    from benchmarks.gpu_check import main as package_main

    sys.exit(package_main())
