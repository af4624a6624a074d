"""Stage ``report``: one HTML page of the run, ``<out-dir>/index.html``, assets beside it
(docs/listening.md).

The page shows Tables 1 and 2 exactly as ``outputs/tables`` holds them (both metric modes, our
scale in the caption), every sample set's coloured piano-roll grid and audio players (the
training data first: its first ``sample.n_audio`` phrases are rendered here, as reference), the
metric curves of every run beside the original runs' (``pipeline.report.curves``) and the run's
provenance (``pipeline.report.provenance``); with mode ``modern`` on, its table
(``table_modern.csv``: measures and Yang & Lerch distances) in a section of its own. Assets are
copied beside the page so the folder opens from ``file://`` with no network and can be moved as
a whole.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import Params
from pipeline.data.phrase_file import read_attrs, read_phrases, read_track_info
from pipeline.export.audio import write_audio_files
from pipeline.export.pianoroll_png import plot_phrase_grid
from pipeline.io import atomic_dir, write_text
from pipeline.report import curves, page, provenance
from pipeline.report.tables import TABLE1, TABLE2

log = logging.getLogger(__name__)


def set_order() -> list[tuple[str, str]]:
    """(sample set, label) in page order: the training data, Table 1's rows, then Table 2's."""
    seen: dict[str, str] = {}
    for row in TABLE1 + TABLE2:
        seen.setdefault(row.sample_set, row.label)
    return list(seen.items())


def training_set(tensor: Path, n_grid: int, n_audio: int, tempo: float, assets: Path) -> None:
    """The training data's grid and audio of its first phrases, written into ``assets``."""
    n = max(n_grid, n_audio)
    phrases, tracks, attrs = read_phrases(tensor, 0, n), read_track_info(tensor), read_attrs(tensor)
    plot_phrase_grid(assets / "grid.png", phrases[:n_grid], tracks.names)
    lowest, resolution = int(attrs["lowest_pitch"]), int(attrs["resolution"])
    write_audio_files(assets / "audio", phrases[:n_audio], tracks, lowest, resolution, tempo)


AUDIO_GLOB = "sample_*.flac"  # the files write_audio_files renders


def copy_set(sample_dir: Path, assets: Path) -> None:
    """A sample set's grid and audio files, copied beside the page."""
    for needed in (sample_dir / "grid.png", sample_dir / "audio"):
        if not needed.exists():
            raise FileNotFoundError(f"{needed}: missing; run the sample stage first")
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sample_dir / "grid.png", assets / "grid.png")
    # Only the rendered files: a folder output may also hold a tool's marker (Snakemake's empty
    # .snakemake_timestamp), which the page must not offer as audio.
    (assets / "audio").mkdir(exist_ok=True)
    for path in sorted((sample_dir / "audio").glob(AUDIO_GLOB)):
        shutil.copy2(path, assets / "audio" / path.name)


def sample_sets(params: Params, tensor: Path, samples_dir: Path, out_dir: Path) -> list:
    """Every set's assets under ``out_dir/assets/<set>``, as page.SampleSet, in page order."""
    cfg = params.sample
    out = []
    for name, label in set_order():
        assets = out_dir / "assets" / name
        if name == "training_data":
            training_set(tensor, cfg.n_grid, cfg.n_audio, cfg.tempo, assets)
        else:
            copy_set(samples_dir / name, assets)
        audio = sorted(
            p.relative_to(out_dir).as_posix() for p in (assets / "audio").glob(AUDIO_GLOB)
        )
        out.append(page.SampleSet(name, label, f"assets/{name}/grid.png", audio))
    return out


def read_tables(tables_dir: Path) -> tuple[dict[str, pd.DataFrame], str]:
    """Tables 1 and 2 (CSV, both modes) and the scale caption of the Markdown tables; the modern
    table (mode ``modern``, empty when the mode is off) under ``"table_modern"``."""
    tables = {}
    for name in ("table1", "table2", "table_modern"):
        path = tables_dir / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run the tables stage first")
        try:
            tables[name] = pd.read_csv(path)
        except ValueError as error:  # empty, not text, not CSV (pandas' errors are ValueErrors)
            raise ValueError(f"{path}: not a readable table ({error})") from None
    md = (tables_dir / "table1.md").read_text().splitlines()
    caption = next((line for line in md if line.startswith("Scale of this run")), "")
    return tables, caption


def run(
    params: Params,
    params_path: Path,
    dirs: dict[str, Path],
    tensor: Path,
    reports: tuple[Path, Path],
    out_dir: Path,
) -> Path:
    """Write ``out_dir/index.html`` and its assets; ``dirs`` holds tables, samples, runs,
    reference, logs and (shipped) models folders. The folder is written whole (``atomic_dir``):
    a killed run leaves the previous page or none."""
    tables, caption = read_tables(dirs["tables"])
    modern = tables.pop("table_modern")
    with atomic_dir(out_dir) as page_dir:
        sets = sample_sets(params, tensor, dirs["samples"], page_dir)
        curve_dir = page_dir / "assets" / "curves"
        pngs = curves.write_curves(
            dirs["runs"], dirs["reference"], curve_dir, dirs["models"] / "curves"
        )
        facts = {
            "git commit": provenance.git_commit(params_path.resolve().parent),
            "params digest (sha256)": provenance.params_file_sha256(params_path),
            **provenance.data_counts(*reports),
        }
        prov = page.provenance_html(facts, provenance.stage_timings(dirs["logs"], dirs["runs"]))
        rel = {run: p.relative_to(page_dir).as_posix() for run, p in pngs.items()}
        html = page.page_html(tables, caption, params.metrics.modes, sets, rel, prov, modern)
        write_text(page_dir / "index.html", html)
    index = out_dir / "index.html"
    log.info("wrote %s (%d sample sets, %d curve plots)", index, len(sets), len(pngs))
    return index


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for option, what in (
        ("tables-dir", "the folder stage tables wrote"),
        ("samples-dir", "the folder of sample sets that stage sample wrote"),
        ("runs-dir", "the folder holding pretrain/<run>/ and train/<run>/ outputs"),
        ("reference-runs", "the original runs' curves (paths.reference_runs)"),
        ("logs-dir", "the stages' log folder, for the provenance section"),
        ("tensor", "the training phrase file, whose phrases are rendered as reference"),
        ("filter-report", "the report.json of stage filter"),
        ("models-dir", "the shipped models' folder (their curves are drawn)"),
        ("build-report", "the report.json of stage build_tensor"),
        ("out-dir", "where index.html and its assets go"),
    ):
        parser.add_argument(f"--{option}", type=Path, required=True, help=f"{what}; required")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    dirs = {
        "tables": args.tables_dir,
        "samples": args.samples_dir,
        "runs": args.runs_dir,
        "reference": args.reference_runs,
        "logs": args.logs_dir,
        "models": args.models_dir,
    }
    reports = (args.filter_report, args.build_report)
    with exit_on(FileNotFoundError, ValueError):
        run(params, Path(args.params), dirs, args.tensor, reports, args.out_dir)


if __name__ == "__main__":
    main()
