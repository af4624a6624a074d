"""True batch norm (``model.batch_norm: batch``): statistics that match the trained networks.

The faithful ``affine`` layers have no statistics; this module does nothing for them.

With true batch norm, training normalises each layer by the statistics of the current batch,
while sampling in eval mode uses running averages (PyTorch's momentum 0.01, TF's 0.99). Those
averages trail the networks by about a hundred forward passes, so while G still changes quickly
(the first few hundred iterations, all of a short CPU run) a model sampled in eval mode is not
the model that was trained: in a measured run at iteration 25, G in train mode set 10% of its
cells on, in eval mode none. Two remedies, both standard:

* ``batch_statistics``: the monitoring batch is generated with its own batch statistics, as in
  training, without touching the running averages;
* ``recalibrate``: at the end of a run the running averages are recomputed from scratch as the
  exact mean over many batches of the final networks ("precise BN", Wu & Johnson 2021), so the
  checkpoint samples what was trained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm3d)
# Phrases generated to recalibrate a trained run (``recalibration_batches``). Eval-mode G is very
# sensitive to the statistics of its first layer (the dense layer from z), which are estimated
# from these phrases: with 1,024 (64 batches of 16), one draw made a width-1/4 stage-one model
# sound its sparse tracks 9 times too often where each batch's own statistics gave 6 to 7 times
# and passed the learning score (docs/cpu_setting.md). Sixteen times as many phrases quarter the
# estimate's noise.
RECALIBRATION_PHRASES = 16384


def recalibration_batches(batch_size: int) -> int:
    """Batches of ``batch_size`` that make up at least ``RECALIBRATION_PHRASES`` phrases."""
    return -(-RECALIBRATION_PHRASES // batch_size)


def batch_norms(modules: Iterable[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every true batch-norm layer inside ``modules``."""
    return [m for module in modules for m in module.modules() if isinstance(m, BATCH_NORMS)]


@contextlib.contextmanager
def batch_statistics(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Inside, the batch-norm layers of ``modules`` normalise by the batch's own statistics
    (train mode) and leave their running averages as they are (momentum 0)."""
    layers = batch_norms(modules)
    saved = [(layer.training, layer.momentum) for layer in layers]
    try:
        for layer in layers:
            layer.train()
            layer.momentum = 0.0
        yield
    finally:
        for layer, (mode, momentum) in zip(layers, saved, strict=True):
            layer.train(mode)
            layer.momentum = momentum


@torch.no_grad()
def recalibrate(
    modules: Iterable[nn.Module],
    forward: Callable[[int], object],
    n_batches: int,
) -> int:
    """Recompute the running statistics of every batch-norm layer in ``modules`` as the plain
    mean over ``n_batches`` calls ``forward(i)`` (each generating one batch in train mode).

    Returns the number of layers recalibrated (0 for the faithful affine layers, untouched).
    """
    layers = batch_norms(modules)
    if not layers:
        return 0
    saved = [(layer.training, layer.momentum) for layer in layers]
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the batches below
            layer.train()
        for i in range(n_batches):
            forward(i)
    finally:
        for layer, (mode, momentum) in zip(layers, saved, strict=True):
            layer.train(mode)
            layer.momentum = momentum
    return len(layers)
