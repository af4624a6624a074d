"""Helpers for the DAG tests: a scratch copy of the repo and both orchestrators' views of the DAG.

The scratch copy lives in ``<tmp>/main`` with ``<tmp>/shared`` linked to the real ``../shared``, so
the default ``../shared/...`` paths of params.yaml resolve exactly as in a real checkout; or, for
the whole-DAG runs, with nothing beside it and the data served on 127.0.0.1 (``Mirror``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent  # the virtualenv's bin/: python, dvc, snakemake

# Stage instances of the whole DAG (both tools; test_dag_parity checks they agree): 9 trainings,
# 15 sample sets (12 of this run's models, 3 of the shipped ones), 16 evaluations, fetch,
# index_sources, filter, build_tensor, tables and report.
N_JOBS = 46
# Alternative-tagged LPD-cleansed files the mirrored whole-DAG runs fetch: enough phrases for
# batches of one.
N_MIRRORED = 30
PROVENANCE = b"<h2>Provenance</h2>"  # the results page's run-specific end
# Stages DVC runs on every `dvc repro` (always_changed in dvc.yaml): a no-op repro runs these and
# nothing else, and `dvc status` always lists them.
ALWAYS_RUN = {"index_sources"}
# Stage fetch's folder: input data, not a result. DVC does not cache it (`cache: false`), so a
# clone that pulled a run from a remote fetches it again; Snakemake runs fetch on the submitting
# host (localrules), never as a cluster job.
FETCHED = "data/lpd"
LOCAL_RULES = {"fetch"}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@dataclass(frozen=True)
class Job:
    """One stage instance as an orchestrator sees it."""

    name: str  # DVC addressing: stage or stage@item
    cmd: str  # whitespace-normalised command line
    deps: frozenset[str]
    outs: frozenset[str]


@dataclass(frozen=True)
class Mirror:
    """A 127.0.0.1 server of a subset of the real data (tests/fetch_tools.py) and its manifest."""

    url: str
    manifest: dict
    server: object  # tests.fetch_tools.Server: its ``requests`` count what fetch downloaded


def env() -> dict[str, str]:
    """The environment for subprocesses: the virtualenv first on PATH, git identity set."""
    return {**os.environ, **GIT_ENV, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def run(cmd: list[str], cwd: Path, timeout: float = 3600) -> str:
    """Run ``cmd`` in ``cwd``; return its stdout+stderr, failing loudly with them on error."""
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-6000:]}"
    return output


def scratch_repo(tmp: Path, params_update: dict | None = None, mirror=None) -> Path:
    """Copy the tracked and untracked-unignored files of the repo to ``tmp/main`` as a git repo.

    ``tmp/shared`` links to the real ``../shared``, unless ``mirror`` (a ``MirrorRun``) is given:
    then nothing is beside the copy, as in a user's fresh clone, and stage fetch takes a subset of
    the real data from that server on 127.0.0.1 alone (its manifest replaces data/sources.yaml).
    """
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    root = tmp / "main"
    for name in filter(None, files):
        if name == "dvc.lock":  # a local run's record; a fresh clone has none
            continue
        src = REPO / name
        if src.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)
    if mirror is None:
        (tmp / "shared").symlink_to(SHARED, target_is_directory=True)
    else:
        fetch = {"local_dir": None, "mirrors": [mirror.url], "backoff": 0.0}
        params_update = {**(params_update or {}), "fetch": fetch}
        params_update.pop("paths", None)  # paths stay at what fetch fills, data/lpd
        (root / "data" / "sources.yaml").write_text(yaml.safe_dump(mirror.manifest))
    if params_update:
        write_params(root, params_update)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "scratch"], root)
    return root


def write_params(root: Path, update: dict) -> None:
    """Merge ``update`` (section -> {key: value}) into ``root/params.yaml``."""
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in update.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def output_files(root: Path, jobs: set[str] | None = None) -> dict[str, bytes]:
    """The bytes of every file the DAG declares as an output (folders expanded), by path; or only
    those of ``jobs`` (DVC-style names) where given.

    Only declared outputs: a training also leaves an undeclared, machine-dependent
    ``timing.json`` (wall time) beside them, which neither tool tracks nor shares. Snakemake's
    ``.snakemake_timestamp`` marker in folder outputs is not content either (.dvcignore).
    """
    files = {}
    for job in dvc_jobs(root).values():
        if jobs is not None and job.name not in jobs:
            continue
        for out in sorted(job.outs - {FETCHED}):  # the fetched data is input, not a result
            path = root / out
            assert path.exists(), f"{job.name}: output {out} is missing in {root}"
            found = [path] if path.is_file() else sorted(path.rglob("*"))
            found = [f for f in found if f.is_file() and f.name != ".snakemake_timestamp"]
            files.update({f.relative_to(root).as_posix(): f.read_bytes() for f in found})
    return files


def dvc_status_stages(status: str) -> set[str]:
    """The stages a `dvc status` output lists as changed (each on a line ending in a colon)."""
    return {line[:-1] for line in status.splitlines() if line.endswith(":") and line[:1].strip()}


def _norm(cmd: str) -> str:
    return " ".join(cmd.split())


def _expand_code(paths: list[str], root: Path) -> frozenset[str]:
    """Code folders under pipeline/ become their .py files, as the Snakemake rules list them."""
    out = set()
    for p in paths:
        if p.startswith("pipeline/") and (root / p).is_dir():
            out |= {f.relative_to(root).as_posix() for f in (root / p).rglob("*.py")}
        else:
            out.add(p)
    return frozenset(out)


def dvc_jobs(root: Path) -> dict[str, Job]:
    """Every DVC stage instance with its resolved command, deps and outs."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = list(repo.index.stages)
        return {
            s.name: Job(
                s.name,
                _norm(s.cmd),
                # params are compared by the rule's params:, not as a dependency on params.yaml
                _expand_code(
                    [d.def_path for d in s.deps if not isinstance(d, ParamsDependency)], root
                ),
                frozenset(o.def_path for o in s.outs),
            )
            for s in stages
        }


