"""Two orchestrators in one checkout: the second tool's jobs are refused while the first runs.

The unit tests check the lock's rule; the slow test starts ``dvc repro`` and, while its training
stage runs, ``snakemake`` for the same output in the same checkout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.lock import LOCK_NAME, CheckoutBusy, Holder, claim_checkout, find_orchestrator
from tests.dag.dag_tools import BIN, env, run, scratch_repo
from tests.dag.test_smoke import TINY

HOST = socket.gethostname()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_jobs_of_one_tool_share_the_checkout(tmp_path):
    claim_checkout(tmp_path, Holder("snakemake", HOST, os.getpid()))
    claim_checkout(tmp_path, Holder("snakemake", HOST, os.getpid()))
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder == {"tool": "snakemake", "host": HOST, "pid": os.getpid()}


def test_the_other_tool_is_refused_while_the_holder_lives(tmp_path):
    claim_checkout(tmp_path, Holder("snakemake", HOST, os.getpid()))
    with pytest.raises(CheckoutBusy, match=r"snakemake \(pid \d+\) is running in this checkout"):
        claim_checkout(tmp_path, Holder("dvc", HOST, os.getppid()))


def test_a_stale_or_damaged_lock_is_replaced(tmp_path):
    claim_checkout(tmp_path, Holder("snakemake", HOST, _dead_pid()))
    claim_checkout(tmp_path, Holder("dvc", HOST, os.getpid()))
    assert json.loads((tmp_path / LOCK_NAME).read_text())["tool"] == "dvc"
    (tmp_path / LOCK_NAME).write_text("{garbage")
    claim_checkout(tmp_path, Holder("snakemake", HOST, os.getpid()))
    assert json.loads((tmp_path / LOCK_NAME).read_text())["tool"] == "snakemake"


def test_a_stage_run_by_hand_takes_no_lock(tmp_path):
    assert find_orchestrator() is None  # pytest is neither tool
    assert claim_checkout(tmp_path) is None
    assert not (tmp_path / LOCK_NAME).exists()


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.mark.slow
def test_snakemake_is_refused_while_dvc_trains(tmp_path):
    """DVC holds the checkout while its pretrain stage runs; Snakemake, forced to build the same
    checkpoint meanwhile, is refused. The DVC process group is paused (SIGSTOP) from the moment
    its stage holds the lock until Snakemake has answered, so that a fast machine cannot finish
    the tiny training first and leave nothing to test."""
    root = scratch_repo(tmp_path, TINY)
    dvc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "pretrain@proposed"],
        cwd=root,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, paused and resumed as one
    )
    lock = root / LOCK_NAME

    def dvc_holds_the_lock() -> bool:
        try:
            return json.loads(lock.read_text())["tool"] == "dvc"
        except (OSError, ValueError, KeyError):
            return False

    def pretrain_started() -> bool:
        return dvc_holds_the_lock() and "pipeline.stages.pretrain" in _stage_commands(dvc.pid)

    _wait_for(lambda: pretrain_started() or dvc.poll() is not None, 600, "the pretrain stage")
    assert dvc.poll() is None, "dvc finished before snakemake could start; nothing was tested"
    os.killpg(dvc.pid, signal.SIGSTOP)
    try:
        snake = subprocess.run(
            [
                str(BIN / "snakemake"),
                "--cores",
                "1",
                "--force",
                "outputs/pretrain/proposed/checkpoint.pt",
            ],
            cwd=root,
            env=env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        os.killpg(dvc.pid, signal.SIGCONT)
    dvc_out, _ = dvc.communicate(timeout=900)
    assert dvc.returncode == 0, dvc_out[-4000:]
    snake_out = snake.stdout + snake.stderr
    assert snake.returncode != 0, snake_out[-4000:]
    assert f"dvc (pid {dvc.pid}) is running in this checkout" in snake_out, snake_out[-4000:]
    # DVC's record agrees with the files: nothing of the refused run changed them
    status = run([str(BIN / "dvc"), "status", "pretrain@proposed"], root)
    assert "up to date" in status, status


def _stage_commands(root_pid: int) -> str:
    """The command lines of ``root_pid``'s descendants, joined (Linux ``/proc``)."""
    parent, args = {}, {}
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            args[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        children = [child for child, ppid in parent.items() if ppid == pid]
        found += [args[child] for child in children]
        todo += children
    return "\n".join(found)
