"""Resume snapshots: where a killed or stopped training run picks up again.

A snapshot is a checkpoint (``checkpoint.py``) with two more keys: ``rng``, the global torch RNG
states, and ``log``, the training log so far. It is written atomically every
``optim.snapshot_every`` iterations and when a hook stops a run early (the time budget:
``runner.StopTraining``), into the snapshot folder (not a declared output) under a name keyed by
the run's config hash, so a snapshot of another config is never resumed. A run resumed from it
ends with the weights of an uninterrupted run on the CPU (tests/training/test_resume.py). A run
that completes removes its snapshot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from pipeline.training.checkpoint_check import CheckpointError, check_fits, validate_checkpoint
from pipeline.training.gan import LoopState
from pipeline.training.networks import Networks

log = logging.getLogger(__name__)


def snapshot_path(snapshot_dir: str | Path, key: str) -> Path:
    """The snapshot of the run whose config hash is ``key``."""
    return Path(snapshot_dir) / f"snapshot-{key[:16]}.pt"


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global torch RNG states (CPU, and the CUDA device in use)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore the states ``rng_state`` saved, so a resumed run draws what it would have drawn."""
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def save_snapshot(
    path: Path, checkpoint: dict[str, Any], state: LoopState, device: torch.device
) -> None:
    """``checkpoint`` with the RNG states and the log of ``state``, written atomically."""
    save_checkpoint(path, {**checkpoint, "rng": rng_state(device), "log": state.rows})


def usable_snapshot(path: Path, nets: Networks, device: torch.device) -> dict | None:
    """The snapshot at ``path`` if it is whole and fits ``nets``; a damaged one is set aside.

    A snapshot is only a shortcut: when it cannot be read (a kill or a full disk can leave a
    damaged file only if the atomic rename was bypassed, but disks and copies garble files too),
    it is renamed to ``<name>.damaged`` for inspection and the run starts over.
    """
    if not path.exists():
        return None
    try:
        snap = load_checkpoint(path, device)
        validate_checkpoint(snap, path, snapshot=True)
        check_fits(snap, nets.modules(), path)
    except CheckpointError as error:
        aside = path.with_name(path.name + ".damaged")
        path.replace(aside)
        log.warning("%s; set aside as %s, starting over", error, aside.name)
        return None
    return snap


def resume(path: Path, snap: dict, nets: Networks, opts: dict, device: torch.device) -> LoopState:
    """Restore weights, optimizer states, RNG and log from the snapshot ``snap`` (read from
    ``path``); the loop state to continue from."""
    for name, module in nets.modules().items():
        module.load_state_dict(snap["models"][name])
    for name, opt in opts.items():
        opt.load_state_dict(snap["optimizers"][name])
    set_rng_state(snap["rng"], device)
    log.info("resuming from %s at iteration %d", path, snap["iteration"])
    return LoopState(snap["iteration"], snap["global_step"], list(snap["log"]))
