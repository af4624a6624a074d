"""Params fuzz: 560 seeded mutations of params.yaml; each loads as a valid config or stops with
one line naming the file and the key, in-process, through a stage's command line and through
``snakemake -n`` (which validates in ``workflow/rules/common.smk``)."""

from __future__ import annotations

import collections
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.config import Params, load_params
from pipeline.errors import ConfigError
from tests.dag.dag_tools import BIN, REPO, env
from tests.robust.damage import assert_clean_exit_2, run_module
from tests.robust.params_fuzz import Mutation, mutations, write

N_MUTATIONS = 560
SEED = 11
# A sample through each real entry point. Each costs a process start (several seconds on a busy
# 2-core machine), so CI runs 10; PARAMS_FUZZ_SUBPROCESS=20 is what the README's figures used.
N_SUBPROCESS = int(os.environ.get("PARAMS_FUZZ_SUBPROCESS", "10"))


@pytest.fixture(scope="module")
def fuzz() -> list[Mutation]:
    return mutations(REPO / "params.yaml", N_MUTATIONS, SEED)


def names_the_key(message: str, key: str) -> bool:
    """The message names ``key``: the whole dotted key, or its section and its own name (a check
    of two keys together, e.g. ``build_tensor.lowest_pitch/n_pitches``)."""
    section, _, leaf = key.partition(".")
    return key in message or (f"{section}." in message and leaf.split(".")[-1] in message)


def outcome(path: Path, mutation: Mutation) -> str | None:
    """None when the file loads as a config; else the ConfigError message, checked for form."""
    try:
        assert isinstance(load_params(path), Params)
        return None
    except ConfigError as error:
        message = str(error)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    if mutation.key is not None:
        assert names_the_key(message, mutation.key), (mutation.kind, mutation.key, message)
    return message


def test_every_mutation_loads_or_names_the_key(tmp_path, fuzz):
    counts: collections.Counter = collections.Counter()
    for i, mutation in enumerate(fuzz):
        path = write(tmp_path / f"params_{i}.yaml", mutation)
        message = outcome(path, mutation)
        if mutation.must_fail:
            assert message is not None, f"accepted: {mutation}"
        counts[(mutation.kind, "refused" if message else "loaded")] += 1
    print(dict(sorted(counts.items())))  # the README's figures (pytest -s)
    kinds = {kind for kind, _ in counts}
    assert {"wrong type", "out of range", "unknown key", "missing key", "yaml syntax"} <= kinds
    assert {"non-mapping file", "binary file", "deep nesting"} <= kinds
    assert sum(n for (_, result), n in counts.items() if result == "refused") >= N_MUTATIONS // 2


def _refused_sample(tmp_path: Path, fuzz: list[Mutation]) -> list[tuple[Path, str]]:
    """``N_SUBPROCESS`` refused mutations spread over the kinds, with their in-process message."""
    by_kind: dict[str, list[tuple[Path, str]]] = collections.defaultdict(list)
    for i, mutation in enumerate(fuzz):
        path = write(tmp_path / f"params_{i}.yaml", mutation)
        message = outcome(path, mutation)
        if message is not None:
            by_kind[mutation.kind].append((path, message))
    rng = random.Random(SEED)
    sample: list[tuple[Path, str]] = []
    while len(sample) < N_SUBPROCESS:
        kind = rng.choice(sorted(by_kind))
        if by_kind[kind]:
            sample.append(by_kind[kind].pop(rng.randrange(len(by_kind[kind]))))
    return sample


def test_a_stage_command_line_refuses_them_alike(tmp_path, fuzz):
    for path, message in _refused_sample(tmp_path, fuzz):
        args = ["--params", str(path), "--phrases", "none.h5", "--metrics", str(tmp_path / "m")]
        proc = run_module("pipeline.stages.evaluate", args, cwd=tmp_path)
        assert_clean_exit_2(proc, message)


def _workflow_copy(root: Path) -> Path:
    """The Snakefile, its rules and dvc.yaml (which the rules read) in a folder of their own."""
    root.mkdir()
    for name in ("Snakefile", "dvc.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "workflow", root / "workflow")
    return root


def test_snakemake_refuses_them_alike(tmp_path, fuzz):
    root = _workflow_copy(tmp_path / "wf")
    for path, message in _refused_sample(tmp_path, fuzz):
        shutil.copy(path, root / "params.yaml")
        proc = subprocess.run(
            [str(BIN / "snakemake"), "-n", "--cores", "1"],
            cwd=root,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        detail = message.split(": ", 1)[1]  # Snakemake names the file by its relative path
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        assert f"params.yaml: {detail}" in proc.stderr, (detail, proc.stderr[-2000:])
