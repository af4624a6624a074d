"""Throughput of one training step of the networks, beside the floor implied by their FLOP count.

    python benchmarks/bench_models.py [--batch 32] [--reps 2] [--device auto|cpu|cuda] [--refiner]

Steps timed (forward + backward, phrases per second at ``--batch``):

* ``critic``: one stage-one critic step (docs/model.md, section 4.1): D on a real batch and on a
  fake batch, the gradient penalty on their interpolation (double backward), the WGAN-GP loss,
  backward into D. The fake batch is G's output computed beforehand, as the same z and G serve
  every critic step of an iteration (docs/model.md, section 4.3).
* ``generator``: one stage-one generator step: G(z), D, loss -mean D(fake), backward into G and D.
* ``g_forward``: G(z) without autograd (the fake batch of the critic steps).
* ``refiner`` (with ``--refiner``, always on a GPU): one stage-two refiner step at the same batch:
  R(G(z)) with G frozen, D, backward into R.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on a batch of 2 and scaled to the
batch (every network is linear in the batch); it counts matmuls and convolutions (forward, backward
and double backward), not elementwise ops. The floor is ``FLOPs / peak``, where the peak is the
measured throughput of a large dense matmul in the same dtype on the same device, stated in the
output. On a GPU it also times bf16 autocast and ``torch.compile``; and on any device it compares
one per-track module list with one grouped convolution (``groups=8``) for the private layers
(at batch 8 on the CPU). On the CPU each step runs once (``--reps 1``) after the FLOP count at
batch 2 has warmed up the kernels, to keep the run near two minutes on two cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pipeline.cli import count, first_paragraph
from pipeline.models import build_discriminator, build_generator, build_refiner

Step = Callable[[], None]


def gradient_penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP term of docs/model.md, section 4.1: mean (||dD/dx_int|| - 1)^2 on interpolations."""
    eps = torch.rand(real.shape[0], 1, 1, 1, 1, device=real.device)
    # clone(): a non-leaf input, which FlopCounterMode's module tracker needs under autograd.grad
    x_int = (eps * real + (1 - eps) * fake).requires_grad_(True).clone()
    (grad,) = torch.autograd.grad(d(x_int).sum(), x_int, create_graph=True)
    slope = torch.sqrt(1e-8 + grad.pow(2).sum(dim=(1, 2, 3, 4)))
    return ((slope - 1) ** 2).mean()


def make_steps(
    batch: int, device: torch.device, refiner: bool, autocast: bool, compile_: bool = False
) -> dict[str, Step]:
    """The timed steps, each a closure over fresh networks and data of ``batch`` phrases."""
    torch.manual_seed(0)
    g = build_generator("proposed").to(device)
    d = build_discriminator("proposed").to(device)
    r = build_refiner("dbn").to(device)
    if compile_:
        for net in (g, d, r):
            net.compile()
    z = torch.randn(batch, 128, device=device)
    real = (torch.rand(batch, 4, 96, 84, 8, device=device) < 0.05).float()
    with torch.no_grad():
        fake = g(z)
    amp = torch.autocast(device.type, torch.bfloat16) if autocast else nullcontext()

    def critic() -> None:
        with amp:
            loss = d(fake).mean() - d(real).mean() + 10.0 * gradient_penalty(d, real, fake)
        loss.backward()

    def generator() -> None:
        with amp:
            loss = -d(g(z)).mean()
        loss.backward()

    def g_forward() -> None:
        with torch.no_grad(), amp:
            g(z)

    def refiner_step() -> None:
        with amp:
            loss = -d(r(fake)).mean()
        loss.backward()

    steps = {"critic": critic, "generator": generator, "g_forward": g_forward}
    if refiner:
        steps["refiner"] = refiner_step
    return steps


