"""Data and models shared through the DVC remote (docs/sharing.md).

After the shared tiny-params run (``local_run``), ``dvc push`` sends every output to the default
remote, the folder ``../dvc-storage`` beside the repo. Fresh clones beside it get them back with
``dvc pull``, and a colleague takes one checkpoint with ``dvc get`` without running anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.dag.dag_tools import (
    ALWAYS_RUN,
    BIN,
    dvc_status_stages,
    output_files,
    run,
    write_params,
)
from tests.dag.test_smoke import END2END_DOWNSTREAM, ran_dvc_stages, ran_snakemake_jobs

pytestmark = pytest.mark.slow

TENSOR = "outputs/build_tensor/phrases.h5"
FETCHED = "data/lpd"  # stage fetch's folder, an output with cache: false


def dvc(root: Path, *args: str) -> str:
    return run([str(BIN / "dvc"), *args], root)


def clone(origin: Path, name: str, pull: bool = True) -> Path:
    """A git clone of ``origin`` beside it (so ``../shared`` and ``../dvc-storage`` resolve)."""
    path = origin.parent / name
    run(["git", "clone", "-q", str(origin), str(path)], origin.parent)
    if pull:
        dvc(path, "pull")
    return path


def lock_outs(root: Path) -> dict[str, str]:
    """Every output recorded in ``root/dvc.lock``, with its md5 (``<md5>.dir`` for a folder)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for stage in lock["stages"].values() for o in stage["outs"]}


def object_path(md5: str) -> Path:
    """Where a DVC cache or remote keeps an object, relative to its root."""
    return Path("files", "md5", md5[:2], md5[2:])


def cache_object(root: Path, out: str) -> Path:
    """The object in the DVC cache of ``root`` that holds the file output ``out``."""
    return root / ".dvc" / "cache" / object_path(lock_outs(root)[out])


@pytest.fixture(scope="module")
def pushed(local_run: Path) -> Path:
    dvc(local_run, "push")
    return local_run


def test_push_fills_the_default_remote_beside_the_repo(pushed):
    remote = pushed.parent / "dvc-storage"
    outs = lock_outs(pushed)
    assert TENSOR in outs and len(outs) > 37  # every stage has outputs; most have several
    # all but the fetched data (cache: false): public and hash-checked, it is fetched, not pushed
    pushed_outs = {path: md5 for path, md5 in outs.items() if path != FETCHED}
    missing = [p for p, md5 in pushed_outs.items() if not (remote / object_path(md5)).is_file()]
    assert not missing, f"not in the remote: {missing}"


def test_the_tensor_is_not_copied_into_the_cache(pushed):
    # reflink (a copy-on-write clone) or hardlink: one copy on disk, not two
    workspace, cached = pushed / TENSOR, cache_object(pushed, TENSOR)
    same_file = os.stat(workspace).st_ino == os.stat(cached).st_ino
    assert same_file or _is_reflink_fs(pushed), "the workspace tensor is a second full copy"


def _is_reflink_fs(root: Path) -> bool:
    """Whether DVC linked by reflink here (then inodes differ although no data was copied)."""
    return "reflink" in dvc(root, "doctor")


def test_pull_restores_every_output_byte_identical(pushed):
    pulled = clone(pushed, "pulled")
    assert output_files(pulled) == output_files(pushed)
    # the fetched data is not in the remote (cache: false): the clone fetches it again, here from
    # the session's mirror, and nothing downstream reruns (the listing has the same md5s, and
    # filter, listed while its fetched inputs are missing, finds them unchanged)
    assert dvc_status_stages(dvc(pulled, "status")) == ALWAYS_RUN | {"fetch", "filter"}
    assert ran_dvc_stages(dvc(pulled, "repro")) == ALWAYS_RUN | {"fetch"}
    assert dvc_status_stages(dvc(pulled, "status")) == ALWAYS_RUN


def test_repro_rewrites_a_linked_output(pushed):
    # The pulled tensor is a read-only link into the cache; a stage must still be able to
    # replace it (it writes a temp file and renames it over the output).
    pulled = clone(pushed, "rewritten")
    before = (pulled / TENSOR).read_bytes()
    dvc(pulled, "repro", "-s", "fetch")  # build_tensor reads the fetched songs
    assert ran_dvc_stages(dvc(pulled, "repro", "-f", "-s", "build_tensor")) == {"build_tensor"}
    assert (pulled / TENSOR).read_bytes() == before
    assert dvc_status_stages(dvc(pulled, "status")) == ALWAYS_RUN


def test_snakemake_does_not_rerun_what_dvc_restored(pushed):
    # The rule (README): after `dvc pull`, `snakemake --touch --forceall` marks every output as
    # made by Snakemake, in DAG order, without changing its content.
    pulled = clone(pushed, "touched")
    files = output_files(pulled)
    run([str(BIN / "snakemake"), "--touch", "--forceall"], pulled)
    assert "Nothing to be done" in run([str(BIN / "snakemake"), "-n"], pulled)
    assert output_files(pulled) == files
    # the touch recorded each job's params: a change still reruns exactly what depends on it
    write_params(pulled, {"train": {"n_iterations_end2end": 2}})
    assert ran_snakemake_jobs(run([str(BIN / "snakemake"), "-n"], pulled)) == END2END_DOWNSTREAM


def test_a_colleague_samples_from_a_checkpoint_taken_with_dvc_get(pushed):
    # The colleague has the repository (a plain git clone: no outputs, no cache) and the remote,
    # takes one trained checkpoint, the tensor (for its track names) and the params, and samples.
    repo = clone(pushed, "repository", pull=False)
    assert not (repo / "outputs").exists()
    desk = pushed.parent / "colleague"
    desk.mkdir()
    checkpoint = "outputs/train/joint_dbn/checkpoint.pt"
    for path in (checkpoint, TENSOR, "params.yaml"):
        # the same relative paths as in the repo: a sample set records where its model came from
        (desk / path).parent.mkdir(parents=True, exist_ok=True)
        dvc(desk, "get", str(repo), path, "-o", path)
    assert not (repo / ".dvc" / "cache").exists()  # so they came from the remote
    command = [sys.executable, "-m", "pipeline.stages.sample", "--params", "params.yaml"]
    command += ["--checkpoint", checkpoint, "--tensor", TENSOR, "--binarize", "model"]
    run([*command, "--out-dir", "sample", "--log", "sample.log"], desk)
    # the same model, params and seed: the very sample set the pipeline made
    made = pushed / "outputs/sample/joint_dbn"
    for name in ["phrases.h5", "grid.png", *(f"midi/{p.name}" for p in made.glob("midi/*.mid"))]:
        assert (desk / "sample" / name).read_bytes() == (made / name).read_bytes(), name
