"""The FLOPs of the paper's whole training DAG, and the time they take at a GPU's peak.

    python -m benchmarks.paper_flops [--overlay configs/paper.yaml]

For every training run of the paper's DAG at the paper's setting (``configs/paper.yaml``: three
stage-one runs of 6,160 iterations at batch 32; two-stage and joint runs of 4,936 and end-to-end
runs of 5,553 iterations at batch 16) this counts the FLOPs of one critic step and of the rest of
an iteration (G's forward pass and the generator step) with ``torch.utils.flop_counter`` at the
paper's width (convolutions and matrix products, forward, backward and the gradient penalty's
double backward; element-wise work is not counted), multiplies them by the run's critic steps
(the bursts of 100 included) and iterations, and prints each run's total and the DAG's.

It then prints the time the DAG's FLOPs take at the dense peaks of two GPUs in fp32, TF32 and
bf16 (``optim.tf32``, ``optim.bf16``). These are floors: a run reaches a fraction of the peak,
which ``python -m benchmarks.gpu`` measures on a GPU (its speed phase). Sampling and evaluation
are left out (a few seconds against hours).

FLOPs are counted at batch 2 and scaled linearly to each run's batch (every network is linear in
the batch). Cost: about a minute on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_training import FLOP_BATCH, one_iteration, setup
from pipeline.config import Params, load_params
from pipeline.errors import ConfigError
from pipeline.training.experiments import run_config
from pipeline.training.schedule import critic_steps_from

REPO = Path(__file__).resolve().parents[1]
STAGE_ONE = ("proposed", "ablated", "baseline")
STAGE_TWO = ("twostage_sbn", "twostage_dbn", "joint_sbn", "joint_dbn", "end2end_sbn", "end2end_dbn")
# Dense peaks in TFLOP/s (SXM parts; H200's equal H100's): fp32 on the CUDA cores, TF32 and bf16 on
# the tensor cores without sparsity.
PEAKS = {
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "H100": {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0},
}


def iteration_flops(params: Params, stage: str, name: str, n_critic: int) -> float:
    """FLOPs of one iteration with ``n_critic`` critic steps, at batch ``FLOP_BATCH``."""
    _, nets, opts, data, cfg = setup(params, stage, name, FLOP_BATCH, torch.device("cpu"), "eager")
    optim = dataclasses.replace(cfg.optim, n_critic=n_critic)
    with FlopCounterMode(display=False) as counter:
        one_iteration(nets, opts, data, dataclasses.replace(cfg, optim=optim), 0)
    return float(counter.get_total_flops())


def run_flops(params: Params, stage: str, name: str) -> dict[str, float]:
    """Iterations, critic steps and FLOPs of one run of the DAG at ``params``."""
    source = run_config(params, "pretrain", "proposed", 8, None)
    run = run_config(params, stage, name, 8, source)
    one, two = (iteration_flops(params, stage, name, n) for n in (1, 2))
    scale = run["batch_size"] / FLOP_BATCH
    per_critic, rest = (two - one) * scale, (2 * one - two) * scale
    n_iter = run["n_iterations"]
    critic = sum(critic_steps_from(params.optim, i, run["initial_burst"]) for i in range(n_iter))
    return {
        "batch": run["batch_size"],
        "iterations": n_iter,
        "critic_steps": critic,
        "critic_step_tflop": per_critic / 1e12,
        "rest_tflop": rest / 1e12,
        "pflop": (critic * per_critic + n_iter * rest) / 1e15,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.paper_flops", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--overlay",
        default=str(REPO / "configs" / "paper.yaml"),
        help="the params overlay whose DAG is counted (default: configs/paper.yaml)",
    )
    args = parser.parse_args(argv)
    try:
        params = load_params(REPO / "params.yaml", [args.overlay])
    except ConfigError as error:
        parser.error(str(error))
    print(
        f"{'run':<22} {'batch':>5} {'iterations':>10} {'critic steps':>12} "
        f"{'TFLOP/critic step':>17} {'TFLOP/rest':>10} {'PFLOP':>8}"
    )
    total = 0.0
    runs = [("pretrain", n) for n in STAGE_ONE] + [("train", n) for n in STAGE_TWO]
    for stage, name in runs:
        r = run_flops(params, stage, name)
        total += r["pflop"]
        print(
            f"{stage + ' ' + name:<22} {r['batch']:>5} {r['iterations']:>10} "
            f"{r['critic_steps']:>12} {r['critic_step_tflop']:>17.4f} {r['rest_tflop']:>10.4f} "
            f"{r['pflop']:>8.2f}",
            flush=True,
        )
    print(f"{'the DAG':<22} {'':>5} {'':>10} {'':>12} {'':>17} {'':>10} {total:>8.2f}")
    print("\nthe DAG's FLOPs at each peak (a floor: real runs reach a fraction of it)")
    for gpu, peaks in PEAKS.items():
        cells = ", ".join(
            f"{kind} {peak:g} TFLOP/s: {total * 1e15 / (peak * 1e12) / 3600:.2f} h"
            for kind, peak in peaks.items()
        )
        print(f"  {gpu}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
