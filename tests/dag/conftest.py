"""One local Snakemake run of the whole DAG on tiny params, shared by the Snakemake smoke test
and the SLURM, DVC-remote and report tests (each whole-DAG run costs minutes of the suite).

Like the DVC smoke run, it runs as a user's fresh clone would, with no ../shared beside it: stage
fetch downloads a subset of the real data from a server on 127.0.0.1 (``mirror``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dag.dag_tools import BIN, N_MIRRORED, Mirror, run, scratch_repo
from tests.dag.test_smoke import WHOLE_DAG
from tests.fetch_tools import sample, serve


@pytest.fixture(scope="session")
def mirror():
    """The session's data server: the whole-DAG runs fetch from it alone, with no ../shared."""
    data = sample(N_MIRRORED, tags=("alternative", "rock"))
    with serve(data.downloads()) as server:
        yield Mirror(server.url, data.manifest(), server)


@dataclass(frozen=True)
class SnakemakeRun:
    root: Path
    first: str  # the output of the run of the whole DAG
    second: str  # the output of the same command run again at once
    downloads: int  # requests the first run made to the mirror


@pytest.fixture(scope="session")
def local_snakemake_run(tmp_path_factory, mirror) -> SnakemakeRun:
    """``snakemake --cores 2`` twice in a scratch repo, then recorded for DVC and committed.

    ``dvc commit -f`` records Snakemake's outputs and moves them into the
    DVC cache; committing dvc.lock is what a team sharing a run through a DVC remote does (the
    repository itself leaves dvc.lock uncommitted).
    """
    root = scratch_repo(tmp_path_factory.mktemp("local"), WHOLE_DAG, mirror)
    before = len(mirror.server.requests)
    first = run([str(BIN / "snakemake"), "--cores", "2"], root)
    downloads = len(mirror.server.requests) - before
    second = run([str(BIN / "snakemake"), "--cores", "2"], root)
    assert len(mirror.server.requests) - before == downloads  # the second run fetched nothing
    run([str(BIN / "dvc"), "commit", "-f"], root)
    run(["git", "add", "dvc.lock"], root)
    run(["git", "commit", "-q", "-m", "a run on tiny params"], root)
    return SnakemakeRun(root, first, second, downloads)


@pytest.fixture(scope="session")
def local_run(local_snakemake_run) -> Path:
    """The scratch repo of the shared local run."""
    return local_snakemake_run.root
