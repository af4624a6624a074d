"""Training speed of each stage on the available device, beside the FLOP floor.

    python benchmarks/bench_training.py [--iterations 3] [--device auto] [--bf16] [--compile]

For stage one (G proposed + D proposed, batch 32), two-stage SBN (batch 16) and end-to-end SBN
(batch 16) it times regular iterations (5 critic steps + 1 generator step, as after the initial
burst) on random sparse data with 8 tracks, and prints:

* iterations per second and seconds per critic step / generator step;
* the FLOPs of one iteration (``torch.utils.flop_counter.FlopCounterMode``: convolutions and
  matmuls, forward, backward and the gradient penalty's double backward) and the floor they
  imply at an assumed peak FLOP/s (stated in the output);
* for stage one, the projected wall time of the paper's 8,580 iterations (20 epochs at batch
  32: 46,890 critic steps + 8,580 generator steps, spec 3.3).

On a CPU the paper's batches take minutes per iteration, so by default the batches are scaled by
``--batch-scale 0.125`` (4, 2, 2) and one iteration is timed; the figures at the paper's batch are
then extrapolated linearly in the batch size (FLOPs are exactly linear in it; CPU time nearly).
On CUDA the paper's batches are timed directly.
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

from pipeline.config import Optim, Params  # noqa: E402
from pipeline.stages.cli import count, first_paragraph, params_arg, positive_float  # noqa: E402
from pipeline.training.data import TrainingData, latent  # noqa: E402
from pipeline.training.experiments import build_networks, run_config  # noqa: E402
from pipeline.training.gan import (  # noqa: E402
    LoopConfig,
    autocast,
    critic_phase,
    generator_phase,
)
from pipeline.training.runner import _optimizers, pick_device  # noqa: E402
from pipeline.training.schedule import global_steps  # noqa: E402

PAPER_ITERATIONS = 8580
N_TRACKS = 8
RUNS = (("pretrain", "proposed", 32), ("train", "twostage_sbn", 16), ("train", "end2end_sbn", 16))


def assumed_peak(device: torch.device, bf16: bool) -> tuple[float, str]:
    """Peak FLOP/s assumed for the floor, and how it was assumed."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        # Dense tensor-core peaks (SXM): bf16 989 / TF32 495 TFLOP/s on H100, the same on H200.
        # PyTorch runs fp32 convolutions in TF32 by default (cudnn.allow_tf32).
        if "H100" in name or "H200" in name:
            return (989e12, f"{name} bf16 dense") if bf16 else (495e12, f"{name} TF32 dense")
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


def bench(
    params: Params,
    stage: str,
    name: str,
    paper_batch: int,
    scale: float,
    n_iter: int,
    device,
    compile_: bool,
) -> None:
    """Time ``n_iter`` iterations of one run after one warm-up; print the figures."""
    batch = max(1, round(paper_batch * scale))
    factor = paper_batch / batch  # linear extrapolation to the paper's batch
    source = run_config(params, "pretrain", "proposed", N_TRACKS, None)
    run = run_config(params, stage, name, N_TRACKS, source)
    run["batch_size"] = batch
    torch.manual_seed(0)
    nets = build_networks(run).to(device)
    nets.set_modes()
    if compile_ and device.type == "cuda":
        for module in (nets.generator, nets.refiner):
            if module is not None:
                module.compile()
    opts = _optimizers(nets, params)
    phrases = torch.rand((2 * batch, 4, 96, 84, N_TRACKS), device=device) < 0.01
    data = TrainingData(phrases, batch, 0)
    cfg = LoopConfig(params.optim, 1, False, run["z_dim"], device, params.optim.bf16)
    one_iteration(nets, opts, data, cfg, 0)  # warm-up (kernel selection, compilation)
    with FlopCounterMode(display=False) as counter:
        one_iteration(nets, opts, data, cfg, 1)
    flops = counter.get_total_flops()
    times = [one_iteration(nets, opts, data, cfg, 2 + i) for i in range(n_iter)]
    t_c = sum(t[0] for t in times) / n_iter / cfg.optim.n_critic
    t_g = sum(t[1] for t in times) / n_iter
    t_it = cfg.optim.n_critic * t_c + t_g
    peak, _ = assumed_peak(device, params.optim.bf16)
    print(
        f"{run['name']:<18} measured at batch {batch:>2}: {1 / t_it:8.4f} it/s ({t_it:.3f} s/it;"
        f" critic step {t_c:.3f} s, generator step {t_g:.3f} s); {flops / 1e9:.1f} GFLOP/it,"
        f" floor {flops / peak:.4f} s/it ({flops / peak / t_it:.1%} of peak)",
        flush=True,
    )
    if factor != 1:
        t_c, t_g, t_it, flops = t_c * factor, t_g * factor, t_it * factor, flops * factor
        print(
            f"{'':<18} extrapolated to batch {paper_batch}: {1 / t_it:8.4f} it/s "
            f"({t_it:.3f} s/it); {flops / 1e9:.1f} GFLOP/it, floor {flops / peak:.4f} s/it",
            flush=True,
        )
    if stage == "pretrain":
        steps = global_steps(PAPER_ITERATIONS, paper_schedule(params), initial_burst=True)
        n_critic_total = steps - PAPER_ITERATIONS
        projected = n_critic_total * t_c + PAPER_ITERATIONS * t_g
        floor = flops / peak / (cfg.optim.n_critic + 1) * steps
        print(
            f"  paper stage one: {PAPER_ITERATIONS} iterations = {steps} steps "
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
        help="timed iterations per run (default: 20 on CUDA, 2 on CPU)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto = CUDA when present, else CPU (default: auto)",
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--compile", action="store_true", help="torch.compile G and R (CUDA only)")
    parser.add_argument(
        "--only",
        default=None,
        help="run only the stages whose name contains this (e.g. proposed; default: all)",
    )
    parser.add_argument(
        "--batch-scale",
        type=positive_float,
        default=None,
        help="batch = paper batch x this (default 1 on CUDA, 0.125 on CPU)",
    )
    args = parser.parse_args(argv)
    params = args.params
    params = dataclasses.replace(params, optim=dataclasses.replace(params.optim, bf16=args.bf16))
    device = pick_device(args.device)
    n_iter = args.iterations or (20 if device.type == "cuda" else 2)
    scale = args.batch_scale or (1.0 if device.type == "cuda" else 0.125)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    peak, how = assumed_peak(device, args.bf16)
    print(
        f"device {device} ({how}: {peak / 1e12:.2f} TFLOP/s assumed peak); torch "
        f"{torch.__version__}; threads {torch.get_num_threads()}; cpus {os.cpu_count()}; "
        f"bf16 {args.bf16}; compile {args.compile}; {n_iter} timed iteration(s) per run; "
        f"batch scale {scale}",
        flush=True,
    )
    for stage, name, batch in RUNS:
        if args.only is None or args.only in name:
            bench(params, stage, name, batch, scale, n_iter, device, args.compile)


if __name__ == "__main__":
    main()
