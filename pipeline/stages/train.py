"""Stage ``train``: two-stage, joint and end-to-end models (docs/model.md, section 4.4).

    python -m pipeline.stages.train --params params.yaml --experiment twostage_dbn \\
        --tensor outputs/build_tensor/phrases.h5 \\
        --pretrained outputs/pretrain/proposed/checkpoint.pt \\
        --out-dir outputs/train/twostage_dbn --snapshot-dir snapshots/train/twostage_dbn

``twostage_*`` and ``joint_*`` need ``--pretrained`` (the proposed-D stage-one checkpoint);
``end2end_*`` train from scratch and take none. Writes the same files as ``pretrain``.
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
from pipeline.config import EXPERIMENTS, Params
from pipeline.errors import DataError
from pipeline.training.experiments import split_experiment
from pipeline.training.runner import run_training


def check_pretrained(experiment: str, pretrained: Path | None) -> None:
    """End-to-end takes no stage-one checkpoint; two-stage and joint need one."""
    strategy, _ = split_experiment(experiment)
    if strategy == "end2end" and pretrained is not None:
        raise ValueError(f"{experiment} trains from scratch; do not pass --pretrained")
    if strategy != "end2end" and pretrained is None:
        raise ValueError(f"{experiment} continues stage one: --pretrained is required")


def run(
    params: Params,
    experiment: str,
    tensor: Path,
    out_dir: Path,
    snapshot_dir: Path,
    pretrained: Path | None = None,
    **hooks: Any,
) -> dict[str, Any]:
    """Train ``experiment``; return the summary."""
    check_pretrained(experiment, pretrained)
    return run_training(
        params, "train", experiment, tensor, out_dir, snapshot_dir, pretrained, **hooks
    )


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--experiment", required=True, choices=EXPERIMENTS, help="the model to train; required"
    )
    parser.add_argument(
        "--tensor", type=Path, required=True, help="the training phrase file (HDF5); required"
    )
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="the stage-one checkpoint: required by twostage_* and joint_*, refused by end2end_*",
    )
    add_training_outputs(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    try:
        check_pretrained(args.experiment, args.pretrained)
    except ValueError as error:
        parser.error(str(error))
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        check_outputs(folders=(args.out_dir, args.snapshot_dir))
        run(
            params,
            args.experiment,
            args.tensor,
            args.out_dir,
            args.snapshot_dir,
            args.pretrained,
            condition_track=params.conditional.track if args.conditional else None,
        )


if __name__ == "__main__":
    main()
