"""Training speed of each stage per speed setting on the available device, beside the FLOP floor.

    python benchmarks/bench_training.py [--iterations 1] [--device auto]
        [--settings eager,compile_critic,compile,bf16] [--only proposed] [--batch-scale 1]

For stage one (G proposed + D proposed, batch 32), two-stage SBN (batch 16) and end-to-end SBN
(batch 16) it times regular iterations (5 critic steps + 1 generator step, as after the initial
burst) on random sparse data with 8 tracks, for each setting (docs/gpu.md):

* ``eager``: today's default, fp32, nothing compiled (the per-track ``split`` is always on);
* ``compile_critic``: the critic loss compiled (``compiled_critic_loss``), G and R eager;
* ``compile``: ``optim.compile``, G, R and the critic loss compiled;
* ``grouped``: ``optim.grouped``, D's and R's private networks as grouped convolutions, eager;
* ``bf16``: ``optim.bf16``, bf16 autocast of the forward passes, eager (on CUDA; on the CPU the
  critic's double backward in bf16 is pathologically slow in torch 2.13, see docs/gpu.md).

It prints, per setting: the first iteration's time (compilation and kernel selection included)
apart from the steady state; iterations per second and seconds per critic / generator step; the
FLOPs of one iteration (``torch.utils.flop_counter.FlopCounterMode`` over one eager iteration at
batch 2, scaled linearly to the batch: convolutions and matmuls, forward, backward and the
gradient penalty's double backward) and the floor they imply at an assumed peak FLOP/s (stated);
for stage one, the projected wall time of the paper's 8,580 iterations (docs/model.md, section 4.5).

The paper's batches are timed directly on every device (about a minute per stage-one iteration on
a two-core CPU; keep ``--iterations 1`` there). ``--batch-scale`` times smaller batches and
extrapolates linearly (FLOPs are exactly linear in the batch; CPU time nearly).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cli import count, first_paragraph, params_arg, positive_float  # noqa: E402
from pipeline.config import Optim, Params  # noqa: E402
from pipeline.models.grouped import use_grouped_tracks  # noqa: E402
from pipeline.training.critic_loss import compiled_critic_loss  # noqa: E402
from pipeline.training.data import TrainingData, latent  # noqa: E402
from pipeline.training.device import (  # noqa: E402
    compile_networks,
    configure_device,
    pick_device,
)
from pipeline.training.experiments import build_networks, run_config  # noqa: E402
from pipeline.training.gan import (  # noqa: E402
    LoopConfig,
    autocast,
    critic_phase,
    generator_phase,
)
from pipeline.training.runner import _optimizers  # noqa: E402
from pipeline.training.schedule import global_steps  # noqa: E402

PAPER_ITERATIONS = 8580
N_TRACKS = 8
RUNS = (("pretrain", "proposed", 32), ("train", "twostage_sbn", 16), ("train", "end2end_sbn", 16))
SETTINGS = ("eager", "compile_critic", "compile", "grouped", "bf16")
FLOP_BATCH = 2  # FLOPs are counted at this batch and scaled (every network is linear in it)


def assumed_peak(device: torch.device, bf16: bool, tf32: bool = False) -> tuple[float, str]:
    """Peak FLOP/s assumed for the floor, and how it was assumed."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        # Dense peaks (SXM), the same on H100 and H200: bf16 989 / TF32 495 TFLOP/s on the tensor
        # cores, 67 TFLOP/s IEEE fp32 (the runner's default, ``optim.tf32: false``).
        if "H100" in name or "H200" in name:
            if bf16:
                return 989e12, f"{name} bf16 dense"
            return (495e12, f"{name} TF32 dense") if tf32 else (67e12, f"{name} IEEE fp32")
        return 100e12, f"{name} (unknown; 100 TFLOP/s assumed)"
    threads = torch.get_num_threads()
    # AVX2 FMA: 2 units x 8 fp32 lanes x 2 FLOP = 32 FLOP/cycle/core at an assumed 3 GHz.
    return threads * 32 * 3e9, f"CPU, {threads} threads x 32 FLOP/cycle x 3 GHz (assumed)"


