"""Stage ``sample``: draw phrases from a trained model (paper section 4.1).

See docs/model.md, sections 4.4 (the models) and 5.1 (the protocol).

One run writes one *sample set*: ``phrases.h5`` (the phrase-file layout of
``pipeline.data.phrase_file``), ``grid.png`` (a piano-roll grid, one colour and row per track),
``midi/`` (the first ``sample.n_midi`` phrases as MIDI files) and ``audio/`` (the first
``sample.n_audio`` phrases rendered to FLAC, ``pipeline.export.audio``), to look at and listen to.

Binarization (``--binarize``): ``ht`` or ``bs`` for a stage-one model, ``model`` for a binary
one; z comes from a CPU generator seeded with ``sample.seed`` (``pipeline.sampling``).

The previews' libraries (matplotlib, symusic, soundfile) are imported only where the previews are
written (``pipeline.sampling.write_previews``), so that ``run(..., previews=False)`` works where
they are not installed (a GPU machine, ``python -m benchmarks.gpu``); the previews of such a set
can be drawn later from its phrases.h5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.cli import (
    check_outputs,
    exit_on,
    load_or_exit,
    setup_logging,
    stage_parser,
)
from pipeline.config import Sample
from pipeline.data.phrase_check import validate_phrase_file
from pipeline.errors import DataError
from pipeline.sampling import Binarize, draw_batches, write_sample_set
from pipeline.training.checkpoint import load_sampler
from pipeline.training.runner import pick_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleResult:
    n_phrases: int
    density: float  # fraction of active cells, a quick sanity figure for the log


def run(
    cfg: Sample,
    checkpoint: Path,
    tensor: Path,
    how: Binarize,
    out_dir: Path,
    device: torch.device,
    previews: bool = True,
) -> SampleResult:
    """Write one sample set from ``checkpoint`` into ``out_dir`` (``phrases.h5`` alone when
    ``previews`` is false; the stage always writes the previews)."""
    validate_phrase_file(tensor)
    sampler = load_sampler(checkpoint, device)
    if (sampler.kind == "binary") != (how == "model"):
        raise ValueError(
            f"{checkpoint}: a {sampler.kind} model cannot be sampled with --binarize {how} "
            "(stage-one models take ht or bs; binary models take model)"
        )
    n_phrases = cfg.n_phrases_binary if how == "model" else cfg.n_phrases_pretrain
    batches = draw_batches(sampler, n_phrases, cfg.batch_size, how, cfg.seed, device)
    attrs = {"source_checkpoint": checkpoint.as_posix()}
    n, density = write_sample_set(out_dir, batches, cfg, tensor, how, attrs, previews)
    log.info("%s: %d phrases (%s), %.4f of cells active", out_dir, n, how, density)
    return SampleResult(n_phrases=n, density=density)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="the trained model's checkpoint; required"
    )
    parser.add_argument(
        "--tensor",
        type=Path,
        required=True,
        help="the training phrase file, read for its track names and programs; required",
    )
    parser.add_argument(
        "--binarize",
        choices=["ht", "bs", "model"],
        required=True,
        help="ht: threshold > 0.5, bs: Bernoulli sampling (both for stage-one models), "
        "model: the model's own binary output; required",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="where phrases.h5, grid.png, midi/ and audio/ go; required",
    )
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    device = pick_device(params.optim.device)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(folders=(args.out_dir,))
        run(params.sample, args.checkpoint, args.tensor, args.binarize, args.out_dir, device)


if __name__ == "__main__":
    main()