_RULE = re.compile(r"^(?:local)?rule (\w+):$")


def snakemake_jobs(root: Path) -> dict[str, Job]:
    """Every Snakemake job of a forced dry run, named like DVC's stage instances."""
    text = run([str(BIN / "snakemake"), "-n", "-p", "--forceall", "--cores", "1"], root)
    return parse_snakemake_jobs(text)


def parse_snakemake_jobs(text: str) -> dict[str, Job]:
    """The jobs a Snakemake run or dry run printed (with --printshellcmds), by DVC-style name."""
    jobs: dict[str, Job] = {}
    block: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if match := _RULE.match(line):
            block = {"rule": match.group(1)}
        elif ":" in line and block and "cmd" not in block:
            key, _, value = line.partition(":")
            block[key.strip()] = value.strip()
            if key == "Shell command" and value.strip() != "None":  # rule all runs nothing
                block["cmd"] = value.strip()
                jobs_add(jobs, block)
    return jobs


def _paths(listing: str) -> frozenset[str]:
    """The comma-separated paths of a dry-run ``input:``/``output:`` line."""
    return frozenset(filter(None, (p.strip() for p in listing.split(","))))


def jobs_add(jobs: dict[str, Job], block: dict[str, str]) -> None:
    """Add one parsed dry-run block as a Job (DVC-style name: rule@wildcard)."""
    name = block["rule"]
    if "wildcards" in block:
        name += "@" + block["wildcards"].split("=", 1)[1]
    inputs, outputs = _paths(block.get("input", "")), _paths(block.get("output", ""))
    jobs[name] = Job(name, _norm(block["cmd"]), inputs, outputs)


def same_file(name: str, a: bytes, b: bytes) -> bool:
    """Equal bytes, but for the two outputs that are not deterministic (test_slurm.py, the kill
    harness): the results page's provenance (commit, stage wall times) and symusic's audio
    (which now and then differs by about 1e-3; compared decoded, within 1e-2)."""
    if name.endswith(".html"):
        a, b = (x.split(PROVENANCE)[0] for x in (a, b))
    if name.endswith(".flac") and a != b:
        x, y = (soundfile.read(io.BytesIO(data))[0] for data in (a, b))
        return x.shape == y.shape and bool(np.max(np.abs(x - y), initial=0.0) < 1e-2)
    return a == b
