"""Self-describing checkpoints, weights-only exports, and the sampler of a trained model.

A checkpoint is one dict saved with ``torch.save`` and read with ``torch.load(weights_only=True)``:

    format, version     "bmusegan-checkpoint", CHECKPOINT_VERSION
    run                 the resolved run config (experiments.run_config): networks, kind, lengths
    params              the params sections the run used, as plain dicts
    track_names         list[str]
    models              {"generator", "discriminator"[, "refiner"]: state_dict}
    optimizers          {"generator", "discriminator": Adam state_dict}
    iteration           iterations completed; epoch = iteration // iterations_per_epoch
    iterations_per_epoch, global_step (critic + generator updates), config_hash
    rng, log            snapshots only: global torch RNG states; the training log so far

A resume snapshot is a checkpoint with ``rng`` and ``log`` added (``snapshot.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pipeline.io import atomic_path
from pipeline.training.checkpoint_check import (
    CHECKPOINT_VERSION,
    FORMAT,
    CheckpointError,
    load_weights,
    read_checkpoint,
)
from pipeline.training.experiments import build_networks
from pipeline.training.networks import Networks

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_VERSION", "FORMAT", "CheckpointError", "load_checkpoint"]


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """``torch.save`` to ``path`` atomically.

    Saved through a buffer: ``torch.save`` names the archive's root folder after the file, and the
    temporary file's random name would make identical checkpoints differ byte for byte. Strings
    are interned first, so pickle's memo (which follows object identity) does not depend on
    where a string came from: a resumed run writes the same bytes as an uninterrupted one.
    """
    buffer = io.BytesIO()
    torch.save(_canonical(checkpoint), buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def _canonical(obj: Any) -> Any:
    """``obj`` with every str (keys included) interned; containers rebuilt, tensors kept."""
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_canonical(v) for v in obj)
    return obj


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check its format and structure.

    A damaged or foreign file raises ``CheckpointError`` (see ``checkpoint_check``).
    """
    return read_checkpoint(path, device)


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the JSON of ``config`` (keys sorted)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Weights-only export
# --------------------------------------------------------------------------------------------

# What a weights-only export keeps of a checkpoint (``optimizers`` becomes an empty dict).
EXPORT_KEYS = (
    "format",
    "version",
    "run",
    "params",
    "track_names",
    "iteration",
    "iterations_per_epoch",
    "global_step",
    "config_hash",
)


def export_weights(src: str | Path, dst: str | Path, discriminator: bool = True) -> int:
    """Write ``src`` (a checkpoint or snapshot) to ``dst`` without optimizer state; return bytes.

    The export holds the run config, the track names, the progress counters and the networks'
    weights: G and R for sampling, and D (unless ``discriminator`` is false) so that stage two
    can start from it (``train --pretrained``). It is a checkpoint in every other respect: the
    ``sample`` stage and ``train --pretrained`` read it like the full one. The optimizer state
    (Adam's two moments, twice the weights) is what makes a full checkpoint about three times
    larger; a stage-one export with the proposed D is about 15 MB (``docs/gpu.md``).
    """
    ckpt = load_checkpoint(src)
    out: dict[str, Any] = {k: ckpt[k] for k in EXPORT_KEYS if k in ckpt}
    models = ckpt["models"]
    out["models"] = {k: v for k, v in models.items() if discriminator or k != "discriminator"}
    out["optimizers"] = {}
    out["weights_only"] = True
    save_checkpoint(dst, out)
    return Path(dst).stat().st_size


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


class Sampler(nn.Module):
    """A trained generator for the sampling stage.

    ``kind`` is "pretrain" (the raw sigmoid output of G in (0, 1), binarised later by HT or BS)
    or "binary" (the refiner's / end-to-end network's {0, 1} output; SBNs stay stochastic).
    """

    def __init__(self, nets: Networks, run: dict[str, Any], track_names: list[str]) -> None:
        super().__init__()
        self.generator = nets.generator
        self.refiner = nets.refiner
        self.kind: str = run["kind"]
        self.z_dim: int = run["z_dim"]
        self.name: str = run["name"]
        self.track_names = list(track_names)
        # track-conditional runs (docs/accompany.md)
        self.condition: int | None = run.get("condition_index")
        self.condition_track: str | None = run.get("condition_track")

    @torch.no_grad()
    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """``z`` (B, z_dim) -> phrases (B, 4, 96, 84, T), in eval mode without gradients.

        A track-conditional model also takes the given track ``condition`` (B, 4, 96, 84).
        """
        self.eval()
        if self.condition is None:
            x = self.generator(z)
        elif condition is None:
            raise ValueError(f"{self.name} is track-conditional: pass the given track")
        else:
            x = self.generator(z, condition)
        return x if self.refiner is None else self.refiner(x)


def load_sampler(path: str | Path, device: str | torch.device = "cpu") -> Sampler:
    """The sampler of a final checkpoint (stage one or stage two / end-to-end) on ``device``."""
    device = torch.device(device)
    ckpt = load_checkpoint(path, "cpu")
    nets = build_networks(ckpt["run"])
    # Only the networks that make phrases: a weights-only export may leave D out (export_weights).
    for name, module in nets.modules().items():
        if name != "discriminator":
            load_weights(module, ckpt["models"].get(name), path, name)
    sampler = Sampler(nets, ckpt["run"], ckpt["track_names"]).to(device)
    sampler.eval()
    return sampler
