"""The fixed monitoring batch, its metrics, and the training log CSV.

See docs/model.md, section 4.7, and for the original runs' curves section 7.4.

Every ``optim.monitor_every`` iterations the model generates one batch from a fixed z (drawn from
the params seed): 32 phrases in stage one, 16 in stage two / end-to-end (one training batch).
Stage one is binarised by hard thresholding (``> 0.5``), the others are the binary output. The
paper-mode metrics of that batch go into ``log.csv``; the paper's metric curves (Figures 9, 11)
are exactly these.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.config import Metrics
from pipeline.io import atomic_path
from pipeline.training.batch_norm import batch_statistics
from pipeline.training.data import derive_seed, latent
from pipeline.training.networks import Networks

log = logging.getLogger(__name__)

METRIC_MODE = "paper"  # the mode of the original's progress logs
_warned: set[str] = set()


def phrase_metrics(
    phrases: np.ndarray,
    cfg: Metrics,
    track_names: list[str],
    resolution: int = 24,
    lowest_pitch: int = 24,
) -> dict[str, float | None]:
    """Aggregate paper-mode metrics of bool ``phrases`` (n, 4, 96, 84, T); None where undefined.

    The one place that depends on ``pipeline.metrics``; returns {} (with one warning) while that
    package does not provide ``evaluate_phrases``.
    """
    try:
        from pipeline.metrics import evaluate_phrases  # type: ignore[attr-defined]
    except ImportError:
        if "metrics" not in _warned:
            log.warning("pipeline.metrics.evaluate_phrases is missing: monitoring logs no metrics")
            _warned.add("metrics")
        return {}
    result = evaluate_phrases(phrases, cfg, METRIC_MODE, track_names, resolution, lowest_pitch)
    return {str(k): None if v is None else float(v) for k, v in result["aggregate"].items()}


class Monitor:
    """Generates the fixed monitoring batch and returns its metrics."""

    def __init__(
        self,
        nets: Networks,
        n: int,
        z_dim: int,
        seed: int,
        device: torch.device,
        cfg: Metrics,
        track_names: list[str],
        resolution: int = 24,
        lowest_pitch: int = 24,
        real: torch.Tensor | None = None,
    ) -> None:
        self.nets = nets
        self.real = real  # a conditional G's fixed condition batch (the first real phrases)
        self.z = latent(seed, "monitor", 0, n, z_dim, device)  # (n, z_dim), fixed for the run
        self.seed = seed
        self.device = device
        self.cfg = cfg
        self.track_names = track_names
        self.resolution = resolution
        self.lowest_pitch = lowest_pitch

    @torch.no_grad()
    def sample(self, iteration: int) -> np.ndarray:
        """The monitoring batch as bool (n, 4, 96, 84, T).

        Runs in eval mode under a forked RNG seeded by the iteration, so SBN noise here is
        reproducible and does not disturb the training RNG stream. True batch-norm layers of the
        trained networks normalise by the batch's own statistics, as in training
        (``batch_norm.batch_statistics``); the running averages would trail the networks.
        """
        modules = self.nets.modules().values()
        modes = [m.training for m in modules]
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            for m in modules:
                m.eval()
            with torch.random.fork_rng(devices=devices), batch_statistics(self.nets.g_side()):
                torch.manual_seed(derive_seed(self.seed, "monitor-noise", iteration))
                x = self.nets.generate(self.z, self.real)
                x = x > 0.5 if self.nets.refiner is None else self.nets.refiner(x) > 0.5
        finally:
            for m, mode in zip(modules, modes, strict=True):
                m.train(mode)
        return x.cpu().numpy()

    def __call__(self, iteration: int) -> dict[str, float | None]:
        return phrase_metrics(
            self.sample(iteration), self.cfg, self.track_names, self.resolution, self.lowest_pitch
        )


def last_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of the last monitored row (the loss columns removed)."""
    from pipeline.training.gan import LOSS_COLUMNS

    for row in reversed(rows):
        extra = {k: v for k, v in row.items() if k not in LOSS_COLUMNS}
        if extra:
            return extra
    return {}


def write_log_csv(path: str | Path, rows: list[dict[str, Any]], monitored_only: bool = False):
    """Write ``rows`` as CSV (atomically): the loss columns first, then the metric columns.

    Cells without a value are empty. ``monitored_only`` keeps only rows that carry metrics.
    """
    from pipeline.training.gan import LOSS_COLUMNS

    metric_cols = sorted({k for row in rows for k in row} - set(LOSS_COLUMNS))
    if monitored_only:
        rows = [r for r in rows if any(k in r for k in metric_cols)]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(LOSS_COLUMNS + metric_cols)
        for row in rows:
            writer.writerow([_cell(row.get(k)) for k in LOSS_COLUMNS + metric_cols])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)
