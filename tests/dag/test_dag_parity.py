"""DVC and Snakemake describe the same DAG: the same stage instances running the same commands
with the same inputs and outputs (DESIGN.md convention 1)."""

from __future__ import annotations

import pytest

from tests.dag.dag_tools import N_JOBS, dvc_jobs, scratch_repo, snakemake_jobs


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = scratch_repo(tmp_path_factory.mktemp("parity"))
    return dvc_jobs(root), snakemake_jobs(root)


def test_same_stage_instances(both):
    dvc, smk = both
    assert set(dvc) == set(smk)
    # 2 data stages, 3 stage-one runs, 6 experiments, 12 sample sets, 13 evaluations, 1 tables,
    # 1 report
    assert len(dvc) == N_JOBS
    assert "report" in dvc


def test_same_commands(both):
    dvc, smk = both
    different = {n: (dvc[n].cmd, smk[n].cmd) for n in dvc if dvc[n].cmd != smk[n].cmd}
    assert not different


def test_same_inputs_and_outputs(both):
    dvc, smk = both
    for name in dvc:
        assert dvc[name].deps == smk[name].deps, name
        assert dvc[name].outs == smk[name].outs, name


def test_end_to_end_runs_do_not_depend_on_stage_one(both):
    dvc, _ = both
    for name in ("train@end2end_dbn", "train@end2end_sbn"):
        assert not any("pretrain" in d for d in dvc[name].deps)
        assert "--pretrained" not in dvc[name].cmd
    assert "outputs/pretrain/proposed/checkpoint.pt" in dvc["train@joint_sbn"].deps
