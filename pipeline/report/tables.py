"""The paper's Tables 1 and 2 as data: their rows, the reference values beside ours, and the
Markdown and CSV they are written as (stage ``tables``; the results page reads the same rows).

Table 1 (paper section 4.3, training strategies): training data, pretrained BS/HT, proposed
(two-stage) SBN/DBN, joint SBN/DBN, end-to-end SBN/DBN. Table 2 (section 4.5, discriminator
designs): proposed, ablated-I and ablated-II (baseline) discriminators with BS and HT.
Columns: qualified-note rate (QN), polyphonicity (PP), tonal distance (TD). Mode ``modern``
(docs/metrics.md) has a table of its own (``modern_rows``, ``write_modern_table``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pandas as pd

from pipeline.errors import DataError
from pipeline.io import atomic_path, write_text

log = logging.getLogger(__name__)

METRICS = {"QN": "qualified_note_rate", "PP": "polyphonicity", "TD": "tonal_distance"}
BAR_MODES = ("paper", "musical")  # the 2018 metrics, shown in Tables 1 and 2
# Mode modern's measures (pipeline.metrics.modern.MEASURES) with their column names.
MODERN_SHORT = {
    "pitch_class_entropy": "PCE",
    "scale_consistency": "SC",
    "polyphony": "PO",
    "empty_beat_rate": "EBR",
    "groove_consistency": "GC",
}


@dataclass(frozen=True)
class Row:
    """One row of a paper table: our sample set and its key in paper_reference.csv.

    ``model`` names the shipped model (a file under ``models/``) a row samples; the other rows
    sample this run's own models, trained by stages ``pretrain`` and ``train``.
    """

    label: str
    sample_set: str  # folder name under the evaluate outputs
    strategy: str
    discriminator: str
    binarization: str
    model: str | None = None  # a shipped model's file under the models folder


# The shipped models (models/README.md) and the sample sets drawn from them (dvc.yaml, vars).
SHIPPED_STAGE_ONE = "pretrain_proposed_cpu.pt"
SHIPPED_STAGE_TWO = "twostage_dbn_cpu.pt"

TABLE1 = [
    Row("training data", "training_data", "training data", "-", "-"),
    Row("pretrained (BS)", "pretrain_proposed_bs", "pretrained", "proposed D", "BS"),
    Row("pretrained (HT)", "pretrain_proposed_ht", "pretrained", "proposed D", "HT"),
    Row("proposed (SBN)", "twostage_sbn", "proposed (two-stage)", "proposed D", "SBN"),
    Row("proposed (DBN)", "twostage_dbn", "proposed (two-stage)", "proposed D", "DBN"),
    Row("joint (SBN)", "joint_sbn", "joint", "proposed D", "SBN"),
    Row("joint (DBN)", "joint_dbn", "joint", "proposed D", "DBN"),
    Row("end-to-end (SBN)", "end2end_sbn", "end-to-end", "proposed D", "SBN"),
    Row("end-to-end (DBN)", "end2end_dbn", "end-to-end", "proposed D", "DBN"),
    Row(
        "pretrained (BS), CPU-scale",
        "cpu_pretrain_proposed_bs",
        "pretrained",
        "proposed D",
        "BS",
        SHIPPED_STAGE_ONE,
    ),
    Row(
        "pretrained (HT), CPU-scale",
        "cpu_pretrain_proposed_ht",
        "pretrained",
        "proposed D",
        "HT",
        SHIPPED_STAGE_ONE,
    ),
    Row(
        "proposed (DBN), CPU-scale",
        "cpu_twostage_dbn",
        "proposed (two-stage)",
        "proposed D",
        "DBN",
        SHIPPED_STAGE_TWO,
    ),
]
TABLE2 = [
    Row("proposed (BS)", "pretrain_proposed_bs", "pretrained", "proposed D", "BS"),
    Row("proposed (HT)", "pretrain_proposed_ht", "pretrained", "proposed D", "HT"),
    Row("ablated-I (BS)", "pretrain_ablated_bs", "pretrained", "ablated D", "BS"),
    Row("ablated-I (HT)", "pretrain_ablated_ht", "pretrained", "ablated D", "HT"),
    Row("ablated-II (BS)", "pretrain_baseline_bs", "pretrained", "baseline D", "BS"),
    Row("ablated-II (HT)", "pretrain_baseline_ht", "pretrained", "baseline D", "HT"),
]
TITLES = {
    "table1": "Table 1: training strategies",
    "table2": "Table 2: discriminator designs",
}
PAPER_SCALE = (
    "paper: 1,600 phrases per stage-one set and 800 per binary model, 13,746 training phrases; "
    "stage one 8,580 iterations, stage two about 7,000, end-to-end about 9,000"
)


def fmt(value: float | None) -> str:
    """Two decimals, or a dash for a value that is undefined (NaN) or missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2f}"


