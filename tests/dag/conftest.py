"""One local Snakemake run of the whole DAG on tiny params: the SLURM, DVC-remote, report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dag.dag_tools import BIN, run, scratch_repo
from tests.dag.test_smoke import TINY


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Path:
    """``snakemake --cores 2`` in a scratch repo, recorded for DVC and committed with its dvc.lock.

    ``dvc commit -f`` records Snakemake's outputs (DESIGN.md convention 6) and moves them into the
    DVC cache; committing dvc.lock is what a team sharing a run through a DVC remote does (the
    repository itself leaves dvc.lock uncommitted).
    """
    root = scratch_repo(tmp_path_factory.mktemp("local"), TINY)
    run([str(BIN / "snakemake"), "--cores", "2"], root)
    run([str(BIN / "dvc"), "commit", "-f"], root)
    run(["git", "add", "dvc.lock"], root)
    run(["git", "commit", "-q", "-m", "a run on tiny params"], root)
    return root
