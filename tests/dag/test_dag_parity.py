"""DVC and Snakemake describe the same DAG: the same stage instances running the same commands
with the same inputs and outputs."""

from __future__ import annotations

import pytest
import yaml

from tests.dag.dag_tools import N_JOBS, REPO, dvc_jobs, scratch_repo, snakemake_jobs


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = scratch_repo(tmp_path_factory.mktemp("parity"))
    return dvc_jobs(root), snakemake_jobs(root)


def test_same_stage_instances(both):
    dvc, smk = both
    assert set(dvc) == set(smk)
    # 4 data stages, 3 stage-one runs, 6 experiments, 15 sample sets, 16 evaluations, 1 tables,
    # 1 report
    assert len(dvc) == N_JOBS
    assert {"fetch", "report"} <= set(dvc)


def test_same_commands(both):
    dvc, smk = both
    different = {n: (dvc[n].cmd, smk[n].cmd) for n in dvc if dvc[n].cmd != smk[n].cmd}
    assert not different


FETCHED = "data/lpd"
FETCH_REPORT = "outputs/fetch/report.json"


def as_snakemake_sees(deps: frozenset[str]) -> frozenset[str]:
    """DVC's deps with a path inside data/lpd replaced by fetch's report: Snakemake cannot
    declare that folder (it deletes a rule's outputs before running it; fetch keeps them, DVC's
    persist), so its rules depend on the report instead (source_input, common.smk)."""
    return frozenset(FETCH_REPORT if d.startswith(FETCHED + "/") else d for d in deps)


def test_same_inputs_and_outputs(both):
    dvc, smk = both
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # the folders Snakemake compares by modification time: the LPD tree unless fetch fills it,
    # the MIDI folder only with filter.source: midi
    folders = {params["paths"]["lpd_root"], params["paths"]["midi_dir"]} - {FETCH_REPORT}
    for name in dvc:
        deps = as_snakemake_sees(dvc[name].deps)
        if name == "index_sources":
            # the one planned difference in deps: DVC runs it every time (always_changed) and
            # lists no folder; Snakemake can only compare the folders' modification times
            assert deps <= smk[name].deps <= deps | folders
        else:
            assert deps == smk[name].deps, name
        if name == "fetch":  # the other: data/lpd is an output for DVC alone (see above)
            assert dvc[name].outs == smk[name].outs | {FETCHED}
        else:
            assert dvc[name].outs == smk[name].outs, name
    # no other stage depends on the source folders themselves, only on the listing
    assert all(not (job.deps & folders) for job in dvc.values())
    listing = "outputs/index_sources/listing.tsv"
    assert {n for n, job in dvc.items() if listing in job.deps} == {"filter", "build_tensor"}
    # fetch comes first in both tools: index_sources waits for its report
    assert FETCH_REPORT in dvc["index_sources"].deps and FETCH_REPORT in smk["index_sources"].deps


def test_end_to_end_runs_do_not_depend_on_stage_one(both):
    dvc, _ = both
    for name in ("train@end2end_dbn", "train@end2end_sbn"):
        assert not any("pretrain" in d for d in dvc[name].deps)
        assert "--pretrained" not in dvc[name].cmd
    assert "outputs/pretrain/proposed/checkpoint.pt" in dvc["train@joint_sbn"].deps


def test_sample_sets_are_evaluated_against_the_training_features(both):
    """Mode modern: the training tensor is read once; every other evaluation reads its features
    file (docs/metrics.md), in both tools (the tests above)."""
    dvc, _ = both
    features = "outputs/evaluate/training_data/features.json"
    training = dvc["evaluate@training_data"]
    assert features in training.outs and features not in training.deps
    assert "--reference-features" not in training.cmd
    others = [job for name, job in dvc.items() if name.startswith("evaluate@") and job != training]
    assert len(others) == 15
    for job in others:
        assert features in job.deps and f"--reference-features {features}" in job.cmd
