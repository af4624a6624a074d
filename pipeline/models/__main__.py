"""Print every network's layer table: ``python -m pipeline.models --summary``.

Options: ``--network G D R E`` (any subset; default all), ``--batch-norm affine|batch``,
``--width`` (``model.width``: every hidden channel count times this; default 1, the paper's),
``--z-dim``, ``--n-tracks``. The last table compares each network's parameter count with the one
in docs/model.md (section 2.6) and the command exits with status 1 if a faithful-configuration
count differs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch
from torch import nn

from pipeline.cli import count, positive_float
from pipeline.models.discriminator import build_discriminator
from pipeline.models.generator import build_generator
from pipeline.models.refiner import build_end2end_generator, build_refiner
from pipeline.models.summary import count_parameters, format_table, layer_table

# Parameter counts of the faithful configuration (z_dim 128, 8 tracks, affine BN): docs/model.md,
# section 2.6.
SPEC_COUNTS = {
    "G proposed": 1_580_440,
    "G proposed_small": 1_348_760,
    "D proposed": 2_155_297,
    "D ablated": 1_811_329,
    "D baseline": 3_028_737,
    "D proposed_small": 1_298_001,
    "R dbn": 76_848,
    "E dbn (G proposed_small + R)": 1_348_760 + 76_848,
}


def networks(
    which: list[str], norm: Any, z_dim: int, n_tracks: int, width: float = 1.0
) -> dict[str, nn.Module]:
    """The networks to summarise, by display name."""
    nets: dict[str, nn.Module] = {}
    if "G" in which:
        for preset in ("proposed", "proposed_small"):
            nets[f"G {preset}"] = build_generator(preset, z_dim, norm, n_tracks, width)
    if "D" in which:
        for preset in ("proposed", "ablated", "baseline", "proposed_small"):
            nets[f"D {preset}"] = build_discriminator(preset, n_tracks, width)
    if "R" in which:
        nets["R dbn"] = build_refiner("dbn", "sigmoid_adjusted", norm, n_tracks, width)
    if "E" in which:
        nets["E dbn (G proposed_small + R)"] = build_end2end_generator(
            "dbn", "sigmoid_adjusted", norm, z_dim, n_tracks, width
        )
    return nets


def example_input(name: str, z_dim: int, n_tracks: int) -> torch.Tensor:
    """A batch of one: z for G and E, a phrase in (0, 1) for D and R."""
    if name.startswith(("G", "E")):
        return torch.randn(1, z_dim)
    return torch.rand(1, 4, 96, 84, n_tracks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.models",
        description="Print every network's layer table and compare the parameter counts with "
        "those of docs/model.md, section 2.6; exit status 1 if a faithful-configuration count "
        "differs.",
    )
    parser.add_argument("--summary", action="store_true", help="print the layer tables")
    parser.add_argument(
        "--network",
        nargs="+",
        choices=["G", "D", "R", "E"],
        default=None,
        help="G generator, D discriminator, R refiner, E end-to-end generator (default: all)",
    )
    parser.add_argument(
        "--batch-norm",
        choices=["affine", "batch"],
        default="affine",
        help="affine = the original's never-normalising BN (faithful; default) | batch",
    )
    parser.add_argument(
        "--z-dim", type=count, default=128, help="latent size (default: 128, the paper's)"
    )
    parser.add_argument(
        "--n-tracks", type=count, default=8, help="tracks (default: 8, the paper's)"
    )
    parser.add_argument(
        "--width",
        type=positive_float,
        default=1.0,
        help="model.width: every hidden channel count times this (default: 1, the paper's; "
        "configs/cpu.yaml: 0.25)",
    )
    args = parser.parse_args(argv)
    if not args.summary:
        parser.print_help()
        return 0
    torch.manual_seed(0)
    nets = networks(
        args.network or ["G", "D", "R", "E"],
        args.batch_norm,
        args.z_dim,
        args.n_tracks,
        args.width,
    )
    faithful = args.z_dim == 128 and args.n_tracks == 8 and args.width == 1.0
    lines, mismatch = [], False
    for name, net in nets.items():
        rows = layer_table(net, example_input(name, args.z_dim, args.n_tracks))
        total = count_parameters(net)
        print(format_table(f"== {name} ==", rows, total), end="\n\n")
        expected = SPEC_COUNTS[name] if faithful else None
        ok = "" if expected is None else ("OK" if total == expected else "MISMATCH")
        mismatch |= ok == "MISMATCH"
        spec = "–" if expected is None else f"{expected:,}"
        lines.append(f"{name:<32} {total:>12,} {spec:>12} {ok}")
    print(f"{'network':<32} {'params':>12} {'spec':>12}")
    print("\n".join(lines))
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
