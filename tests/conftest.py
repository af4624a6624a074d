"""Shared fixtures: the real data under ../shared (never written to) and the default params."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Params, load_params

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real LPD files, label lists and MIDI files (read-only)."""
    assert DATA.is_dir(), f"{DATA} is missing: clone the repo beside ../shared"
    return DATA


@pytest.fixture(scope="session")
def params() -> Params:
    """The repository's default ``params.yaml``."""
    return load_params(REPO / "params.yaml")
