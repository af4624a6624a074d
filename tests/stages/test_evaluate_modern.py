"""Stage ``evaluate`` with mode ``modern``: the 2018 blocks unchanged to the byte, the features
file, the comparison with the training data's features, and clear errors for a bad file."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Metrics
from pipeline.metrics.modern import MEASURES
from pipeline.stages import evaluate
from tests.conftest import REPO
from tests.stages.test_evaluate import write_file


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, real_bars: np.ndarray) -> dict[str, Path]:
    """A 'training' file of 12 real phrases and a 'sample' file of 12 random ones."""
    folder = tmp_path_factory.mktemp("modern")
    real = real_bars.reshape(-1, 4, 96, 84, 8).copy()
    noise = np.random.default_rng(0).random(real.shape) < 0.05
    write_file(folder / "training.h5", real)
    write_file(folder / "sample.h5", noise)
    return {"training": folder / "training.h5", "sample": folder / "sample.h5"}


def with_modes(cfg: Metrics, modes: list[str]) -> Metrics:
    return dataclasses.replace(
        cfg, modes=modes, modern=dataclasses.replace(cfg.modern, n_phrases=5, n_pairs=500)
    )


def test_paper_and_musical_blocks_are_byte_identical_with_modern(params, files, tmp_path):
    base = with_modes(params.metrics, ["paper", "musical"])
    both = with_modes(params.metrics, ["paper", "musical", "modern"])
    evaluate.run(base, files["training"], tmp_path / "a" / "metrics.json")
    evaluate.run(both, files["training"], tmp_path / "b" / "metrics.json")
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert set(b) == {"paper", "musical", "modern"}
    for mode in ("paper", "musical"):
        assert json.dumps(a[mode], sort_keys=True) == json.dumps(b[mode], sort_keys=True)
    # the default params (modern on) write the same 2018 blocks
    default = evaluate.run(params.metrics, files["training"], tmp_path / "c" / "metrics.json")
    assert "modern" in default
    for mode in ("paper", "musical"):
        assert json.dumps(default[mode], sort_keys=True) == json.dumps(a[mode], sort_keys=True)


def test_training_features_then_a_sample_set_against_them(params, files, tmp_path):
    cfg = with_modes(params.metrics, ["paper", "modern"])
    features = tmp_path / "training" / "features.json"
    train = evaluate.run(cfg, files["training"], tmp_path / "training" / "m.json", features)
    doc = json.loads(features.read_text())
    assert doc["n_phrases_total"] == 12
    assert len(doc["features"]["pitch_class_histogram"]) == 5  # the seeded subsample
    block = train["modern"]
    assert set(block["aggregate"]) == set(MEASURES)
    assert block["per_track"]["drums"]["pitch_class_entropy"] is None  # not for drums
    assert block["per_track"]["drums"]["groove_consistency"] is not None
    assert block["distances"]["reference"] == "self"
    assert block["distances"]["n_phrases"] == 5  # the next 5 of the permutation: disjoint

    sample = evaluate.run(
        cfg, files["sample"], tmp_path / "sample" / "m.json", tmp_path / "s.json", features
    )
    dist = sample["modern"]["distances"]
    assert dist["reference"] == "training_data" and dist["n_reference"] == 5
    # random phrases use nearly all 84 pitches, real ones a few dozen at most
    per = dist["features"]["pitch_count"]
    assert per["inter_mean"] > per["intra_mean"] + 20
    assert (
        per["overlap_area"]
        < 0.05
        < train["modern"]["distances"]["features"]["pitch_count"]["overlap_area"]
    )
    assert sample["modern"]["n_phrases"] == 12
    # deterministic: the same run gives the same bytes
    again = tmp_path / "again.json"
    evaluate.run(cfg, files["sample"], again, None, features)
    assert again.read_bytes() == (tmp_path / "sample" / "m.json").read_bytes()


def run_main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.stages.evaluate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def params_with_modern(tmp_path: Path) -> Path:
    text = (REPO / "params.yaml").read_text()
    text = text.replace("modes: [paper, musical]", "modes: [paper, musical, modern]")
    assert "modern]" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "bmusegan-modern-feat', "not valid JSON"),
        ('{"format": "bmusegan-modern-features", "features": null}', "mode modern off"),
        ("[1, 2]", "not a features file"),
        (
            '{"format": "bmusegan-modern-features", "features": {"note_count": [[1], ["x"]]}}',
            "not a table of numbers",
        ),
    ],
)
def test_a_bad_reference_file_is_a_one_line_error(files, tmp_path, content, message):
    bad = tmp_path / "features.json"
    bad.write_text(content)
    proc = run_main(
        "--params",
        str(params_with_modern(tmp_path)),
        "--phrases",
        str(files["sample"]),
        "--metrics",
        str(tmp_path / "metrics.json"),
        "--reference-features",
        str(bad),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and message in proc.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_modern_off_writes_an_empty_features_file_and_ignores_the_reference(
    params, files, tmp_path
):
    features = tmp_path / "features.json"
    missing = tmp_path / "no_such_reference.json"
    cfg = with_modes(params.metrics, ["paper", "musical"])
    result = evaluate.run(cfg, files["sample"], tmp_path / "m.json", features, missing)
    assert "modern" not in result
    assert json.loads(features.read_text())["features"] is None


def test_a_set_smaller_than_two_subsamples_is_split_in_halves(params, files, tmp_path):
    assert params.metrics.modern.n_phrases > 12
    result = evaluate.run(params.metrics, files["training"], tmp_path / "m.json")
    dist = result["modern"]["distances"]
    assert (dist["reference"], dist["n_reference"], dist["n_phrases"]) == ("self", 6, 6)
