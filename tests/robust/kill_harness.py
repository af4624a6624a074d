"""Kill harness: SIGKILL stage processes at seeded random moments, rerun, compare with a clean run.

    python -m tests.robust.kill_harness [--kills 5] [--seed 0] [--tools dvc snakemake]

A clean run takes the whole DAG (tiny params, a scratch copy of the repo) stage by stage, in DAG
order, timing each stage. Each tool then works in a copy of that run: for one instance of every
stage (``KILLED``; ``--only all`` for every instance), in DAG order, it starts the stage, the
harness kills the stage's own process (``python -m pipeline.stages.<stage>``) after
a seeded delay within the stage's uninterrupted duration (half of them in its last half, where the
outputs are written; after a kill that missed, within the lifetime that attempt showed), and then:

* every declared output that exists right after the kill must be byte-identical to the tool's
  uninterrupted result (an atomic write either happened in full or not at all; a differing file
  or a half-filled folder would be a partial output that a later run could take as complete);
* the rerun (``dvc repro -s`` / ``snakemake --rerun-incomplete``) must succeed and give outputs
  byte-identical to that result (``timing.json``, wall-clock figures, excluded; the results
  page's provenance and the audio as ``same_file`` says).

The uninterrupted result is the clean run's for DVC; Snakemake first runs the stage once
uninterrupted in its copy, since it gives a job one torch thread where DVC's stages use all cores,
and the last bits of CPU float sums depend on the thread count.

It prints a table: stage, kills, kills that landed during an output write (a temporary file was
left beside an output), reruns that recovered, outputs equal.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.lock import LOCK_NAME
from tests.dag.dag_tools import BIN, Job, dvc_jobs, env, run, same_file, scratch_repo
from tests.dag.test_smoke import TINY

# One instance of every stage of the DAG (and both kinds of sample set: a stage-one model
# binarized at test time, a binary model), killed; the other instances only run, in DAG order.
# Not fetch: its report counts what the run did (files already there, fetched, from where), so a
# rerun after a kill reports other counts by design; the files it leaves are verified one by one
# (tests/stages/test_fetch.py).
KILLED = [
    "index_sources",
    "filter",
    "build_tensor",
    "pretrain@proposed",
    "train@joint_dbn",
    "sample@pretrain_proposed_ht",
    "sample@joint_dbn",
    "evaluate@joint_dbn",
    "tables",
    "report",
]
MACHINE_DEPENDENT = ("timing.json",)


@dataclass
class Tally:
    stage: str
    tool: str
    kills: int = 0
    missed: int = 0  # attempts where the stage ended before the kill (not counted as kills)
    during_write: int = 0
    recovered: int = 0
    equal: int = 0
    bad_leftovers: list[str] = field(default_factory=list)


def read_output(path: Path) -> dict[str, bytes] | None:
    """The files of one output (a file, or a folder's files by relative name); None if absent.

    ``timing.json`` (wall-clock figures) and atomic writes' temporary files are left out."""
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {
        f.relative_to(path.parent).as_posix(): f.read_bytes()
        for f in files
        if f.name not in MACHINE_DEPENDENT
        and not (f.name.startswith(".") and f.name.endswith(".tmp"))
    }


def outputs(root: Path, outs: frozenset[str]) -> dict[str, dict[str, bytes] | None]:
    """The files of each declared output (None where absent); timing.json left out."""
    return {o: read_output(root / o) for o in sorted(outs) if Path(o).name not in MACHINE_DEPENDENT}


def same_output(a: dict[str, bytes] | None, b: dict[str, bytes] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(same_file(n, a[n], b[n]) for n in a)


def same_outputs(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_output(a[o], b[o]) for o in a)


def _children(pid: int) -> list[int]:
    """Child processes of ``pid``, of all its threads (Snakemake starts jobs from a thread)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def stage_process(pid: int) -> int | None:
    """The ``python -m pipeline.stages.*`` process among the descendants of ``pid``."""
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-m" in argv and any(a.startswith(b"pipeline.stages.") for a in argv):
            return child
        found = stage_process(child)
        if found:
            return found
    return None


def dag_order(jobs: dict[str, Job]) -> list[str]:
    """Every stage instance, each after the ones whose outputs it reads (stable by name)."""
    made_by = {out: name for name, job in jobs.items() for out in job.outs}
    needs = {name: {made_by[d] for d in job.deps if d in made_by} for name, job in jobs.items()}
    order: list[str] = []
    while len(order) < len(jobs):
        ready = sorted(n for n in jobs if n not in order and needs[n] <= set(order))
        assert ready, f"a cycle among {sorted(set(jobs) - set(order))}"
        order += ready
    return order


def command(tool: str, stage: str, out: str) -> list[str]:
    """Run one stage (forced), with its inputs already built."""
    if tool == "dvc":
        return [str(BIN / "dvc"), "repro", "-s", "-f", stage]
    rule = stage.split("@")[0]
    return [
        *(str(BIN / "snakemake"), "--cores", "1", "--rerun-incomplete"),
        *("--forcerun", rule, "--", out),
    ]


def kill_once(root: Path, cmd: list[str], delay: float | None) -> tuple[bool, float]:
    """Start ``cmd``; SIGKILL its stage process ``delay`` s after that process appeared (never,
    for None). Returns whether it was killed and how long the stage process was seen alive."""
    proc = subprocess.Popen(
        cmd, cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seen: float | None = None
    last_alive = 0.0
    killed = False
    while proc.poll() is None:
        target = stage_process(proc.pid)
        now = time.monotonic()
        if target:
            seen = now if seen is None else seen
            last_alive = now
        elif seen is not None and delay is None:
            break  # the stage process has ended: its lifetime is measured
        if target and seen is not None and delay is not None and now - seen >= delay:
            try:
                os.kill(target, signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                pass
            break
        time.sleep(0.01)
    lifetime = last_alive - seen if seen is not None else 0.0
    assert proc.wait(timeout=900) == 0 or delay is not None, f"{cmd} failed"
    return killed, lifetime


def temp_files_beside(root: Path, outs: frozenset[str]) -> bool:
    """Whether a temporary file of ``pipeline.io.atomic_path`` lies beside any output."""
    folders = {(root / o).parent for o in outs} | {root / o for o in outs if (root / o).is_dir()}
    return any(any(p.name.endswith(".tmp") for p in d.glob(".*")) for d in folders if d.is_dir())


def harness(
    tools: list[str],
    stages: list[str] | None,
    kills: int,
    seed: int,
    only: set[str] | None = None,
) -> list[Tally]:
    """Kill each of ``stages`` (default: the whole DAG in order; those in ``only``, when given,
    the others only run in the clean run) ``kills`` times per tool; return the tallies."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="kill-harness-") as tmp:
        clean = scratch_repo(Path(tmp) / "clean", TINY)
        jobs = dvc_jobs(clean)
        stages = stages or dag_order(jobs)
        reference, duration = {}, {}
        for stage in stages:
            _, duration[stage] = kill_once(clean, command("dvc", stage, ""), None)
            reference[stage] = outputs(clean, jobs[stage].outs)
        tallies = []
        for tool in tools:
            root = copy_of_the_clean_run(Path(tmp), tool)
            for stage in stages:
                if only is not None and stage not in only:
                    continue  # done in the copy already
                out = sorted(jobs[stage].outs)[0]
                expected = reference[stage]
                if tool != "dvc":
                    # This tool's own uninterrupted result: Snakemake runs a job with one torch
                    # thread (OMP_NUM_THREADS = the job's threads), DVC with all cores, and CPU
                    # float sums differ in their last bits between thread counts.
                    run(command(tool, stage, out), root)
                    expected = outputs(root, jobs[stage].outs)
                tally = Tally(stage, tool)
                wanted = kills
                for k in range(4 * wanted):  # a kill misses when the stage ends first: retry
                    if tally.kills == wanted:
                        break
                    low = 0.5 if k % 2 else 0.05  # every other kill in the last half
                    delay = rng.uniform(low, 1.0) * duration[stage]
                    killed, lifetime = kill_once(root, command(tool, stage, out), delay)
                    if not killed:
                        tally.missed += 1
                        # this tool, under this load, ran the stage faster than the clean run
                        # did: draw the next moments within the lifetime just seen
                        duration[stage] = min(duration[stage], lifetime)
                        continue
                    tally.kills += 1
                    tally.during_write += temp_files_beside(root, jobs[stage].outs)
                    left = outputs(root, jobs[stage].outs)
                    tally.bad_leftovers += [
                        o
                        for o, files in left.items()
                        if files is not None and not same_output(files, expected[o])
                    ]
                    cmd = command(tool, stage, out)
                    rerun = subprocess.run(cmd, cwd=root, env=env(), capture_output=True)
                    tally.recovered += rerun.returncode == 0
                    tally.equal += same_outputs(outputs(root, jobs[stage].outs), expected)
                if tally.kills == 0:  # leave the stage done for the next
                    run(command(tool, stage, out), root)
                tallies.append(tally)
                print(row(tally), flush=True)  # progress: the table row by row
        return tallies


def copy_of_the_clean_run(tmp: Path, tool: str) -> Path:
    """A copy of the clean run's scratch repo (outputs, DVC's records) for ``tool`` to kill
    stages in: the stages that are not killed need not run again. Snakemake first records the
    copied outputs as its own (``--touch --forceall``, README "Snakemake after DVC")."""
    shutil.copytree(tmp / "clean", tmp / tool, symlinks=True)
    root = tmp / tool / "main"
    (root / LOCK_NAME).unlink(missing_ok=True)  # the clean run's DVC holds it no more
    if tool == "snakemake":
        run([str(BIN / "snakemake"), "--cores", "1", "--touch", "--forceall"], root)
    return root


def table(tallies: list[Tally]) -> str:
    lines = [
        "| tool | stage | kills | during an output write | reruns recovered | outputs equal | "
        "partial outputs left | missed (stage ended first) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(lines + [row(t) for t in tallies])


def row(t: Tally) -> str:
    return (
        f"| {t.tool} | {t.stage} | {t.kills} | {t.during_write} | {t.recovered} | {t.equal} | "
        f"{len(t.bad_leftovers)} | {t.missed} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tools", nargs="+", default=["dvc", "snakemake"])
    parser.add_argument(
        "--stages", nargs="+", default=None, help="run in this order (default: the whole DAG)"
    )
    parser.add_argument(
        "--only", nargs="+", default=KILLED, help="kill only these ('all': every stage run)"
    )
    args = parser.parse_args()
    only = None if args.only == ["all"] else set(args.only)
    print(table(harness(args.tools, args.stages, args.kills, args.seed, only)))


if __name__ == "__main__":
    main()
