"""Two orchestrators in one checkout: the second tool's jobs are refused while the first runs.

The unit tests check the lock's rule; the slow test starts ``dvc repro`` and, while its training
stage runs, ``snakemake`` for the same output in the same checkout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from pipeline.stages.lock import LOCK_NAME, CheckoutBusy, Holder, claim_checkout, find_orchestrator
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
    root = scratch_repo(tmp_path, TINY)
    dvc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "pretrain@proposed"],
        cwd=root,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = root / "logs" / "pretrain" / "proposed.log"
    _wait_for(lambda: log.exists() or dvc.poll() is not None, 600, "the pretrain stage")
    assert dvc.poll() is None, "dvc finished before snakemake could start; nothing was tested"
    snake = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "1", "outputs/pretrain/proposed/checkpoint.pt"],
        cwd=root,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    dvc_out, _ = dvc.communicate(timeout=900)
    assert dvc.returncode == 0, dvc_out[-4000:]
    snake_out = snake.stdout + snake.stderr
    assert snake.returncode != 0, snake_out[-4000:]
    assert f"dvc (pid {dvc.pid}) is running in this checkout" in snake_out, snake_out[-4000:]
    # DVC's record agrees with the files: nothing of the refused run changed them
    status = run([str(BIN / "dvc"), "status", "pretrain@proposed"], root)
    assert "up to date" in status, status
