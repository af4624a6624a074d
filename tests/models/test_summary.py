"""The summary command and its layer tables."""

from __future__ import annotations

import pytest
import torch

from pipeline.models import build_refiner, layer_table
from pipeline.models.__main__ import main
from pipeline.models.summary import format_table


def test_summary_command_prints_tables_and_spec_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--summary", "--network", "D"]) == 0
    out = capsys.readouterr().out
    for line in ("D proposed", "D ablated", "D baseline", "D proposed_small"):
        assert f"== {line} ==" in out
    for count in ("2,155,297", "1,811,329", "3,028,737", "1,298,001"):
        assert f"{count}    {count} OK" in out
    assert "merged.0.0" in out and "(3, 1, 1, 512)" in out
    assert "MISMATCH" not in out


def test_layer_table_rows_and_folded_tracks() -> None:
    refiner = build_refiner("dbn", n_tracks=2)
    rows = layer_table(refiner, torch.rand(1, 1, 12, 84, 2))
    assert sum(r.params for r in rows) == 2 * 9_606
    assert rows[0].name == "private.0.units.0.branch.0" and rows[0].shape == (1, 12, 84, 1)
    assert refiner.training  # the mode is restored after the table's eval-mode pass
    text = format_table("R", rows, 2 * 9_606)
    assert "private.1..1: 1 more tracks" in text and "private.1.units" not in text