def row_cells(row: pd.Series, mode: str) -> list[str]:
    """QN, PP, TD cells of one table row: ``ours (paper)`` in paper mode, ``ours`` otherwise."""
    cells = []
    for short in METRICS:
        cell = fmt(row[f"ours_{short}"])
        if mode == "paper":
            cell += f" ({fmt(row[f'paper_{short}'])})"
        cells.append(cell)
    return cells


def read_metrics(metrics_dir: Path, sample_set: str) -> dict:
    """The ``metrics.json`` of one sample set (both modes); a damaged file is a ``DataError``."""
    path = metrics_dir / sample_set / "metrics.json"
    if not metrics_dir.is_dir():
        raise DataError(f"{metrics_dir}: not a folder (run the evaluate stage first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; run the evaluate stage first") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not valid JSON (truncated or damaged: {error})") from None
    check_metrics(data, path)
    return data


def check_metrics(data: object, path: Path) -> None:
    """Each mode block holds ``n_phrases`` and the table's aggregate numbers (or null)."""
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a mapping of metric modes")
    for mode, block in data.items():
        aggregate = block.get("aggregate") if isinstance(block, dict) else None
        if not isinstance(aggregate, dict) or not isinstance(block.get("n_phrases"), int):
            raise DataError(f"{path}: mode {mode!r} lacks n_phrases or aggregate")
        keys = tuple(MODERN_SHORT) if mode == "modern" else tuple(METRICS.values())
        for key in keys:
            if key not in aggregate:
                raise DataError(f"{path}: {mode}.aggregate lacks {key}")
            value = aggregate[key]
            if value is not None and not isinstance(value, int | float):
                raise DataError(f"{path}: {mode}.aggregate.{key} is {value!r}, not a number")


REFERENCE_COLUMNS = ("strategy", "discriminator", "binarization")


def read_reference(path: Path) -> pd.DataFrame:
    """The paper's table values (``data/reference/paper_reference.csv``); a bad file is a
    ``DataError``."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (paths.paper_reference)")
    try:
        reference = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:  # empty, not text, not CSV
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path}: not a readable CSV file ({problem})") from None
    missing = [c for c in REFERENCE_COLUMNS if c not in reference.columns]
    if missing:
        raise DataError(f"{path}: lacks column(s) {missing}")
    return reference


def reference_row(reference: pd.DataFrame, row: Row) -> pd.Series:
    """The paper's values for ``row`` in paper_reference.csv."""
    match = reference[
        (reference["strategy"] == row.strategy)
        & (reference["discriminator"] == row.discriminator)
        & (reference["binarization"] == row.binarization)
    ]
    if len(match) != 1:
        raise ValueError(f"paper_reference.csv: no single row for {row}")
    return match.iloc[0]


DEMO_ITERATIONS = 100  # fewer: a run of the demo setting, untrained (params.yaml)


def run_of(row: Row) -> str | None:
    """The run of this DAG that ``row`` samples (``pretrain/<D>``, ``train/<experiment>``), or
    None for the training data and a shipped model."""
    if row.model is not None or row.sample_set == "training_data":
        return None
    if row.sample_set.startswith("pretrain_"):
        return "pretrain/" + row.sample_set.split("_")[1]
    return "train/" + row.sample_set