def paper_schedule(params: Params) -> Optim:
    """The original's critic schedule (params.yaml holds the demo's shorter bursts)."""
    return dataclasses.replace(
        params.optim, n_critic=5, n_critic_burst=100, burst_first_iterations=25, burst_every=500
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_iteration(nets, opts, data, cfg, it: int) -> tuple[float, float]:
    """One regular iteration (5 critic steps + 1 generator step); (critic s, generator s)."""
    real = data.batch(it)
    z = latent(0, "z", it, real.shape[0], cfg.z_dim, cfg.device)
    sync(cfg.device)
    t0 = time.perf_counter()
    with torch.no_grad(), autocast(cfg):
        x_hat = nets.generator(z).float()
    critic_phase(nets, opts["discriminator"], real, x_hat, cfg.optim.n_critic, cfg)
    sync(cfg.device)
    t1 = time.perf_counter()
    generator_phase(nets, opts["generator"], z, x_hat, cfg)
    sync(cfg.device)
    return t1 - t0, time.perf_counter() - t1


def setup(params: Params, stage: str, name: str, batch: int, device, setting: str):
    """Networks, optimizers, random sparse data and loop config of one run in one setting."""
    source = run_config(params, "pretrain", "proposed", N_TRACKS, None)
    run = run_config(params, stage, name, N_TRACKS, source)
    run["batch_size"] = batch
    torch.manual_seed(0)
    nets = build_networks(run).to(device)
    nets.set_modes()
    bf16 = setting == "bf16"
    critic_loss = None
    if setting == "compile":
        critic_loss = compile_networks(nets, bf16)
    elif setting == "compile_critic":
        critic_loss = compiled_critic_loss(nets.discriminator, bf16)
    elif setting == "grouped":
        for module in nets.modules().values():
            use_grouped_tracks(module)
    opts = _optimizers(nets, params, device)
    phrases = torch.rand((2 * batch, 4, 96, 84, N_TRACKS), device=device) < 0.01
    data = TrainingData(phrases, batch, 0)
    cfg = LoopConfig(params.optim, 1, False, run["z_dim"], device, bf16, critic_loss=critic_loss)
    return run, nets, opts, data, cfg


def count_flops(params: Params, stage: str, name: str, batch: int, device) -> float:
    """FLOPs of one eager iteration at ``batch``, counted at ``FLOP_BATCH`` and scaled."""
    _, nets, opts, data, cfg = setup(params, stage, name, FLOP_BATCH, device, "eager")
    with FlopCounterMode(display=False) as counter:
        one_iteration(nets, opts, data, cfg, 0)
    return counter.get_total_flops() * batch / FLOP_BATCH


def bench(
    params: Params,
    stage: str,
    name: str,
    paper_batch: int,
    scale: float,
    n_iter: int,
    device,
    setting: str,
    flops: float,
    tf32: bool = False,
) -> None:
    """Time one first iteration and ``n_iter`` steady ones of one run; print the figures."""
    batch = max(1, round(paper_batch * scale))
    factor = paper_batch / batch  # linear extrapolation to the paper's batch
    run, nets, opts, data, cfg = setup(params, stage, name, batch, device, setting)
    first = sum(one_iteration(nets, opts, data, cfg, 0))  # compilation, kernel selection
    times = [one_iteration(nets, opts, data, cfg, 1 + i) for i in range(n_iter)]
    t_c = sum(t[0] for t in times) / n_iter / cfg.optim.n_critic
    t_g = sum(t[1] for t in times) / n_iter
    t_it = cfg.optim.n_critic * t_c + t_g
    peak, _ = assumed_peak(device, setting == "bf16", tf32)
    flops_b = flops / factor
    print(
        f"{run['name']:<18} {setting:<15} batch {batch:>2}: first iteration {first:8.2f} s;"
        f" steady {1 / t_it:8.4f} it/s ({t_it:.3f} s/it; critic step {t_c:.3f} s, generator"
        f" step {t_g:.3f} s); {flops_b / 1e12:.3f} TFLOP/it, floor {flops_b / peak:.4f} s/it"
        f" ({flops_b / peak / t_it:.1%} of peak)",
        flush=True,
    )
    if factor != 1:
        t_c, t_g, t_it = t_c * factor, t_g * factor, t_it * factor
        print(
            f"{'':<34} extrapolated to batch {paper_batch}: {1 / t_it:8.4f} it/s "
            f"({t_it:.3f} s/it); {flops / 1e12:.3f} TFLOP/it, floor {flops / peak:.4f} s/it",
            flush=True,
        )
    if stage == "pretrain":
        steps = global_steps(PAPER_ITERATIONS, paper_schedule(params), initial_burst=True)
        n_critic_total = steps - PAPER_ITERATIONS
        projected = n_critic_total * t_c + PAPER_ITERATIONS * t_g
        floor = flops / peak / (cfg.optim.n_critic + 1) * steps
        print(
            f"{'':<34} paper stage one: {PAPER_ITERATIONS} iterations = {steps} steps "
            f"({n_critic_total} critic): projected {projected / 3600:.2f} h "
            f"(FLOP floor {floor / 3600:.3f} h)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "--params",
        type=params_arg,
        default="params.yaml",
        help="the params file: model, optim and metric settings (default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=count,
        default=None,
        help="timed iterations per run after the first (default: 10 on CUDA, 1 on CPU)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto = CUDA when present, else CPU (default: auto)",
    )
    parser.add_argument(
        "--settings",
        default=None,
        help=f"comma-separated, of {SETTINGS} (default: all; on the CPU all but bf16)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="run only the stages whose name contains this (e.g. proposed; default: all)",
    )
    parser.add_argument(
        "--batch-scale",
        type=positive_float,
        default=None,
        help="batch = paper batch x this (default 1: the paper's batches)",
    )
    parser.add_argument("--tf32", action="store_true", help="CUDA: optim.tf32 (default IEEE fp32)")
    args = parser.parse_args(argv)
    params = args.params
    device = pick_device(args.device)
    default = SETTINGS if device.type == "cuda" else SETTINGS[:-1]
    settings = args.settings.split(",") if args.settings else list(default)
    if unknown := set(settings) - set(SETTINGS):
        parser.error(f"unknown settings {sorted(unknown)}; known: {SETTINGS}")
    configure_device(device, args.tf32)
    n_iter = args.iterations or (10 if device.type == "cuda" else 1)
    scale = args.batch_scale or 1.0
    print(
        f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()};"
        f" cpus {os.cpu_count()}; tf32 {args.tf32 and device.type == 'cuda'};"
        f" {n_iter} timed iteration(s) per run after the first; batch scale {scale}",
        flush=True,
    )
    for bf16 in sorted({s == "bf16" for s in settings}):
        peak, how = assumed_peak(device, bf16, args.tf32)
        print(f"assumed peak ({'bf16' if bf16 else 'fp32'}): {peak / 1e12:.2f} TFLOP/s, {how}")
    for stage, name, batch in RUNS:
        if args.only is None or args.only in name:
            flops = count_flops(params, stage, name, batch, device)
            for setting in settings:
                bench(params, stage, name, batch, scale, n_iter, device, setting, flops, args.tf32)


if __name__ == "__main__":
    main()
