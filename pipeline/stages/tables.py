"""Stage ``tables``: the paper's Tables 1 and 2 regenerated, ours beside the paper's.

Table 1 (paper section 4.3, training strategies): training data, pretrained BS/HT, proposed
(two-stage) SBN/DBN, joint SBN/DBN, end-to-end SBN/DBN. Table 2 (section 4.5, discriminator
designs): proposed, ablated-I and ablated-II (baseline) discriminators with BS and HT.
Columns: qualified-note rate (QN), polyphonicity (PP), tonal distance (TD).

Each metric mode gets its own tables, labelled: in ``paper`` mode our numbers sit beside the paper's
(``data/reference/paper_reference.csv``); ``musical`` mode has no published counterpart. The caption
states the scale of our run (phrases evaluated, training iterations) next to the paper's. The stage
also plots EB, QN and PP along training for every run, from the runs' ``monitor.csv``.

Mode ``modern`` (docs/metrics.md) has its own table, ``table_modern.{md,csv}``: every evaluated
set's per-phrase measures and its overlapped areas with the training data. It is always written
(it says so when the mode is off), so the stage's outputs do not depend on ``metrics.modes``.

The tables' rows and formatting live in ``pipeline.report.tables``, the curve plots in
``pipeline.report.curves``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.errors import DataError
from pipeline.io import atomic_dir, atomic_path, write_text
from pipeline.report.curves import plot_curves, read_curves
from pipeline.report.tables import (
    BAR_MODES,
    TABLE1,
    TABLE2,
    TITLES,
    build_table,
    read_metrics,
    read_reference,
    scale_caption,
    shipped_model,
    stopped_runs,
    to_markdown,
    trained,
    write_modern_table,
)

log = logging.getLogger(__name__)


def run(
    metrics_dir: Path,
    runs_dir: Path,
    reference_csv: Path,
    out_dir: Path,
    modes: list[str],
    models_dir: Path = Path("models"),
) -> list[Path]:
    """Write the tables (Markdown + CSV per table) and the curve plots; return what was written.

    ``models_dir`` holds the shipped models whose rows the tables show (their width and
    iterations go into the ``trained`` column).
    """
    reference = read_reference(reference_csv)
    sets = {row.sample_set for row in TABLE1 + TABLE2}
    metrics = {name: read_metrics(metrics_dir, name) for name in sorted(sets)}
    curves = read_curves(runs_dir)
    shipped = {
        row.model: shipped_model(models_dir / row.model)
        for row in TABLE1 + TABLE2
        if row.model is not None
    }
    stopped = stopped_runs(runs_dir, curves)
    how_trained = {
        row.sample_set: trained(row, curves, shipped, stopped) for row in TABLE1 + TABLE2
    }
    caption = scale_caption(curves, metrics)
    written = []
    bar_modes = [mode for mode in modes if mode in BAR_MODES]
    for name, rows in (("table1", TABLE1), ("table2", TABLE2)):
        tables = [build_table(rows, metrics, reference, mode, how_trained) for mode in bar_modes]
        markdown = "\n".join(
            to_markdown(t, TITLES[name], mode, caption)
            for t, mode in zip(tables, bar_modes, strict=True)
        )
        write_text(out_dir / f"{name}.md", markdown)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame = pd.concat(tables) if tables else pd.DataFrame(columns=["model", "mode"])
            frame.to_csv(tmp, index=False, float_format="%.6f")
        written += [out_dir / f"{name}.md", out_dir / f"{name}.csv"]
    written += write_modern_table(metrics, TABLE1 + TABLE2, "modern" in modes, out_dir)
    with atomic_dir(out_dir / "curves") as curves_dir:  # the folder output, whole or not at all
        for run_name, data in curves.items():
            name = f"{run_name.replace('/', '_')}.png"
            plot_curves(data, run_name, curves_dir / name)
            written.append(out_dir / "curves" / name)
    log.info("wrote %d files to %s", len(written), out_dir)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument(
        "--metrics-dir",
        type=Path,
        required=True,
        help="the folder of <set>/metrics.json that stage evaluate wrote; required",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        required=True,
        help="the folder holding pretrain/<run>/ and train/<run>/ outputs; required",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="the paper's table values (data/reference/paper_reference.csv, "
        "paths.paper_reference); required",
    )
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="where the tables and plots go; required"
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("models"),
        help="the shipped models whose rows the tables show (default: models)",
    )
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        run(
            args.metrics_dir,
            args.runs_dir,
            args.reference,
            args.out_dir,
            params.metrics.modes,
            args.models_dir,
        )


if __name__ == "__main__":
    main()
