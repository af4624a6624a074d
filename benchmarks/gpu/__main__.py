"""One command for a lent GPU machine: check, measure, train, sample, evaluate (docs/gpu.md).

    python -m benchmarks.gpu --build-carry gpu_carry            # here, once (< 64 MiB)
    PYTHONPATH=. python -m benchmarks.gpu --carry gpu_carry --out $OUT      # GPU, 1st call
    PYTHONPATH=. python -m benchmarks.gpu --carry gpu_carry --out $OUT \\
        --continue gpu_carry/round1                                   # GPU, 2nd call: stage two
    python -m benchmarks.gpu --plot RESULTS_DIR --out plots/     # here: the curves
    python -m benchmarks.gpu --device cpu --tiny --out /tmp/x   # CI: all of it, tiny

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
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.gpu import carry as gpu_carry
from benchmarks.gpu.session import ROOT, Check, use_carried_plugin


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
    from benchmarks.gpu.phases import (
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
    from benchmarks.gpu.phases import draw_curves

    with tempfile.TemporaryDirectory() as tmp:
        work = gpu_carry.unpack_results(args.plot, Path(tmp))
        drawn = draw_curves(work / "runs", args.carry, args.out)
    print(f"{len(drawn)} plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
