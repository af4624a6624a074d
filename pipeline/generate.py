"""Generate music from a trained checkpoint: MIDI files, audio and a piano-roll image.

The user's command (README, "Generating music from a checkpoint")::

    python -m pipeline.generate --checkpoint outputs/train/joint_dbn/checkpoint.pt \\
        --count 8 --seed 3 --out my_samples/ [--audio] [--binarize bs] [--tempo 120]

It draws phrases exactly as the ``sample`` stage does (``pipeline.sampling.draw_batches``: z,
the Bernoulli noise and an SBN model's noise from CPU generators seeded with ``--seed``, so the
same seed draws the same numbers on any device, and gives the same phrases up to cells within
float rounding of a threshold) and writes ``my_samples/midi/sample_<i>.mid`` for every phrase,
``grid.png`` (the first few phrases, one colour per track) and, with ``--audio``,
``audio/sample_<i>.flac``. Unlike the stage, it needs no training tensor: the tracks are recognised
from the checkpoint's track names among the known track sets (``pipeline.data.tracks``);
``--tensor`` reads them from a phrase file instead, for a custom track set.

Stage-one models output real values and are binarized at test time (paper section 4.1): by hard
thresholding (``--binarize ht``, the default) or Bernoulli sampling (``bs``). Stage-two and
end-to-end models output binary phrases themselves.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import cast

import numpy as np
import torch

from pipeline.cli import exit_on, setup_logging
from pipeline.config import Sample
from pipeline.data.phrase_file import read_track_info
from pipeline.data.tracks import track_set_named_by
from pipeline.errors import DataError
from pipeline.sampling import Binarize, draw_batches, write_previews
from pipeline.training.checkpoint import load_sampler
from pipeline.training.checkpoint_check import CheckpointError
from pipeline.training.device import pick_device

log = logging.getLogger(__name__)

# Time steps per beat of every model phrase (96 per 4/4 bar; docs/model.md, section 1.2).
RESOLUTION = 24


def generate(
    checkpoint: Path,
    out_dir: Path,
    cfg: Sample,
    count: int,
    binarize: str | None,
    lowest_pitch: int,
    device: torch.device,
    tensor: Path | None = None,
) -> np.ndarray:
    """Draw ``count`` phrases from ``checkpoint`` and write their previews into ``out_dir``.

    The tracks' programs and drum flags come from ``tensor`` (a phrase file) when given, else from
    the known track set with the checkpoint's track names.
    """
    sampler = load_sampler(checkpoint, device)
    if sampler.kind == "binary":
        if binarize not in (None, "model"):
            raise CheckpointError(
                f"{checkpoint}: a binary model makes binary phrases; --binarize {binarize} "
                "applies to stage-one models only"
            )
        how = "model"
    else:
        how = binarize or "ht"
        if how == "model":
            raise CheckpointError(f"{checkpoint}: a stage-one model needs --binarize ht or bs")
    tracks = (
        read_track_info(tensor)
        if tensor
        else track_set_named_by(sampler.track_names, checkpoint).info
    )
    batches = draw_batches(sampler, count, cfg.batch_size, cast(Binarize, how), cfg.seed, device)
    phrases = np.concatenate(list(batches))
    out_dir.mkdir(parents=True, exist_ok=True)
    attrs = {"lowest_pitch": lowest_pitch, "resolution": RESOLUTION}
    write_previews(out_dir, phrases, cfg, tracks, attrs)
    log.info("%s: %d phrases (%s) from %s", out_dir, count, how, checkpoint)
    return phrases


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.generate",
        description="Generate four-bar phrases from a trained checkpoint and write them as MIDI "
        "files, a piano-roll image (grid.png) and, with --audio, FLAC audio.",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a checkpoint.pt of pretrain or train (full or weights-only)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    p.add_argument("--count", type=positive, default=8, help="phrases to generate (default 8)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of z and of all sampling noise (BS, SBN); drawn on the CPU on any device",
    )
    p.add_argument(
        "--binarize",
        choices=["ht", "bs"],
        default=None,
        help="stage-one models only: hard threshold (ht, default) or Bernoulli sampling",
    )
    p.add_argument("--audio", action="store_true", help="also render every phrase to FLAC audio")
    p.add_argument("--no-midi", action="store_true", help="write no MIDI files")
    p.add_argument("--grid", type=positive, default=4, help="phrases drawn in grid.png (default 4)")
    p.add_argument(
        "--tempo",
        type=float,
        default=100.0,
        help="beats per minute of MIDI and audio (default 100: 9.6 s a phrase)",
    )
    p.add_argument(
        "--lowest-pitch",
        type=int,
        default=24,
        help="MIDI pitch of the model's lowest row (default 24 = C1, as build_tensor)",
    )
    p.add_argument(
        "--tensor",
        type=Path,
        default=None,
        help="a phrase file to take the tracks from (only for a custom track set)",
    )
    p.add_argument("--batch-size", type=positive, default=32, help="phrases per forward pass")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--log", default=None, help="also write the log to this file")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    setup_logging(args.log)
    if args.tempo <= 0:
        parser().error(f"--tempo must be > 0, got {args.tempo}")
    cfg = Sample(
        seed=args.seed,
        n_phrases_pretrain=args.count,
        n_phrases_binary=args.count,
        batch_size=args.batch_size,
        n_midi=0 if args.no_midi else args.count,
        n_grid=min(args.grid, args.count),
        n_audio=args.count if args.audio else 0,
        tempo=args.tempo,
    )
    try:
        device = pick_device(args.device)
    except RuntimeError as error:  # no CUDA, or a name torch does not know
        parser().error(f"--device {args.device}: {error}")
    with exit_on(DataError, FileNotFoundError):
        generate(
            args.checkpoint,
            args.out,
            cfg,
            args.count,
            args.binarize,
            args.lowest_pitch,
            device,
            args.tensor,
        )


if __name__ == "__main__":
    main()
