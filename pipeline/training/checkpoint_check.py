"""Reading a checkpoint or snapshot that may be damaged: one clear error naming the file.

A checkpoint read by a later stage may have been truncated by a full disk, garbled by a copy, or
made by another run (another track set). ``read_checkpoint`` turns every such case into a
``CheckpointError`` (a ``DataError``, so the stages exit with status 2 and a one-line message)
instead of a traceback from deep inside ``torch.load`` or ``load_state_dict``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from pipeline.errors import DataError

FORMAT = "bmusegan-checkpoint"
CHECKPOINT_VERSION = 1
# What every checkpoint holds (module docstring of pipeline.training.checkpoint).
REQUIRED_KEYS = ("run", "params", "track_names", "models", "optimizers", "iteration")
RUN_KEYS = ("stage", "name", "kind", "z_dim")
SNAPSHOT_KEYS = ("rng", "log", "global_step")


class CheckpointError(DataError):
    """A checkpoint or snapshot that cannot be used; the message names the file and the problem."""


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of ``path``, with every failure a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        check_archive(path)
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or damaged: "
            f"{type(error).__name__}: {first_line[:200]})"
        ) from None
    validate_checkpoint(ckpt, path)
    return ckpt


def check_archive(path: Path) -> None:
    """Every member of the zip archive ``torch.save`` writes matches its CRC-32.

    ``torch.load`` does not check them, so garbled bytes inside a weight tensor would otherwise
    load silently as other weights.
    """
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        raise CheckpointError(f"{path}: damaged (member {bad} fails its CRC check)")


def validate_checkpoint(ckpt: Any, path: str | Path, snapshot: bool = False) -> None:
    """Check the structure of a loaded checkpoint dict (and of a snapshot's extra keys)."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} is not supported")
    needed = REQUIRED_KEYS + (SNAPSHOT_KEYS if snapshot else ())
    missing = [k for k in needed if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    run = ckpt["run"]
    if not isinstance(run, dict) or any(k not in run for k in RUN_KEYS):
        raise CheckpointError(f"{path}: checkpoint run config lacks one of {list(RUN_KEYS)}")
    models = ckpt["models"]
    if not isinstance(models, dict) or "generator" not in models:
        raise CheckpointError(f"{path}: checkpoint holds no generator weights")
    names = ckpt["track_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: track_names is not a list of names")


def check_tracks(ckpt: dict[str, Any], path: str | Path, tracks: list[str], tensor: Path) -> None:
    """A checkpoint trained on another track set than ``tensor``'s cannot continue on it."""
    if list(ckpt["track_names"]) != list(tracks):
        raise CheckpointError(
            f"{path}: trained on tracks {ckpt['track_names']}, but {tensor} holds {tracks}"
        )


def load_weights(module: torch.nn.Module, state: Any, path: str | Path, name: str) -> None:
    """``module.load_state_dict(state)``; a mismatch names the checkpoint and the network."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError, AttributeError) as error:
        first_line = str(error).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{path}: {name} weights do not fit the network ({first_line})"
        ) from None


def check_stage_one(ckpt: dict[str, Any], path: str | Path) -> None:
    """Two-stage and joint runs continue a stage-one (pretrain) checkpoint with G and D."""
    if ckpt["run"].get("kind") != "pretrain" or "discriminator" not in ckpt["models"]:
        raise CheckpointError(f"{path}: not a stage-one (pretrain) checkpoint")


def check_fits(ckpt: dict[str, Any], modules: dict[str, torch.nn.Module], path: str | Path) -> None:
    """Every network's saved weights have exactly the names and shapes of ``modules``' own."""
    for name, module in modules.items():
        state = ckpt["models"].get(name)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: no {name} weights")
        want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        have = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
        if want != have:
            raise CheckpointError(f"{path}: {name} weights do not fit the network")
    if not isinstance(ckpt.get("optimizers"), dict) or set(ckpt["optimizers"]) != {
        "generator",
        "discriminator",
    }:
        raise CheckpointError(f"{path}: optimizer states missing")
