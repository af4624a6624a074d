"""The whole DAG, raw LPD files to tables, through both orchestrators on tiny params.

DVC runs in a scratch copy of the repo of its own (``tests/dag/dag_tools.py``), Snakemake's test
reads the session's shared run (``conftest.py``): a full run produces the tables, a second run
does nothing, and changing one training param reruns only the stages that depend on it. Both run
as a user's fresh clone would, with no ../shared beside them: stage fetch downloads a subset of the
real data from a server on 127.0.0.1 and verifies it, and a second run downloads nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.dag.dag_tools import (
    ALWAYS_RUN,
    BIN,
    N_JOBS,
    N_MIRRORED,
    parse_snakemake_jobs,
    run,
    scratch_repo,
    write_params,
)

pytestmark = pytest.mark.slow

# Small enough for CI: the 497-song sample (50 alternative songs) instead of the default
# lpd_alternative tree, one phrase per song, one iteration per model with a single critic step,
# networks at an eighth of the paper's width, 2 samples per set and audio of one (a dense phrase
# of an untrained model takes seconds to synthesize). Batches of 2, not 1: at batch 1 PyTorch's
# CPU convolution takes its slow reference path for the refiner's narrow layers (its oneDNN
# heuristic), and one refiner pass took longer than at batch 2.
TINY = {
    "paths": {"lpd_root": "../shared/data/lpd/lpd_cleansed"},
    "build_tensor": {"phrases_per_song": 1},
    "model": {"width": 0.125},
    "optim": {
        "n_critic": 1,
        "n_critic_burst": 1,
        "burst_first_iterations": 1,
        "monitor_every": 1,
        "snapshot_every": 1,
    },
    "pretrain": {"batch_size": 2, "n_iterations": 1},
    "train": {"batch_size": 2, "n_iterations": 1, "n_iterations_end2end": 1},
    "sample": {
        "n_phrases_pretrain": 2,
        "n_phrases_binary": 2,
        "batch_size": 2,
        "n_midi": 1,
        "n_grid": 2,
        "n_audio": 1,
    },
}
# The whole-DAG runs (this DVC run, the session's Snakemake run and the SLURM run) also switch on
# the track-conditional experiment (docs/accompany.md; off in params.yaml), so that its four jobs
# run through both tools without a whole-DAG run of their own.
CONDITIONAL_ON = {"conditional": {"pretrain": ["proposed"], "experiments": ["twostage_dbn"]}}
CONDITIONAL_JOBS = {
    "pretrain_conditional@proposed",
    "train_conditional@twostage_dbn",
    "sample_conditional@twostage_dbn",
    "evaluate_conditional@twostage_dbn",
}
WHOLE_DAG = {**TINY, **CONDITIONAL_ON}
N_WHOLE_DAG = N_JOBS + len(CONDITIONAL_JOBS)
# What depends on train.n_iterations_end2end, and nothing else.
END2END_DOWNSTREAM = {
    "train@end2end_dbn",
    "train@end2end_sbn",
    "sample@end2end_dbn",
    "sample@end2end_sbn",
    "evaluate@end2end_dbn",
    "evaluate@end2end_sbn",
    "tables",
    "report",
}


def dvc(root, *args):
    return run([str(BIN / "dvc"), *args], root)


def snakemake(root, *args):
    return run([str(BIN / "snakemake"), "--cores", "2", *args], root)


def ran_dvc_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def ran_snakemake_jobs(output: str) -> set[str]:
    """Jobs of a Snakemake run or dry run, named like DVC stages (rule@wildcard)."""
    return set(parse_snakemake_jobs(output))


def check_conditional_run(root: Path) -> None:
    """The conditional experiment's condition-following table for the given track: the model's
    tonal distances beside the real pairs of the training data (the ceiling, closer) and shuffled
    pairs (the floor)."""
    out = root / "outputs/evaluate_conditional/twostage_dbn"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "musical" and metrics["given_track"] == "Piano"
    assert set(metrics["model"]["tracks"]) == set(metrics["real_pairs"]["tracks"])
    assert metrics["real_pairs"]["td"] < metrics["shuffled_pairs"]["td"]
    assert (out / "table.md").is_file()


def test_dvc_runs_everything_then_nothing(tmp_path, mirror):
    # a user's fresh clone: no ../shared beside it, the data fetched from a mirror
    root = scratch_repo(tmp_path, WHOLE_DAG, mirror)
    before = len(mirror.server.requests)
    first = dvc(root, "repro")
    assert len(ran_dvc_stages(first)) == N_WHOLE_DAG and CONDITIONAL_JOBS <= ran_dvc_stages(first)
    check_conditional_run(root)
    assert len(mirror.server.requests) - before == 3  # one request per download
    report = json.loads((root / "outputs/fetch/report.json").read_text())
    assert report["downloaded_bytes"] > 0
    assert len(list((root / "data/lpd/lpd_cleansed").rglob("*.npz"))) == N_MIRRORED
    table = (root / "outputs/tables/table1.md").read_text()
    assert "training data" in table and "`paper` mode" in table and "`musical` mode" in table

    second = dvc(root, "repro")
    assert ran_dvc_stages(second) == ALWAYS_RUN
    assert len(mirror.server.requests) - before == 3  # the second run downloaded nothing
    assert "training_data" in dvc(root, "metrics", "show")
    dvc(root, "plots", "show")
    assert (root / "dvc_plots" / "index.html").is_file()

    # a variant as a DVC experiment: only what depends on the changed param reruns
    third = dvc(root, "exp", "run", "-S", "train.n_iterations_end2end=2")
    assert ran_dvc_stages(third) <= END2END_DOWNSTREAM | ALWAYS_RUN
    assert {"train@end2end_dbn", "train@end2end_sbn"} <= ran_dvc_stages(third)


def test_snakemake_runs_everything_then_nothing(local_snakemake_run):
    # the session's shared run (conftest.py): the whole DAG, then the same command again
    root = local_snakemake_run.root
    assert len(ran_snakemake_jobs(local_snakemake_run.first)) == N_WHOLE_DAG
    assert CONDITIONAL_JOBS <= ran_snakemake_jobs(local_snakemake_run.first)
    check_conditional_run(root)
    assert local_snakemake_run.downloads == 3  # fetch: one request per download, from the mirror
    assert (root / "outputs/tables/table2.md").is_file()
    assert "Nothing to be done" in local_snakemake_run.second

    # a dry run only: the shared run's params are put back for the other modules that use it
    params = (root / "params.yaml").read_bytes()
    try:
        write_params(root, {"train": {"n_iterations_end2end": 2}})
        planned = snakemake(root, "-n")
    finally:
        (root / "params.yaml").write_bytes(params)
    assert ran_snakemake_jobs(planned) == END2END_DOWNSTREAM