def count_flops(step: Step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_step(step: Step, device: torch.device, reps: int, warm_up: bool = True) -> float:
    """Seconds per call, after one warm-up call unless ``warm_up`` is false."""
    if warm_up:
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        step()
    sync(device)
    return (time.perf_counter() - start) / reps


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Measured FLOP/s of a large dense matmul: the assumed peak of ``device`` in ``dtype``."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device.type == "cuda" else 4
    seconds = time_step(lambda: a @ b, device, reps)
    return 2 * n**3 / seconds


def report(label: str, batch: int, flops: dict[str, int], seconds: dict[str, float], peak: float):
    print(f"\n[{label}] batch {batch}, assumed peak {peak / 1e12:.3f} TFLOP/s (measured matmul)")
    head = ("step", "GFLOP", "s/step", "phrases/s", "floor ph/s", "of floor")
    print(f"{head[0]:<11} {head[1]:>9} {head[2]:>9} {head[3]:>10} {head[4]:>11} {head[5]:>9}")
    for name, secs in seconds.items():
        floor = flops[name] / peak
        print(
            f"{name:<11} {flops[name] / 1e9:>9.1f} {secs:>9.3f} {batch / secs:>10.1f} "
            f"{batch / floor:>11.1f} {floor / secs:>9.1%}"
        )


def run_variant(
    label: str,
    batch: int,
    device: torch.device,
    args: argparse.Namespace,
    autocast: bool = False,
    compile_: bool = False,
) -> None:
    small = make_steps(2, device, args.refiner, autocast)
    flops = {name: count_flops(step) * batch // 2 for name, step in small.items()}  # warms up too
    del small
    steps = make_steps(batch, device, args.refiner, autocast, compile_)
    warm_up = device.type == "cuda"  # the CPU's kernels need no warm-up beyond the FLOP count
    seconds: dict[str, float] = {}
    for name, step in steps.items():
        try:
            seconds[name] = time_step(step, device, args.reps, warm_up)
        except Exception as error:  # torch.compile cannot double-backward, for one
            print(f"[{label}] {name}: not run ({type(error).__name__}: {str(error)[:100]})")
    dtype = torch.bfloat16 if autocast else torch.float32
    report(label, batch, flops, seconds, matmul_peak(device, dtype))


def grouped_vs_list(batch: int, device: torch.device, reps: int) -> None:
    """G's private pitch-time branch: 8 separate modules vs one grouped transposed conv."""
    per_track = nn.ModuleList(
        nn.Sequential(
            nn.ConvTranspose3d(64, 64, (1, 1, 12), (1, 1, 12)),
            nn.ReLU(),
            nn.ConvTranspose3d(64, 32, (1, 6, 1), (1, 6, 1)),
        )
        for _ in range(8)
    ).to(device)
    grouped = nn.Sequential(
        nn.ConvTranspose3d(64, 512, (1, 1, 12), (1, 1, 12)),
        nn.ReLU(),
        nn.ConvTranspose3d(512, 256, (1, 6, 1), (1, 6, 1), groups=8),
    ).to(device)
    h = torch.randn(batch, 64, 4, 16, 7, device=device, requires_grad=True)
    t_list = time_step(
        lambda: torch.cat([m(h) for m in per_track], 1).sum().backward(), device, reps
    )
    t_group = time_step(lambda: grouped(h).sum().backward(), device, reps)
    print(
        f"\nG private pitch-time branch, batch {batch}, fwd+bwd: module per track "
        f"{t_list * 1e3:.1f} ms, one grouped conv {t_group * 1e3:.1f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--batch", type=count, default=32, help="batch size (default: 32)")
    parser.add_argument(
        "--reps", type=count, default=None, help="timed repetitions (default: 1 on CPU, 10 on CUDA)"
    )
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto = CUDA when present, else CPU (default: auto)",
    )
    parser.add_argument("--refiner", action="store_true", help="also time a stage-two step")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}"
        + (f", {torch.cuda.get_device_name()}" if cuda else "")
    )
    args.reps = args.reps or (10 if cuda else 1)
    if cuda:
        args.refiner = True
        torch.backends.cudnn.benchmark = True
    run_variant(f"{device.type} fp32", args.batch, device, args)
    if cuda:
        run_variant("cuda bf16 autocast", args.batch, device, args, autocast=True)
        run_variant("cuda fp32 torch.compile", args.batch, device, args, compile_=True)
    grouped_vs_list(args.batch if cuda else 8, device, args.reps)


if __name__ == "__main__":
    main()
