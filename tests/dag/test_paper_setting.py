"""The paper-setting commands (docs/paper_setting.md) apply configs/paper.yaml as an overlay, in
both orchestrators: the paper's values where it names a key, the user's params.yaml elsewhere, the
user's own ``paths`` above all.

DVC:        dvc exp run -n paper $(python -m pipeline.dvc_flags configs/paper.yaml)
Snakemake:  snakemake --cores 2 --configfile configs/paper.yaml
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from pipeline.config import as_dict, load_params, params_digest
from pipeline.dvc_flags import set_flags
from tests.dag.dag_tools import BIN, N_JOBS, SHARED, run, scratch_repo

PAPER = "configs/paper.yaml"


def with_users_paths(tmp_path: Path) -> Path:
    """A scratch repo whose params.yaml reads the data from the user's own folders (links to the
    bundled data under other names, so that the DAG's inputs exist)."""
    mine = tmp_path / "my_data"
    mine.mkdir()
    (mine / "lpd").symlink_to(SHARED / "data" / "lpd_alternative" / "lpd_cleansed")
    (mine / "ids.txt").symlink_to(SHARED / "data" / "lpd" / "cleansed_ids.txt")
    update = {"paths": {"lpd_root": "../my_data/lpd", "cleansed_ids": "../my_data/ids.txt"}}
    return scratch_repo(tmp_path, update)


def test_snakemake_with_the_paper_overlay_passes_the_merged_params_to_every_stage(
    tmp_path: Path,
) -> None:
    root = with_users_paths(tmp_path)
    out = run([str(BIN / "snakemake"), "-n", "-p", "--configfile", PAPER], root)
    want = load_params(root / "params.yaml", [root / PAPER])
    ((params_file, digest),) = set(re.findall(r"params: (\S+) \(digest (\w+)\)", out))
    assert digest == params_digest(want)
    assert params_file == f".snakemake/params/{digest}.yaml"
    # exactly what the stages read: the paper's values and the user's paths
    assert load_params(root / params_file) == want
    assert want.paths.lpd_root == "../my_data/lpd"
    assert want.pretrain.n_iterations == 6160
    commands = [line for line in out.splitlines() if "python -m pipeline.stages." in line]
    assert len(commands) >= N_JOBS  # every stage instance of the DAG
    assert all(f"--params {params_file} " in c for c in commands), commands[:3]
    assert any("--lpd-root ../my_data/lpd " in c for c in commands)


def test_snakemake_without_an_overlay_passes_params_yaml(tmp_path: Path) -> None:
    root = scratch_repo(tmp_path)
    out = run([str(BIN / "snakemake"), "-n", "-p"], root)
    assert re.findall(r"params: (\S+) \(digest", out) == ["params.yaml"]
    assert not (root / ".snakemake" / "params").exists()


def test_dvc_experiment_with_the_flags_runs_the_paper_setting(tmp_path: Path) -> None:
    root = with_users_paths(tmp_path)
    want = as_dict(load_params(root / "params.yaml", [root / PAPER]))
    flags = set_flags(root / PAPER, root / "params.yaml")
    assert not [f for f in flags if f.startswith("paths.")]
    # The documented command, on the cheapest stage: DVC applies the flags to params.yaml.
    run([str(BIN / "dvc"), "exp", "run", "filter", *shlex.split(" ".join(flags))], root)
    assert as_dict(load_params(root / "params.yaml")) == want
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    recorded = lock["stages"]["filter"]["params"]["params.yaml"]
    assert "--lpd-root ../my_data/lpd " in lock["stages"]["filter"]["cmd"]
    assert recorded == {key: want[key.split(".")[0]][key.split(".")[1]] for key in recorded}


def test_snakemake_reruns_follow_the_values_not_the_params_file_name(tmp_path: Path) -> None:
    """With the overlay, every stage reads another --params file; the data stages, whose values
    the paper overlay leaves alone, are still up to date, and an overlay that changes one of
    their values reruns them."""
    root = scratch_repo(tmp_path)
    target = "outputs/build_tensor/phrases.h5"
    run([str(BIN / "snakemake"), "--cores", "2", target], root)
    dry = [str(BIN / "snakemake"), "-n", target, "--configfile"]
    assert "Nothing to be done" in run([*dry, PAPER], root)
    (root / "seed.yaml").write_text("build_tensor:\n  seed: 1\n")
    out = run([*dry, "seed.yaml"], root)
    assert "rule build_tensor:" in out and "rule filter:" not in out, out[-3000:]
