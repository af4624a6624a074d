"""Stage evaluate_conditional before any model: the references alone (docs/accompany.md)."""

from __future__ import annotations

import json

import numpy as np

from pipeline.data.phrase_file import PhraseBatch, write_phrase_file
from pipeline.stages import evaluate_conditional
from tests.conftest import REPO
from tests.training.conftest import TRACKS


def test_references_without_a_model(tmp_path) -> None:
    # two phrases: Piano and Guitar play the same triad per phrase, C major then F# major
    phrases = np.zeros((2, 4, 96, 84, 3), dtype=bool)
    for i, chord in enumerate([(0, 4, 7), (6, 10, 13)]):
        for p in chord:
            phrases[i, ..., p, 1] = phrases[i, ..., p + 12, 2] = True
    tensor = tmp_path / "phrases.h5"
    batch = PhraseBatch(phrases, [""] * 2, [""] * 2, [-1] * 2)
    write_phrase_file(tensor, [batch], phrases.shape[1:], TRACKS, 24, 24, {})
    evaluate_conditional.main(
        [
            "--params",
            str(REPO / "params.yaml"),
            "--tensor",
            str(tensor),
            "--out-dir",
            str(tmp_path / "out"),
        ]
    )
    result = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "model" not in result and result["given_track"] == "Piano"
    assert result["real_pairs"]["td"] == 0.0  # the same pitch classes, an octave apart
    assert result["shuffled_pairs"]["td"] > 1.0  # a tritone apart
    table = (tmp_path / "out" / "table.md").read_text().splitlines()
    assert table[-2].startswith("| real pairs (ceiling) | 0.0000 |")
    assert table[-1].startswith("| shuffled pairs (floor) |")
