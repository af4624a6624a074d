"""Stage ``sample``: draw phrases from a trained model (paper section 4.1).

See docs/model.md, sections 4.4 (the models) and 5.1 (the protocol).

One run writes one *sample set*: ``phrases.h5`` (the phrase-file layout of
``pipeline.data.phrase_file``), ``grid.png`` (a piano-roll grid, one colour and row per track),
``midi/`` (the first ``sample.n_midi`` phrases as MIDI files) and ``audio/`` (the first
``sample.n_audio`` phrases rendered to FLAC, ``pipeline.export.audio``), to look at and listen to.

Binarization (``--binarize``): ``ht`` or ``bs`` for a stage-one model, ``model`` for a binary
one; z comes from a CPU generator seeded with ``sample.seed`` (``pipeline.sampling``).

``--conditional`` (stage ``sample_conditional``; docs/accompany.md): a track-conditional
stage-two model, ``sample.n_phrases_binary`` phrases, each generated for a given track: phrase
``i`` takes the given track of the training tensor's phrase ``i mod N``, so the set can be
compared with the real pairs of the same phrases (``evaluate_conditional``). The given track
appears unchanged in the output.

The previews' libraries (matplotlib, symusic, soundfile) are imported only where the previews are
written (``pipeline.sampling.write_previews``), so that ``run(..., previews=False)`` works where
they are not installed (a GPU machine, ``python -m benchmarks.gpu``); the previews of such a set
can be drawn later from its phrases.h5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
from pipeline.data.phrase_file import read_phrases, read_track_info
from pipeline.errors import DataError
from pipeline.sampling import Binarize, draw_batches, write_sample_set
from pipeline.training.checkpoint import load_sampler
from pipeline.training.checkpoint_check import CheckpointError
from pipeline.training.device import pick_device

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


def run_conditional(
    cfg: Sample, checkpoint: Path, tensor: Path, out_dir: Path, device: torch.device
) -> int:
    """Write the conditional sample set of ``checkpoint`` into ``out_dir``; return its size."""
    sampler = load_sampler(checkpoint, device)
    if sampler.condition is None or sampler.kind != "binary":
        raise CheckpointError(f"{checkpoint}: not a track-conditional stage-two model")
    if read_track_info(tensor).names != sampler.track_names:
        raise CheckpointError(f"{checkpoint}: tracks {sampler.track_names} differ from {tensor}'s")
    index, total = sampler.condition, validate_phrase_file(tensor).n_phrases

    def conditions(start: int, n: int) -> np.ndarray:
        return given_tracks(tensor, index, start, n, total)

    batches = draw_batches(
        sampler, cfg.n_phrases_binary, cfg.batch_size, "model", cfg.seed, device, conditions
    )
    attrs = {
        "source_checkpoint": checkpoint.as_posix(),
        "condition_track": str(sampler.condition_track),
    }
    n, _ = write_sample_set(out_dir, batches, cfg, tensor, "model", attrs)
    log.info("%s: %d phrases given %s", out_dir, n, sampler.condition_track)
    return n


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
        help="ht: threshold > 0.5, bs: Bernoulli sampling (both for stage-one models), "
        "model: the model's own binary output; required unless --conditional",
    )
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="a track-conditional stage-two model: each phrase generated for the given track of "
        "a training phrase (stage sample_conditional; binarization: the model's own)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="where phrases.h5, grid.png, midi/ and audio/ go; required",
    )
    args = parser.parse_args(argv)
    if (args.binarize is None) != args.conditional:
        parser.error("give --binarize, or --conditional alone")
    setup_logging(args.log)
    params = load_or_exit(args.params)
    device = pick_device(params.optim.device)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(folders=(args.out_dir,))
        if args.conditional:
            run_conditional(params.sample, args.checkpoint, args.tensor, args.out_dir, device)
        else:
            run(params.sample, args.checkpoint, args.tensor, args.binarize, args.out_dir, device)


if __name__ == "__main__":
    main()
