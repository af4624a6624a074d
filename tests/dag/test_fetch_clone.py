"""The whole DAG from a fresh clone with no ../shared beside it: stage fetch downloads a subset of
the real data from a mirror on 127.0.0.1 (tests/fetch_tools.py), verifies it, and both tools run
every stage to the tables; a second ``dvc repro`` downloads nothing (issue 18, section 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.dag.dag_tools import ALWAYS_RUN, BIN, N_JOBS, REPO, run, write_params
from tests.dag.test_smoke import TINY, ran_dvc_stages, ran_snakemake_jobs
from tests.fetch_tools import sample, serve

pytestmark = pytest.mark.slow

N_FILES = 30  # alternative-tagged LPD-cleansed files: enough phrases for batches of one


@pytest.fixture(scope="module")
def mirror():
    data = sample(N_FILES, tags=("alternative", "rock"))
    with serve(data.downloads()) as server:
        yield data, server


def fresh_clone(tmp: Path, data, url: str) -> Path:
    """A git clone of the committed HEAD, nothing beside it, fetching from ``url`` only."""
    root = tmp / "main"
    run(["git", "clone", "-q", str(REPO), str(root)], tmp)
    assert not (tmp / "shared").exists() and not (root / "data" / "lpd").exists()
    tiny = {k: v for k, v in TINY.items() if k != "paths"}  # paths stay at data/lpd
    write_params(root, {**tiny, "fetch": {"local_dir": None, "mirrors": [url], "backoff": 0.0}})
    # the subset the mirror serves, in place of the full manifest
    (root / "data" / "sources.yaml").write_text(yaml.safe_dump(data.manifest(), sort_keys=False))
    return root


def test_dvc_fetches_and_runs_everything_then_downloads_nothing(mirror, tmp_path):
    data, server = mirror
    root = fresh_clone(tmp_path, data, server.url)
    before = len(server.requests)
    first = run([str(BIN / "dvc"), "repro"], root)
    assert len(ran_dvc_stages(first)) == N_JOBS
    assert len(server.requests) - before == 3  # one request per download
    assert (root / "outputs/tables/table1.md").is_file()
    report = json.loads((root / "outputs/fetch/report.json").read_text())
    assert report["obtained"] == N_FILES + 2 + 1 and report["downloaded_bytes"] > 0
    assert len(list((root / "data/lpd/lpd_cleansed").rglob("*.npz"))) == N_FILES

    second = run([str(BIN / "dvc"), "repro"], root)
    assert ran_dvc_stages(second) == ALWAYS_RUN
    assert len(server.requests) - before == 3


def test_snakemake_fetches_and_runs_everything(mirror, tmp_path):
    data, server = mirror
    root = fresh_clone(tmp_path, data, server.url)
    before = len(server.requests)
    first = run([str(BIN / "snakemake"), "--cores", "2"], root)
    assert len(ran_snakemake_jobs(first)) == N_JOBS
    assert len(server.requests) - before == 3
    assert (root / "outputs/tables/table2.md").is_file()
    assert "Nothing to be done" in run([str(BIN / "snakemake"), "--cores", "2"], root)
    assert len(server.requests) - before == 3
