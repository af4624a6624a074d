"""Ways to damage a file, as disks, copies and kills do, and how to run a stage that reads it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.dag.dag_tools import REPO, env


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to the first ``keep`` of its bytes (a copy or a write that stopped early)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def garble(path: Path, start: int, length: int = 256, seed: int = 0) -> Path:
    """Overwrite ``length`` bytes at ``start`` with seeded random bytes (a bad copy)."""
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    data[start : start + length] = noise[: len(data) - start]
    path.write_bytes(bytes(data))
    return path


def expect_exit_2(
    main: Callable[[list[str]], None],
    argv: list[str],
    capsys: pytest.CaptureFixture,
    *words: str,
) -> str:
    """Run a stage's ``main(argv)``: it must exit with status 2 and log one error line naming
    each of ``words`` (the file and the problem). Returns the message.

    Read from the captured stderr: the stages' logging set-up replaces the root handlers."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    message = errors[0]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def run_module(module: str, args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` as a subprocess (what DVC and Snakemake run)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_clean_exit_2(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, no traceback, and the last stderr line names each of ``words``."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, f"{word!r} not in {last!r}"
