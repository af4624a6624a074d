"""Stage ``evaluate_conditional``: condition-following of a sample set (docs/accompany.md).

    python -m pipeline.stages.evaluate_conditional --params params.yaml \\
        --phrases outputs/sample_conditional/twostage_dbn/phrases.h5 \\
        --tensor outputs/build_tensor/phrases.h5 \\
        --out-dir outputs/evaluate_conditional/twostage_dbn

Tonal distance, musical mode, between the given track and each generated pitched track
(``pipeline.metrics.condition``), beside the same for the training data's real pairs (the
ceiling) and for shuffled pairs (the floor; ``sample.seed`` seeds the shuffle within chunks of
``metrics.chunk_size``). Writes ``metrics.json`` and ``table.md`` / ``table.csv`` (lower is
closer; the table names its mode). The ceiling and floor need no model: without ``--phrases``
the stage writes them alone, for ``conditional.track``, before any conditional model is trained.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import Params
from pipeline.data.phrase_check import iter_checked_chunks, validate_phrase_file
from pipeline.data.phrase_file import read_attrs
from pipeline.errors import DataError
from pipeline.io import atomic_path, write_json
from pipeline.metrics.condition import MODE, ConditionFollowing, follow, follow_shuffled

log = logging.getLogger(__name__)

ROWS = (
    ("model", "conditional model"),
    ("real_pairs", "real pairs (ceiling)"),
    ("shuffled_pairs", "shuffled pairs (floor)"),
)


def reference(params: Params, tensor: Path, track: str) -> dict[str, Any]:
    """Real pairs and shuffled pairs of the training data ``tensor`` for the given ``track``."""
    validate_phrase_file(tensor)
    scorer = _scorer(params, tensor, track)
    chunks = params.metrics.chunk_size
    real = follow(iter_checked_chunks(tensor, chunks), scorer)
    shuffled = follow_shuffled(
        iter_checked_chunks(tensor, chunks), _scorer(params, tensor, track), params.sample.seed
    )
    return {"real_pairs": real, "shuffled_pairs": shuffled}


def _scorer(params: Params, path: Path, track: str) -> ConditionFollowing:
    attrs = read_attrs(path)
    names = list(attrs["track_names"])
    if track not in names:
        raise DataError(f"{path}: no track {track!r} among {names}")
    return ConditionFollowing(
        names.index(track),
        names,
        [bool(x) for x in attrs["is_drums"]],
        int(attrs.get("resolution", 24)),
        int(attrs.get("lowest_pitch", 24)),
        params.metrics.tonal_radii,
    )


def run(
    params: Params, phrases: Path | None, tensor: Path, out_dir: Path, track: str | None = None
) -> dict[str, Any]:
    """Score the conditional sample set ``phrases`` against ``tensor``'s references.

    Without ``phrases`` (no model yet), only the references are written, for ``track``.
    """
    model = None
    if phrases is not None:
        validate_phrase_file(phrases)
        track = read_attrs(phrases).get("condition_track")
        if not track:
            raise DataError(f"{phrases}: not a conditional sample set (no condition_track)")
        scorer = _scorer(params, phrases, str(track))
        model = follow(iter_checked_chunks(phrases, params.metrics.chunk_size), scorer)
    assert track is not None
    result = {"mode": MODE, "given_track": track, **reference(params, tensor, str(track))}
    if model is not None:
        result["model"] = model
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "metrics.json", result)
    write_tables(out_dir, result)
    log.info("TD to %s: %s", track, {k: result[k]["td"] for k, _ in ROWS if k in result})
    return result


def write_tables(out_dir: Path, result: dict[str, Any]) -> None:
    """``table.md`` and ``table.csv``: one row per set, one column per generated track."""
    names = list(result["real_pairs"]["tracks"])
    header = ["set", *names, "all"]
    rows = []
    for key, label in ROWS:
        if key not in result:
            continue
        block = result[key]
        cells = [block["tracks"][n]["td"] for n in names] + [block["td"]]
        rows.append([label, *("" if v is None else f"{v:.4f}" for v in cells)])
    with atomic_path(out_dir / "table.csv") as tmp, tmp.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows])
    lines = [
        f"Condition-following: tonal distance to the given {result['given_track']} track, "
        f"mode {result['mode']} (true pitch classes); lower is closer.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    with atomic_path(out_dir / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--phrases",
        type=Path,
        default=None,
        help="conditional sample set (without it: the references alone, for conditional.track)",
    )
    parser.add_argument("--tensor", type=Path, required=True, help="training tensor (references)")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        run(params, args.phrases, args.tensor, args.out_dir, params.conditional.track)


if __name__ == "__main__":
    main()
