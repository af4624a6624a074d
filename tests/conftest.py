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


# --- two pytest-xdist workers (addopts: -n 2 --dist loadgroup) ----------------------------------
# A session fixture is built once per worker, so the tests that share an expensive one must run in
# one worker: every test of the shared local Snakemake run (tests/dag/conftest.py) and of the SLURM
# run (compared with it; its cluster is machine-wide, so it must come up once) in one group, and
# every other test in the group of its test package (tests/training, tests/metrics, ...: their
# session fixtures train models or build tensors). The two workers then take whole groups.
# ``item.fixturenames`` holds the fixtures a test uses through others too (``records``...).
SHARED_RUN_FIXTURES = {"local_snakemake_run", "slurm_run"}
SHARED_RUN_GROUP = "local_run"


def xdist_group(item: pytest.Item) -> str:
    """The group ``item`` runs in: the shared run's, or its package's (e.g. ``tests/data``)."""
    if SHARED_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
        return SHARED_RUN_GROUP
    return item.path.parent.relative_to(REPO).as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups from the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test in its group; the shared run's tests first, as the longest group (the local
    run and the SLURM run of the whole DAG), so that the other worker takes everything else
    beside it."""
    group = {item.nodeid: xdist_group(item) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group[item.nodeid]))
    items.sort(key=lambda item: group[item.nodeid] != SHARED_RUN_GROUP)  # stable: order kept
