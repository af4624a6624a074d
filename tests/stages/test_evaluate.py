"""Stage ``evaluate`` end to end on a small phrase file: fixed keys, per-track blocks, nulls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.phrase_file import PhraseBatch, TrackInfo, write_phrase_file
from pipeline.metrics import evaluate_all_modes
from pipeline.metrics.aggregate import AGGREGATE_KEYS, METRICS
from pipeline.stages import evaluate
from tests.conftest import REPO
from tests.metrics.conftest import TRACKS

TRACK_KEYS = ["drums", "piano", "guitar", "bass", "ensemble", "reed", "synth_lead", "synth_pad"]


def write_file(path: Path, phrases: np.ndarray) -> None:
    info = TrackInfo(
        names=TRACKS, programs=[0, 0, 24, 32, 48, 64, 80, 88], is_drums=[True] + [False] * 7
    )
    n = len(phrases)
    batches = [
        PhraseBatch(
            phrases[i : i + 3],
            [""] * len(phrases[i : i + 3]),
            [""] * len(phrases[i : i + 3]),
            [-1] * len(phrases[i : i + 3]),
        )
        for i in range(0, n, 3)
    ]
    write_phrase_file(
        path, batches, phrases.shape[1:], info, lowest_pitch=24, resolution=24, params={}
    )


@pytest.fixture(scope="module")
def phrase_file(tmp_path_factory: pytest.TempPathFactory, real_bars: np.ndarray) -> Path:
    phrases = real_bars.reshape(-1, 4, 96, 84, 8).copy()  # 12 real phrases
    phrases[:, :, :, :, 5] = False  # reed never plays: its values are null
    path = tmp_path_factory.mktemp("evaluate") / "phrases.h5"
    write_file(path, phrases)
    return path


def test_run_writes_both_modes_with_fixed_keys(params, phrase_file, tmp_path):
    out = tmp_path / "out" / "metrics.json"
    returned = evaluate.run(params.metrics, phrase_file, out)
    text = out.read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert data == returned
    assert list(data) == sorted(params.metrics.modes)
    for mode in ("paper", "musical"):
        block = data[mode]
        assert set(block) == {"mode", "n_phrases", "n_bars", "aggregate", "per_track"}
        assert block["mode"] == mode
        assert block["n_phrases"] == 12 and block["n_bars"] == 48
        assert list(block["aggregate"]) == sorted(AGGREGATE_KEYS)
        assert all(isinstance(v, float) for v in block["aggregate"].values())
        assert sorted(block["per_track"]) == sorted(TRACK_KEYS)
        for key, values in block["per_track"].items():
            assert sorted(values) == sorted(METRICS), key
        assert block["per_track"]["reed"]["empty_bar_rate"] == 1.0
        assert block["per_track"]["reed"]["polyphonicity"] is None
        assert block["per_track"]["drums"]["qualified_note_rate"] is None
        assert block["per_track"]["piano"]["drum_pattern_rate"] is None
    assert data["paper"]["aggregate"] != data["musical"]["aggregate"]
    modern = data["modern"]  # on by default (docs/metrics.md); tests/stages/test_evaluate_modern.py
    assert set(modern) == {"mode", "n_phrases", "n_bars", "aggregate", "per_track", "distances"}
    assert modern["n_phrases"] == 12 and modern["n_bars"] == 48
    assert modern["per_track"]["reed"]["polyphony"] is None


def test_stage_equals_in_memory_evaluation(params, phrase_file, tmp_path, real_bars):
    data = evaluate.run(params.metrics, phrase_file, tmp_path / "metrics.json")
    phrases = real_bars.reshape(-1, 4, 96, 84, 8).copy()
    phrases[..., 5] = False
    in_memory = json.loads(json.dumps(evaluate_all_modes(phrases, params.metrics, TRACKS)))
    assert data.keys() == in_memory.keys()
    for mode in data:
        for key, value in in_memory[mode]["aggregate"].items():
            assert data[mode]["aggregate"][key] == pytest.approx(value, rel=1e-12)


def test_command_line(phrase_file, tmp_path):
    out = tmp_path / "m" / "metrics.json"
    command = [
        sys.executable,
        "-m",
        "pipeline.stages.evaluate",
        "--params",
        str(REPO / "params.yaml"),
        "--phrases",
        str(phrase_file),
        "--metrics",
        str(out),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(out.read_text())) == {"paper", "musical", "modern"}
    assert not list(out.parent.glob(".*tmp"))  # atomic write left no temporary file
