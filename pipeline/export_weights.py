"""Weights-only export of a checkpoint: no optimizer state, a third of the size.

    python -m pipeline.export_weights outputs/pretrain/proposed/checkpoint.pt proposed.weights.pt
    python -m pipeline.export_weights CKPT OUT --no-discriminator   # sampling only

The export (``pipeline.training.checkpoint.export_weights``) is read by ``sample --checkpoint`` and,
when it keeps D, by ``train --pretrained`` exactly as the full checkpoint is. It exists
for machines whose results must come back in small files (``docs/gpu.md``,
``python -m benchmarks.gpu``), and for the shipped models (``models/``).
A damaged or foreign input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.training.checkpoint import CheckpointError, export_weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint.pt (or a resume snapshot)")
    parser.add_argument("out", type=Path, help="the weights-only file to write")
    parser.add_argument(
        "--no-discriminator",
        action="store_true",
        help="leave D out (enough for sampling; stage two needs D)",
    )
    args = parser.parse_args(argv)
    try:
        size = export_weights(args.checkpoint, args.out, not args.no_discriminator)
    except (CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"{args.out}: {size} bytes ({size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
