"""The original runs' progress files as the report reads them (docs/model.md, sections 7.1, 5.6)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.report import curves
from tests.conftest import REPO

PROGRESS = REPO / "data/reference/training_progress"


def test_every_run_has_its_original_and_the_aggregates_are_the_specs():
    for name in curves.REFERENCE_FILES.values():
        assert (PROGRESS / f"{name}.npz").is_file(), name
    path = PROGRESS / f"{curves.REFERENCE_FILES['pretrain/proposed']}.npz"
    ref = curves.read_reference(path)
    # the last logged global step of stage one (docs/model.md, sections 4.3 and 7.4)
    assert ref["step"].iloc[-1] == 55416
    raw = np.load(path)["score_matrix_means"]
    assert ref["EB"].iloc[-1] == pytest.approx(raw[-1, 0].mean())
    assert ref["QN"].iloc[-1] == pytest.approx(np.nanmean(raw[-1, 2]))
    assert ref[["EB", "QN", "PP"]].dropna().apply(lambda c: c.between(0, 1).all()).all()


def test_a_broken_progress_file_names_itself(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, steps=np.arange(3))
    with pytest.raises(ValueError, match="bad.npz: not a training-progress file"):
        curves.read_reference(bad)
