"""The track-conditional experiments in the DAG (docs/accompany.md): off by default, on through
one switch.

Off (the default params), neither tool has a conditional job, so the default run is unchanged
(test_dag_parity.py still counts N_JOBS). On (``conditional.pretrain: [proposed]``,
``conditional.experiments: [twostage_dbn]``), both tools have the same four extra jobs with the
same commands, inputs and outputs. The whole-DAG runs of tests/dag (the DVC smoke run, the
session's Snakemake run, the SLURM run) switch it on and run those jobs through both tools.
"""

from __future__ import annotations

from tests.dag.dag_tools import (
    N_JOBS,
    dvc_jobs,
    scratch_repo,
    snakemake_jobs,
)
from tests.dag.test_smoke import CONDITIONAL_JOBS, CONDITIONAL_ON


def test_off_by_default(tmp_path) -> None:
    root = scratch_repo(tmp_path)
    jobs = dvc_jobs(root)
    assert len(jobs) == N_JOBS
    assert not [name for name in jobs if "conditional" in name]


def test_switched_on_both_tools_agree(tmp_path) -> None:
    root = scratch_repo(tmp_path, CONDITIONAL_ON)
    dvc, smk = dvc_jobs(root), snakemake_jobs(root)
    assert set(dvc) == set(smk)
    assert set(dvc) - set(dvc_jobs(scratch_repo(tmp_path / "off"))) == CONDITIONAL_JOBS
    for name in CONDITIONAL_JOBS:
        assert dvc[name].cmd == smk[name].cmd, name
        assert dvc[name].deps == smk[name].deps, name
        assert dvc[name].outs == smk[name].outs, name
    train = dvc["train_conditional@twostage_dbn"]
    assert "--conditional" in train.cmd
    assert "outputs/pretrain_conditional/proposed/checkpoint.pt" in train.deps
    assert "outputs/pretrain/proposed/checkpoint.pt" not in train.deps  # its own stage one