def shipped_model(path: Path) -> dict:
    """Width and iterations of a shipped model's checkpoint; a missing or damaged file is a
    ``DataError`` naming it."""
    from pipeline.training.checkpoint import CheckpointError, load_checkpoint  # torch: here only

    try:
        ckpt = load_checkpoint(path)
    except (CheckpointError, FileNotFoundError) as error:
        raise DataError(f"{path}: cannot read the shipped model ({error})") from None
    return {
        "width": float(ckpt["run"].get("width", 1.0)),
        "iterations": int(ckpt["iteration"]),
        "length": int(ckpt["run"]["n_iterations"]),
    }


def stopped_runs(runs_dir: Path, curves: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Why a run of ``curves`` stopped before its length (``summary.json``'s ``stopped_early``,
    the time budget), by run; runs that completed are left out."""
    out = {}
    for run in curves:
        path = runs_dir / run / "summary.json"
        try:
            reason = json.loads(path.read_text()).get("stopped_early")
        except (OSError, ValueError, AttributeError):
            continue  # a missing or odd summary: nothing to say
        if reason:
            out[run] = str(reason)
    return out


def trained(
    row: Row,
    curves: dict[str, pd.DataFrame],
    shipped: dict[str, dict],
    stopped: dict[str, str] | None = None,
) -> str:
    """How the row's model was trained: this run's iterations (an untrained demo below
    ``DEMO_ITERATIONS``; ``stopped``: why a run ended early), or the shipped model's width and
    iterations."""
    if row.model is not None:
        info = shipped[row.model]
        width = Fraction(info["width"]).limit_denominator(64)
        text = f"shipped CPU-scale model: width {width}, {info['iterations']:,} iterations"
        if info["iterations"] < info["length"]:
            text += f" (stopped by its time budget; {info['length']:,} planned)"
        return text
    run = run_of(row)
    if run is None or run not in curves:
        return "–"
    n = int(curves[run]["iteration"].max()) + 1
    text = f"this run: {n:,} iterations" + (" (demo, untrained)" if n < DEMO_ITERATIONS else "")
    reason = (stopped or {}).get(run)
    return text + (f" (stopped by {reason})" if reason else "")


def build_table(
    rows: list[Row],
    metrics: dict[str, dict],
    reference: pd.DataFrame,
    mode: str,
    how_trained: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One table as a DataFrame: ours per metric and, in paper mode, the paper's beside it;
    ``how_trained`` (by sample set) fills the ``trained`` column."""
    records = []
    for row in rows:
        block = metrics[row.sample_set].get(mode)
        if block is None:
            raise DataError(f"metrics of {row.sample_set} have no {mode!r} mode")
        record: dict[str, object] = {"model": row.label, "mode": mode}
        record["n_phrases"] = block["n_phrases"]
        record["trained"] = (how_trained or {}).get(row.sample_set, "–")
        paper = reference_row(reference, row)
        for short, key in METRICS.items():
            value = block["aggregate"][key]
            record[f"ours_{short}"] = float("nan") if value is None else float(value)
            if mode == "paper":
                record[f"paper_{short}"] = float(paper[f"paper_{short}"])
        records.append(record)
    return pd.DataFrame.from_records(records)


def to_markdown(table: pd.DataFrame, title: str, mode: str, caption: str) -> str:
    """A Markdown table with each cell written as ``ours (paper)`` in paper mode."""
    if mode == "paper":
        heading = f"### {title} — `paper` mode (the original code's metrics), ours (paper)"
    else:
        heading = f"### {title} — `musical` mode (the metrics as the paper's text defines them)"
    lines = [
        heading,
        "",
        "| model | QN | PP | TD | phrases | trained |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        cells = " | ".join(row_cells(r, mode))
        lines.append(f"| {r['model']} | {cells} | {r['n_phrases']} | {r['trained']} |")
    lines += ["", caption, ""]
    return "\n".join(lines)


FEATURE_SHORT = {
    "note_count": "NC",
    "pitch_count": "PC",
    "pitch_range": "PR",
    "pitch_class_histogram": "PCH",
    "inter_onset_interval": "IOI",
}
MODERN_CAPTION = (
    "Mode `modern` (docs/metrics.md): per-phrase means over the tracks each measure applies to "
    "(PCE pitch-class entropy in bits, SC scale consistency, PO polyphony, EBR empty-beat rate, "
    "GC groove consistency); OA: overlapped area of the training data's intra-set distance "
    "density with the set's inter-set one (Yang & Lerch 2020), 1 = distributed like the training "
    "data, per feature (NC note count, PC pitch count, PR pitch range, PCH pitch-class "
    "histogram, IOI inter-onset interval) and their mean. The training data's row compares it "
    "with a disjoint subsample of itself."
)


def modern_rows(metrics: dict[str, dict], rows: list[Row]) -> pd.DataFrame:
    """The modern table: one row per evaluated set (first occurrence in ``rows``)."""
    records, seen = [], set()
    for row in rows:
        if row.sample_set in seen:
            continue
        seen.add(row.sample_set)
        block = metrics[row.sample_set].get("modern")
        if block is None:
            raise DataError(f"metrics of {row.sample_set} have no 'modern' mode; rerun evaluate")
        record: dict[str, object] = {"model": row.label, "n_phrases": block["n_phrases"]}
        for key, short in MODERN_SHORT.items():
            record[short] = _number(block["aggregate"].get(key))
        distances = _mapping(block.get("distances"))  # null when a set had < 2 phrases
        record["OA"] = _number(distances.get("mean_overlap_area"))
        per_feature = _mapping(distances.get("features"))
        for key, short in FEATURE_SHORT.items():
            record[f"OA_{short}"] = _number(_mapping(per_feature.get(key)).get("overlap_area"))
        records.append(record)
    return pd.DataFrame.from_records(records)


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float:
    """A JSON number as a float; null (undefined) or a non-number as NaN."""
    return float(value) if isinstance(value, int | float) else float("nan")


def modern_markdown(table: pd.DataFrame) -> str:
    """The modern table in Markdown (two decimals, a dash where undefined)."""
    columns = [c for c in table.columns if c not in ("model", "n_phrases")]
    lines = [
        "### Modern measures and Yang & Lerch distances — `modern` mode",
        "",
        f"| model | {' | '.join(columns)} | phrases |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for _, r in table.iterrows():
        cells = " | ".join(fmt(float(r[c])) for c in columns)
        lines.append(f"| {r['model']} | {cells} | {r['n_phrases']} |")
    return "\n".join([*lines, "", MODERN_CAPTION, ""])


def write_modern_table(
    metrics: dict[str, dict], rows: list[Row], enabled: bool, out_dir: Path
) -> list[Path]:
    """Write ``table_modern.{md,csv}``; when the mode is off, a note and an empty table."""
    md, csv = out_dir / "table_modern.md", out_dir / "table_modern.csv"
    if enabled:
        table = modern_rows(metrics, rows)
        markdown = modern_markdown(table)
    else:
        columns = ["model", "n_phrases", *MODERN_SHORT.values(), "OA"]
        columns += [f"OA_{short}" for short in FEATURE_SHORT.values()]
        table = pd.DataFrame(columns=columns)
        markdown = "Mode `modern` is off (`metrics.modes` does not list it).\n"
    write_text(md, markdown)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    return [md, csv]


def scale_caption(curves: dict[str, pd.DataFrame], metrics: dict[str, dict]) -> str:
    """Our run's scale: phrases in the training data and iterations of each trained model."""
    first_block = next(iter(metrics["training_data"].values()))
    parts = [f"training data: {first_block['n_phrases']} phrases"]
    for run_name, data in curves.items():
        parts.append(f"{run_name}: {int(data['iteration'].max()) + 1} iterations")
    return f"Scale of this run — {'; '.join(parts)}. For comparison, {PAPER_SCALE}."
