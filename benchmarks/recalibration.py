"""How much a true-batch-norm stage-one model's phrases depend on its recalibrated statistics.

    python -m benchmarks.recalibration --checkpoint models/pretrain_proposed_cpu.pt \\
        --tensor outputs/build_tensor/phrases.h5 [--draws 6] [--phrases 1024,16384]

With ``model.batch_norm: batch`` a run ends by recomputing its running statistics from phrases
of the final networks (``pipeline.training.batch_norm``). These statistics are estimates, and
eval-mode G depends strongly on those of its first layer (the dense layer from z). For one
stage-one checkpoint (a stage-one export of ``configs/cpu.yaml``) this prints the learning
score's density error (``pipeline.metrics.learning.density_error``: the mean over tracks of
``|ln(model density / data density)|``, limit ln 3 = 1.10) of the learning score's own 512
phrases (``benchmarks.learning``: seed 0, hard thresholding, against the same reference set),
with G's statistics taken:

* from the checkpoint, as shipped;
* from each batch itself (train mode), at batches of 16 and of 64;
* recomputed from ``--phrases`` phrases at batch 16: first with the pipeline's own draw
  (``params.optim.seed``, stream ``recalibrate``, as ``runner.recalibrate_statistics``), then
  ``--draws - 1`` independent draws.

Cost: each recalibration generates its phrases through G and each row draws 512 more, so the
16,384-phrase rows dominate (several minutes each on a 2-core CPU at width 1/4).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.learning import data_sets
from pipeline.cli import count
from pipeline.errors import DataError
from pipeline.metrics.learning import density, density_error
from pipeline.sampling import draw
from pipeline.training.batch_norm import batch_norms, batch_statistics, recalibrate
from pipeline.training.checkpoint import Sampler, load_sampler
from pipeline.training.data import latent

N_SCORED = 512  # the learning score's set size and seed
SCORE_SEED = 0
RUN_BATCH = 16  # configs/cpu.yaml's stage-one batch
PIPELINE_SEED = 0  # params.yaml optim.seed


def scored_phrases(sampler: nn.Module, batch: int = 64) -> np.ndarray:
    """The learning score's phrases of ``sampler`` (``benchmarks.learning.draw_set``)."""
    return draw(sampler, N_SCORED, batch, "ht", SCORE_SEED, torch.device("cpu"))  # type: ignore[arg-type]


def recalibrated(sampler: Sampler, n_phrases: int, z_of: Callable[[int], torch.Tensor]) -> Sampler:
    """A copy of ``sampler`` whose G statistics are recomputed from ``n_phrases`` phrases, batch
    ``i`` drawn from ``z_of(i)``."""
    copied = copy.deepcopy(sampler)
    n_batches = -(-n_phrases // RUN_BATCH)  # rounded up, as ``recalibration_batches`` does
    recalibrate([copied.generator], lambda i: copied.generator(z_of(i)), n_batches)
    return copied


def pipeline_z(z_dim: int) -> Callable[[int], torch.Tensor]:
    """The latent batches of ``runner.recalibrate_statistics``."""
    return lambda i: latent(PIPELINE_SEED, "recalibrate", i, RUN_BATCH, z_dim, torch.device("cpu"))


def independent_z(z_dim: int, draw_index: int) -> Callable[[int], torch.Tensor]:
    """Latent batches of an independent draw (its own generator per batch)."""
    return lambda i: torch.randn(
        RUN_BATCH, z_dim, generator=torch.Generator().manual_seed(1_000_003 * draw_index + i)
    )


def in_train_mode(sampler: Sampler, batch: int) -> np.ndarray:
    """The scored phrases with every batch normalised by its own statistics."""
    with batch_statistics([sampler.generator]):
        return scored_phrases(_TrainModeSampler(sampler), batch)


class _TrainModeSampler(nn.Module):
    """``sampler``'s G called as it is (``Sampler.forward`` would switch it to eval mode)."""

    def __init__(self, sampler: Sampler) -> None:
        super().__init__()
        self.generator = sampler.generator
        self.z_dim, self.name, self.condition = sampler.z_dim, sampler.name, None

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


def phrase_counts(text: str) -> list[int]:
    """``--phrases``: comma-separated positive numbers, each at least one batch."""
    values = [count(k) for k in text.split(",")]
    if any(v < RUN_BATCH for v in values):
        raise argparse.ArgumentTypeError(f"each must be >= {RUN_BATCH} (one batch), got {text}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recalibration", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="a stage-one export")
    parser.add_argument(
        "--tensor",
        type=Path,
        default=Path("outputs/build_tensor/phrases.h5"),
        help="the training phrase file (default: %(default)s)",
    )
    parser.add_argument("--draws", type=count, default=6, help="draws per size (default: 6)")
    parser.add_argument(
        "--phrases",
        type=phrase_counts,
        default="1024,16384",
        help="comma-separated numbers of recalibration phrases (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        sampler = load_sampler(args.checkpoint)
        _, reference = data_sets(args.tensor, N_SCORED, SCORE_SEED)
    except (OSError, DataError) as error:
        parser.error(str(error))
    if sampler.kind != "pretrain" or sampler.condition is not None or not batch_norms([sampler]):
        parser.error(f"{args.checkpoint}: not a stage-one model with true batch norm")
    data = density(reference)

    def report(label: str, phrases: np.ndarray) -> None:
        ratios = " ".join(f"{r:5.2f}" for r in density(phrases) / data)
        print(f"{label:<44} {density_error(density(phrases), data):5.2f}   {ratios}", flush=True)

    print(f"{'statistics':<44} error   density / data per track ({', '.join(sampler.track_names)})")
    report("the checkpoint's", scored_phrases(sampler))
    for batch in (16, 64):
        report(f"each batch's own (train mode), batch {batch}", in_train_mode(sampler, batch))
    for n in args.phrases:
        for d in range(args.draws):
            z_of = pipeline_z(sampler.z_dim) if d == 0 else independent_z(sampler.z_dim, d)
            label = "the pipeline's draw" if d == 0 else f"independent draw {d}"
            report(f"{n} phrases, {label}", scored_phrases(recalibrated(sampler, n, z_of)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
