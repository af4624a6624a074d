"""Stage ``pretrain``: stage-one training of G and one discriminator (docs/model.md, section 4.4).

    python -m pipeline.stages.pretrain --params params.yaml --discriminator proposed \\
        --tensor outputs/build_tensor/phrases.h5 --out-dir outputs/pretrain/proposed \\
        --snapshot-dir snapshots/pretrain/proposed

Writes ``checkpoint.pt``, ``meta.json``, ``log.csv``, ``monitor.csv``, ``summary.json`` and
``timing.json`` to ``--out-dir`` (see ``pipeline.training.runner``). A killed run resumes from its
snapshot in ``--snapshot-dir`` when restarted with the same params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.cli import (
    add_training_outputs,
    check_outputs,
    exit_on,
    load_or_exit,
    setup_logging,
    stage_parser,
)
from pipeline.config import DISCRIMINATORS, Params
from pipeline.errors import DataError
from pipeline.training.runner import run_training


def run(
    params: Params,
    discriminator: str,
    tensor: Path,
    out_dir: Path,
    snapshot_dir: Path,
    **hooks: Any,
) -> dict[str, Any]:
    """Train G (``pretrain.generator``) against ``discriminator``; return the summary."""
    if discriminator not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {discriminator!r}; expected {DISCRIMINATORS}")
    return run_training(
        params, "pretrain", discriminator, tensor, out_dir, snapshot_dir, None, **hooks
    )


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--discriminator",
        required=True,
        choices=DISCRIMINATORS,
        help="the discriminator design of this run (paper 4.5); required",
    )
    parser.add_argument(
        "--tensor", type=Path, required=True, help="the training phrase file (HDF5); required"
    )
    add_training_outputs(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(folders=(args.out_dir, args.snapshot_dir))
        run(
            params,
            args.discriminator,
            args.tensor,
            args.out_dir,
            args.snapshot_dir,
            condition_track=params.conditional.track if args.conditional else None,
        )


if __name__ == "__main__":
    main()
