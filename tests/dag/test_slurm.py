"""A real single-node SLURM cluster, through profiles/slurm (README, "Running on a cluster").

The cluster is the one ``scripts/slurm_local.sh`` brings up (with slurmdbd, so ``sacct`` works, and
two fake GPUs); this module starts it when it is installed but not running, and stops it again.
The run covers every rule that runs on the cluster but the two at the DAG's end (``tables`` and
``report``, which need all 46 jobs: a whole-DAG run already runs twice in the suite): the data
stages, two stage-one trainings at once, a two-stage model and its sample set and evaluation, and
the conditional experiment. It must send every job through sbatch, give the GPU rules and only
they a GPU, and produce the same bytes as the local ``snakemake --cores 2`` run of the whole DAG
on the same params (``local_run``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.dag.dag_tools import (
    BIN,
    LOCAL_RULES,
    REPO,
    output_files,
    parse_snakemake_jobs,
    run,
    same_file,
    scratch_repo,
)
from tests.dag.test_smoke import WHOLE_DAG

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm_local.sh"
GPU_RULES = {
    "pretrain",
    "train",
    "sample",
    "pretrain_conditional",
    "train_conditional",
    "sample_conditional",
}
# The run's targets and the jobs they need (fetch runs on the submitting host: LOCAL_RULES).
TARGETS = [
    "outputs/pretrain/ablated/checkpoint.pt",
    "outputs/evaluate/twostage_dbn/metrics.json",
    "outputs/evaluate_conditional/twostage_dbn/table.md",
]
JOBS = {
    "fetch",
    "index_sources",
    "filter",
    "build_tensor",
    "pretrain@proposed",
    "pretrain@ablated",
    "train@twostage_dbn",
    "sample@twostage_dbn",
    "evaluate@training_data",  # the reference features of mode modern
    "evaluate@twostage_dbn",
    "pretrain_conditional@proposed",
    "train_conditional@twostage_dbn",
    "sample_conditional@twostage_dbn",
    "evaluate_conditional@twostage_dbn",
}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
# Fields of sacct -X --parsable2 below, in order.
SACCT_FIELDS = ["JobID", "JobName", "State", "Comment", "AllocTRES", "Start", "End", "WorkDir"]


def sinfo_ok() -> bool:
    return subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def cluster():
    """A running SLURM cluster: the one already up, or one this module brings up and down."""
    if shutil.which("sbatch") is None:
        pytest.skip(
            "SLURM is not installed (apt-get install -y slurm-wlm munge mariadb-server slurmdbd, "
            "as .ci/run does)"
        )
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("the Snakemake SLURM plugin is not installed (pip install -e '.[cluster]')")
    if sinfo_ok():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is installed but not running, and starting it needs root")
    try:
        run([str(SCRIPT), "up"], REPO, timeout=120)
        yield
    finally:  # a failed ``up`` may have started some of the daemons
        run([str(SCRIPT), "down"], REPO, timeout=120)


def fit_profile_to_this_node(root: Path) -> None:
    """Shrink each rule's CPUs and memory in the scratch copy's profile to fit this 2-CPU node.

    This is the one edit a user makes for their cluster (README); everything else, the GPU
    requests included, is the profile as shipped.
    """
    path = root / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        resources.update(cpus_per_task=1, mem_mb=2000)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory, mirror) -> tuple[Path, str]:
    # the same data as the local run it is compared with: fetched from the session's mirror
    root = scratch_repo(tmp_path_factory.mktemp("slurm"), WHOLE_DAG, mirror)
    fit_profile_to_this_node(root)
    # Frequent status checks: tiny jobs end in seconds, and the plugin waits this long before
    # each check while jobs finish (the profile's 40 s suits real ones; with 10 s the cores sat
    # idle between the DAG's levels).
    output = run(
        [
            str(BIN / "snakemake"),
            "--workflow-profile",
            "profiles/slurm",
            "--slurm-init-seconds-before-status-checks",
            "3",
            *TARGETS,
        ],
        root,
    )
    return root, output


def sacct(job_ids: list[str]) -> list[dict[str, str]]:
    """One accounting record per job (allocations only, no steps)."""
    command = ["sacct", "-X", "-n", "--parsable2", "-j", ",".join(job_ids)]
    command.append("--format=" + ",".join(SACCT_FIELDS))
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [dict(zip(SACCT_FIELDS, line.split("|"), strict=True)) for line in text.splitlines()]


def rule_of(record: dict[str, str]) -> str:
    """The rule a job ran: the plugin's comment is rule_<rule> or rule_<rule>_wildcards_<...>."""
    match = re.fullmatch(r"rule_([a-z_]+?)(?:_wildcards_.*)?", record["Comment"])
    assert match, f"not a Snakemake job: {record}"
    return match[1]


@pytest.fixture(scope="module")
def records(slurm_run) -> list[dict[str, str]]:
    """sacct's record of every job the run submitted."""
    _, output = slurm_run
    return sacct([job_id for job_id, _ in SUBMITTED.findall(output)])


def test_every_job_went_through_sbatch(slurm_run, records):
    root, output = slurm_run
    jobs = parse_snakemake_jobs(output)
    submitted = SUBMITTED.findall(output)
    assert set(jobs) == JOBS
    assert len(submitted) == len(jobs) - len(LOCAL_RULES) == len(records)
    # one run: the plugin names every job after the run's id, and each ran in the scratch repo
    assert len({r["JobName"] for r in records}) == 1
    assert {r["WorkDir"] for r in records} == {str(root)}
    assert {r["State"] for r in records} == {"COMPLETED"}
    cluster_jobs = [name.split("@")[0] for name in jobs if name not in LOCAL_RULES]
    assert sorted(map(rule_of, records)) == sorted(cluster_jobs)
    # one SLURM log per job, kept under logs/slurm/rule_<rule>/
    for _, log in submitted:
        assert Path(log).is_file() and Path(log).is_relative_to(root / "logs" / "slurm")


def test_gpu_rules_and_only_they_got_a_gpu(records):
    for r in records:
        assert ("gres/gpu=1" in r["AllocTRES"]) == (rule_of(r) in GPU_RULES), r


def test_independent_trainings_ran_at_the_same_time(records):
    spans = sorted(
        (datetime.fromisoformat(r["Start"]), datetime.fromisoformat(r["End"]))
        for r in records
        if rule_of(r) in ("pretrain", "train")
    )
    assert len(spans) == 3  # pretrain@proposed, pretrain@ablated, train@twostage_dbn
    # some training starts before an earlier one has ended (SLURM's times are whole seconds)
    ends_so_far = [max(end for _, end in spans[: i + 1]) for i in range(len(spans))]
    assert any(start < ended for (start, _), ended in zip(spans[1:], ends_so_far, strict=False))


def test_outputs_equal_the_local_run(slurm_run, local_run):
    root, _ = slurm_run
    ours, local = output_files(root, JOBS), output_files(local_run, JOBS)
    assert set(ours) == set(local)
    assert "outputs/evaluate_conditional/twostage_dbn/table.md" in ours
    # symusic's audio differs now and then by about 1e-3 in a few samples
    # (pipeline/export/audio.py); it is compared decoded, within a tolerance.
    different = sorted(p for p in ours if not same_file(p, ours[p], local[p]))
    assert not different, different
