"""Stage ``sample_conditional``: phrases of a track-conditional model (docs/accompany.md; ours).

    python -m pipeline.stages.sample_conditional --params params.yaml \\
        --checkpoint outputs/train_conditional/twostage_dbn/checkpoint.pt \\
        --tensor outputs/build_tensor/phrases.h5 --out-dir outputs/sample_conditional/twostage_dbn

Like ``sample`` with ``--binarize model`` (the same outputs: ``phrases.h5``, ``grid.png``,
``midi/``, ``audio/``; ``sample.n_phrases_binary`` phrases, z seeded by ``sample.seed``), but each
phrase is generated for a given track: phrase ``i`` takes the given track of the training
tensor's phrase ``i mod N``, so the sample set can be compared with the real pairs of the same
phrases (``evaluate_conditional``). The given track appears unchanged in the output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import Sample
from pipeline.data.phrase_check import validate_phrase_file
from pipeline.data.phrase_file import (
    read_phrases,
    read_track_info,
)
from pipeline.errors import DataError
from pipeline.sampling import draw_batches, write_sample_set
from pipeline.training.checkpoint import Sampler, load_sampler
from pipeline.training.checkpoint_check import CheckpointError
from pipeline.training.runner import pick_device

log = logging.getLogger(__name__)


def given_tracks(tensor: Path, index: int, start: int, n: int, total: int) -> np.ndarray:
    """The given track of phrases ``start .. start + n - 1`` (mod ``total``): (n, 4, 96, 84)."""
    rows = np.arange(start, start + n) % total
    parts, i = [], 0
    while i < n:  # consecutive indices, wrapping at most once per ``total``
        j = i + 1
        while j < n and rows[j] == rows[j - 1] + 1:
            j += 1
        parts.append(read_phrases(tensor, int(rows[i]), int(rows[j - 1]) + 1)[..., index])
        i = j
    return np.concatenate(parts)


def draw(sampler: Sampler, tensor: Path, cfg: Sample, device: torch.device) -> Iterator[np.ndarray]:
    """Bool phrase batches of the conditional ``sampler``, conditions from ``tensor``."""
    assert sampler.condition is not None
    index, total = sampler.condition, validate_phrase_file(tensor).n_phrases

    def conditions(start: int, n: int) -> np.ndarray:
        return given_tracks(tensor, index, start, n, total)

    return draw_batches(
        sampler, cfg.n_phrases_binary, cfg.batch_size, "model", cfg.seed, device, conditions
    )


def run(cfg: Sample, checkpoint: Path, tensor: Path, out_dir: Path, device: torch.device) -> int:
    """Write the conditional sample set of ``checkpoint`` into ``out_dir``; return its size."""
    sampler = load_sampler(checkpoint, device)
    if sampler.condition is None or sampler.kind != "binary":
        raise CheckpointError(f"{checkpoint}: not a track-conditional stage-two model")
    if read_track_info(tensor).names != sampler.track_names:
        raise CheckpointError(f"{checkpoint}: tracks {sampler.track_names} differ from {tensor}'s")
    attrs = {
        "source_checkpoint": checkpoint.as_posix(),
        "condition_track": str(sampler.condition_track),
    }
    n, _ = write_sample_set(
        out_dir, draw(sampler, tensor, cfg, device), cfg, tensor, "model", attrs
    )
    log.info("%s: %d phrases given %s", out_dir, n, sampler.condition_track)
    return n


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--tensor", type=Path, required=True, help="training tensor (conditions)")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    device = pick_device(params.optim.device)
    with exit_on(DataError, FileNotFoundError):
        run(params.sample, args.checkpoint, args.tensor, args.out_dir, device)


if __name__ == "__main__":
    main()
