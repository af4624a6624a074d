"""The refiner R with its weights in the two memory layouts PyTorch offers.

R: paper section 3.3, docs/model.md, section 2.4.

    python benchmarks/bench_refiner.py [--batch 4] [--reps 3] [--device auto|cpu|cuda]

R's convolutions have one input or one output channel and 64 on the other side, over the whole
phrase (4 x 96 x 84 cells per track). On the CPU, oneDNN runs them several times faster when the
64-channel tensors are channels-last, which it picks when the weights are channels-last; the
``Refiner`` therefore keeps its weights that way. This prints, for both layouts, the time of a
forward pass without autograd (sampling) and of forward plus backward into R and its input (stage
two), and how far the two layouts' outputs and gradients lie apart (float rounding only).
"""

from __future__ import annotations

import argparse
import copy

import torch
from bench_models import time_step  # this folder is on sys.path when run as a script

from pipeline.cli import count, first_paragraph
from pipeline.models import build_refiner


def gradients(refiner: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """d sum(h2) / d (input, weights): h2 is the binary neuron's input (its output is binary)."""
    return list(torch.autograd.grad(refiner.preactivation(x).sum(), [x, *refiner.parameters()]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--batch", type=count, default=4, help="batch size (default: 4)")
    parser.add_argument("--reps", type=count, default=3, help="timed repetitions (default: 3)")
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto = CUDA when present, else CPU (default: auto)",
    )
    args = parser.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    channels_last = build_refiner("dbn").to(device)
    contiguous = copy.deepcopy(channels_last).to(memory_format=torch.contiguous_format)
    x = torch.rand(args.batch, 4, 96, 84, 8, device=device, requires_grad=True)  # G's output
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, mean of {args.reps} calls after a warm-up"
    )
    print(f"{'weights':<15} {'forward (s)':>12} {'fwd+bwd (s)':>12}")
    for name, refiner in (("contiguous", contiguous), ("channels-last", channels_last)):
        with torch.no_grad():
            forward = time_step(lambda r=refiner: r(x), device, args.reps)
        both = time_step(lambda r=refiner: gradients(r, x), device, args.reps)
        print(f"{name:<15} {forward:>12.3f} {both:>12.3f}")
    with torch.no_grad():
        a, b = contiguous.preactivation(x), channels_last.preactivation(x)
        print(f"max |h2| difference between the layouts: {(a - b).abs().max().item():.2e}")
    worst = max(
        ((u - v).abs().max() / u.abs().max().clamp(min=1e-30)).item()
        for u, v in zip(gradients(contiguous, x), gradients(channels_last, x), strict=True)
    )
    print(f"largest relative gradient difference: {worst:.2e}")


if __name__ == "__main__":
    main()
