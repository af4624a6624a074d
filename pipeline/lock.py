"""One orchestrator per checkout: a stage refuses to run for a second tool while the first works.

DVC locks its own runs (``.dvc/tmp/lock``) and Snakemake its own (``.snakemake/locks``), but
neither sees the other: ``dvc repro`` and ``snakemake`` in one checkout would train the same model
into the same files and snapshot folder at once, one deleting the snapshot the other resumes from,
and each recording hashes of files the other then rewrites. Hence the rule that only one
orchestrator runs in a checkout at a time (docs/running.md).

So every stage, before it reads or writes anything, claims the checkout (its working directory,
the repository root under both tools) for the orchestrator that started it, found among its
parent processes: ``.orchestrator.lock`` holds that tool's name, host and process id. Jobs of the
same tool run side by side; a job of the other tool is refused with exit status 2 while the
holder is alive on this host. A lock whose holder has exited is stale and simply replaced. A stage
run by hand (no orchestrator among its parents) takes no lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_NAME = ".orchestrator.lock"
TOOLS = ("dvc", "snakemake")


class CheckoutBusy(RuntimeError):
    """Another orchestrator works in this checkout."""


@dataclass(frozen=True)
class Holder:
    tool: str
    host: str
    pid: int


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state letter


def _tool_of(argv: list[str]) -> str | None:
    """``dvc`` or ``snakemake`` when ``argv`` runs one (as a script or ``python -m``)."""
    words = [Path(a).name for a in argv[:3]]
    for tool in TOOLS:
        if tool in words or ("-m" in words and tool in argv[:4]):
            return tool
    return None


def find_orchestrator(pid: int | None = None) -> Holder | None:
    """The nearest parent process that is DVC or Snakemake, if any (Linux ``/proc``)."""
    pid = _parent(pid or os.getpid())
    while pid > 1:
        tool = _tool_of(_cmdline(pid))
        if tool:
            return Holder(tool, socket.gethostname(), pid)
        pid = _parent(pid)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_checkout(root: str | Path = ".", me: Holder | None = None) -> Holder | None:
    """Record ``me`` (default: this stage's orchestrator) as the checkout's orchestrator, or
    raise ``CheckoutBusy`` naming the other tool that holds it."""
    me = me or find_orchestrator()
    if me is None:
        return None
    path = Path(root) / LOCK_NAME
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one job at a time reads and rewrites the record
        f.seek(0)
        holder = _read(f.read())
        if holder and holder.tool != me.tool and holder.host == me.host and _alive(holder.pid):
            raise CheckoutBusy(
                f"{path}: {holder.tool} (pid {holder.pid}) is running in this checkout; "
                f"this {me.tool} job is refused. Run one orchestrator at a time (README)."
            )
        if holder != me:
            f.seek(0)
            f.truncate()
            f.write(json.dumps(asdict(me)) + "\n")
    return me


def _read(text: str) -> Holder | None:
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):
        return None  # empty or damaged: treat as free
