"""Stage tables: the paper's Tables 1 and 2, ours beside the paper's (pipeline/stages/tables.py)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from pipeline.config import Params
from pipeline.io import write_json
from pipeline.report import curves, tables
from pipeline.stages import tables as tables_stage
from pipeline.stages import train
from pipeline.training.checkpoint import export_weights
from pipeline.training.runner import StopTraining
from tests.conftest import REPO
from tests.training.conftest import make_phrase_file, run_stage_one, tiny_params

REFERENCE = REPO / "data" / "reference" / "paper_reference.csv"
SETS = sorted({row.sample_set for row in tables.TABLE1 + tables.TABLE2})


def fake_block(mode: str, qn: float, n: int) -> dict:
    aggregate = {"qualified_note_rate": qn, "polyphonicity": qn / 2, "tonal_distance": None}
    return {"mode": mode, "n_phrases": n, "n_bars": 4 * n, "aggregate": aggregate, "per_track": {}}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, params: Params):
    """A models folder with the shipped models' files: tiny runs of a quarter width, the stage-two
    one stopped by its time budget after one of its two iterations."""
    root = tmp_path_factory.mktemp("shipped")
    tensor = make_phrase_file(root / "phrases.h5", n=4)
    tiny = tiny_params(params)
    quarter = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, width=0.25))
    (root / "one").mkdir()
    stage_one = run_stage_one(root / "one", quarter, tensor) / "checkpoint.pt"
    models = root / "models"
    export_weights(stage_one, models / tables.SHIPPED_STAGE_ONE)

    def stop_after_one(state):
        if state.iteration == 1:
            raise StopTraining("the time budget of 1 minutes")

    out = root / "two"
    train.run(
        quarter,
        "twostage_dbn",
        tensor,
        out,
        root / "snap",
        stage_one,
        after_iteration=stop_after_one,
    )
    export_weights(out / "checkpoint.pt", models / tables.SHIPPED_STAGE_TWO)
    return models


def run_tables(outputs, modes):
    tables_stage.run(
        outputs / "evaluate",
        outputs / "runs",
        REFERENCE,
        outputs / "out",
        modes,
        outputs / "models",
    )


@pytest.fixture
def outputs(tmp_path, shipped):
    (tmp_path / "models").symlink_to(shipped, target_is_directory=True)
    metrics_dir = tmp_path / "evaluate"
    for i, name in enumerate(SETS):
        write_json(
            metrics_dir / name / "metrics.json",
            {
                "paper": fake_block("paper", 0.5 + i / 100, 8),
                "musical": fake_block("musical", 0.25 + i / 100, 8),
            },
        )
    log = tmp_path / "runs" / "pretrain" / "proposed" / "monitor.csv"
    log.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "iteration": [0, 1, 2],
            "qualified_note_rate": [0.1, None, 0.3],
            "polyphonicity": [0.2, None, 0.1],
            "empty_bar_rate": [0.5, 1.0, 0.4],
        }
    ).to_csv(log, index=False)
    return tmp_path


def test_tables_put_ours_beside_the_papers(outputs):
    run_tables(outputs, ["paper", "musical"])
    md = (outputs / "out" / "table1.md").read_text()
    qn = 0.5 + SETS.index("pretrain_proposed_ht") / 100
    # pretrained HT: ours beside the paper's 0.72 / 0.22 / 1.00 (paper_reference.csv)
    assert f"| pretrained (HT) | {qn:.2f} (0.72) | {qn / 2:.2f} (0.22) | – (1.00) | 8 |" in md
    assert "| training data |" in md and "(0.88)" in md and "(0.48)" in md
    musical = md.split("`musical` mode")[1]
    assert "(0.72)" not in musical  # no published counterpart in musical mode
    assert "pretrain/proposed: 3 iterations" in md
    csv = pd.read_csv(outputs / "out" / "table2.csv")
    assert list(csv["model"][:6]) == [r.label for r in tables.TABLE2]
    assert set(csv["mode"]) == {"paper", "musical"}
    assert (outputs / "out" / "curves" / "pretrain_proposed.png").stat().st_size > 1000


def test_each_row_says_how_its_model_was_trained(outputs):
    """This run's untrained demos, runs stopped by their budget, and the shipped models (width,
    iterations) each say so in the ``trained`` column."""
    summary = outputs / "runs" / "pretrain" / "proposed" / "summary.json"
    write_json(summary, {"iterations": 3, "stopped_early": "the time budget of 5 minutes"})
    run_tables(outputs, ["paper"])
    csv = pd.read_csv(outputs / "out" / "table1.csv").set_index("model")["trained"]
    assert csv["training data"] == "–"
    assert csv["pretrained (HT)"] == (
        "this run: 3 iterations (demo, untrained) (stopped by the time budget of 5 minutes)"
    )
    assert csv["pretrained (HT), CPU-scale"] == "shipped CPU-scale model: width 1/4, 2 iterations"
    assert csv["proposed (DBN), CPU-scale"] == (
        "shipped CPU-scale model: width 1/4, 1 iterations (stopped by its time budget; 2 planned)"
    )
    md = (outputs / "out" / "table1.md").read_text()
    assert "| shipped CPU-scale model: width 1/4, 2 iterations |" in md


def test_a_missing_shipped_model_is_a_clear_error(outputs, tmp_path):
    (tmp_path / "models").unlink()
    (tmp_path / "models").mkdir()
    with pytest.raises(tables.DataError, match="pretrain_proposed_cpu.pt: cannot read"):
        run_tables(outputs, ["paper"])


def test_curves_are_the_paper_runs_only(outputs):
    """A track-conditional run is not upstream of the tables: whether it has finished when they
    are drawn depends on the scheduler, so its curve must not be drawn (tables stay the same)."""
    runs = outputs / "runs"
    curve = (runs / "pretrain" / "proposed" / "monitor.csv").read_bytes()
    for stage in ("train", "train_conditional", "pretrain_conditional"):
        (runs / stage / "joint_dbn").mkdir(parents=True)
        (runs / stage / "joint_dbn" / "monitor.csv").write_bytes(curve)
    assert list(curves.read_curves(runs)) == ["pretrain/proposed", "train/joint_dbn"]


def test_missing_metrics_names_the_file(outputs):
    (outputs / "evaluate" / "joint_dbn" / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="joint_dbn/metrics.json: missing"):
        run_tables(outputs, ["paper"])


def test_every_row_has_a_paper_reference():
    reference = pd.read_csv(REFERENCE)
    for row in tables.TABLE1 + tables.TABLE2:
        assert 0 < tables.reference_row(reference, row)["paper_QN"] < 1


def modern_block(n: int, pce: float, oa: float | None) -> dict:
    aggregate = {
        "pitch_class_entropy": pce,
        "scale_consistency": 0.9,
        "polyphony": 2.5,
        "empty_beat_rate": None,
        "groove_consistency": 0.95,
    }
    features = ("note_count", "pitch_count", "pitch_range", "pitch_class_histogram")
    distances = {
        "reference": "training_data",
        "mean_overlap_area": oa,
        "features": {name: {"overlap_area": oa} for name in features},
    }
    return {
        "mode": "modern",
        "n_phrases": n,
        "n_bars": 4 * n,
        "aggregate": aggregate,
        "per_track": {},
        "distances": distances if oa is not None else None,
    }


def test_modern_table_beside_tables_1_and_2(outputs):
    for i, name in enumerate(SETS):
        path = outputs / "evaluate" / name / "metrics.json"
        data = json.loads(path.read_text())
        data["modern"] = modern_block(8, 2.0 + i / 100, None if i == 0 else 0.5 + i / 100)
        write_json(path, data)
    run_tables(outputs, ["paper", "musical", "modern"])
    assert "modern" not in (outputs / "out" / "table1.md").read_text()
    assert set(pd.read_csv(outputs / "out" / "table1.csv")["mode"]) == {"paper", "musical"}
    csv = pd.read_csv(outputs / "out" / "table_modern.csv")
    assert len(csv) == len(SETS)  # every evaluated set once
    row = csv[csv["model"] == "pretrained (HT)"].iloc[0]
    i = SETS.index("pretrain_proposed_ht")
    assert row["PCE"] == pytest.approx(2.0 + i / 100)
    assert row["OA"] == pytest.approx(0.5 + i / 100) and row["OA_PCH"] == row["OA"]
    assert pd.isna(row["EBR"]) and pd.isna(row["OA_IOI"])  # null / absent: undefined
    md = (outputs / "out" / "table_modern.md").read_text()
    assert f"| pretrained (HT) | {2.0 + i / 100:.2f} | 0.90 | 2.50 | – | 0.95 |" in md


def test_modern_table_says_when_the_mode_is_off(outputs):
    run_tables(outputs, ["paper", "musical"])
    assert "is off" in (outputs / "out" / "table_modern.md").read_text()
    assert pd.read_csv(outputs / "out" / "table_modern.csv").empty


def test_metrics_without_their_modern_block_are_a_clear_error(outputs):
    with pytest.raises(tables.DataError, match="no 'modern' mode"):
        run_tables(outputs, ["paper", "modern"])
