"""Per-track private networks evaluated as one grouped network (``optim.grouped``).

D and R give every track a private network of the same shape (paper 3.3, Fig. 5 and 6;
docs/model.md, sections 2.3, 2.4). Evaluated one track at a time, a critic step launches each
private layer T times, which on a GPU at batch 16-32 costs more in launches than in arithmetic
(docs/gpu_speed.md). Here the T networks run as one:
every private convolution becomes one ``conv3d`` with ``groups=T`` whose weight is the T tracks'
weights concatenated on the output axis, so group ``i`` is exactly track ``i``'s convolution on
track ``i``'s channel block. Channels stay track-major (track 0's channels first), which is the
order the per-track path concatenates its outputs in.

The weights are not moved or reshaped: the modules, their parameters and the checkpoint keys
(``private.<i>.*``) are the per-track ones, and the concatenation is done at every forward pass
(a few hundred kilobytes; its backward hands each track its own slice of the gradient). The
result is the same function as the per-track loop, equal up to float rounding, because the
convolution kernels may sum in another order (tests/models/test_grouped.py). On the CPU PyTorch's
grouped 3-D convolutions are slower than the loop (benchmarks/RESULTS.md), so this is for GPUs.

R's grouped path needs the original's affine batch norm (``model.batch_norm: affine``): true
batch norm keeps running statistics per module, which a concatenated view would not update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.layers import LEAKY_SLOPE, AffineBatchNorm


def grouped_conv(x: torch.Tensor, convs: Sequence[Any]) -> torch.Tensor:
    """The T convolutions ``convs`` on T channel blocks of ``x`` as one conv with ``groups=T``.

    ``x`` is ``(B, T * c_in, ...)`` and the output ``(B, T * c_out, ...)``, both track-major.
    """
    first = convs[0]
    weight = torch.cat([c.weight for c in convs])  # (T * c_out, c_in, k...)
    bias = torch.cat([c.bias for c in convs]) if first.bias is not None else None
    return F.conv3d(x, weight, bias, first.stride, first.padding, first.dilation, len(convs))


def grouped_conv_lrelu(x: torch.Tensor, layers: Sequence[Any]) -> torch.Tensor:
    """``conv_lrelu`` layers (conv, LeakyReLU 0.2) of T tracks as one grouped layer."""
    return F.leaky_relu(grouped_conv(x, [layer[0] for layer in layers]), LEAKY_SLOPE)


def grouped_affine(x: torch.Tensor, norms: Sequence[Any]) -> torch.Tensor:
    """T ``AffineBatchNorm`` layers on T channel blocks: one scale and shift over all channels."""
    if not all(isinstance(n, AffineBatchNorm) for n in norms):
        raise ValueError(
            "optim.grouped runs the refiner grouped only with model.batch_norm: affine "
            "(true batch norm keeps running statistics per track)"
        )
    weight = torch.cat([n.weight * n.scale for n in norms])
    bias = torch.cat([n.bias for n in norms])
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x * weight.view(shape) + bias.view(shape)


def interleave_tracks(a: torch.Tensor, b: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """Per track, ``a``'s block then ``b``'s: ``[a0, b0, a1, b1, ...]`` on the channel axis.

    This is what concatenating each track's two branch outputs, track by track, gives.
    """
    a_tracks = a.unflatten(1, (n_tracks, -1))  # (B, T, c_a, ...)
    b_tracks = b.unflatten(1, (n_tracks, -1))  # (B, T, c_b, ...)
    return torch.cat([a_tracks, b_tracks], dim=2).flatten(1, 2)  # (B, T * (c_a + c_b), ...)


def private_discriminators(x: torch.Tensor, nets: nn.ModuleList) -> torch.Tensor:
    """D's T private networks D_p^i at once: ``(B, T, 4, 96, 84) -> (B, T * merged, 4, 16, 7)``.

    The same function as ``torch.cat([net(x_i) for ...])`` in ``Discriminator.forward``.
    """
    pt = x
    for layers in zip(*(net.pitch_time for net in nets), strict=True):
        pt = grouped_conv_lrelu(pt, layers)  # (B, T * 64, 4, 16, 7)
    tp = x
    for layers in zip(*(net.time_pitch for net in nets), strict=True):
        tp = grouped_conv_lrelu(tp, layers)  # (B, T * 64, 4, 16, 7)
    both = interleave_tracks(pt, tp, len(nets))  # (B, T * 128, 4, 16, 7): [pt_i, tp_i] per track
    return grouped_conv_lrelu(both, [net.merged for net in nets])  # (B, T * 64, 4, 16, 7)


def private_refiners(x: torch.Tensor, nets: nn.ModuleList) -> torch.Tensor:
    """R's T private refiners at once: ``(B, T, 4, 96, 84)`` -> the same (pre-neuron).

    Each residual unit is ``x + conv(relu(bn(conv(relu(bn(x))))))`` (refiner.py); the 'SAME'
    padding is applied once to all tracks.
    """
    for units in zip(*(net.units for net in nets), strict=True):
        branches = [unit.branch for unit in units]  # [bn, relu, same_conv, bn, relu, same_conv]
        h = torch.relu(grouped_affine(x, [b[0] for b in branches]))
        h = grouped_conv(branches[0][2][0](h), [b[2][1] for b in branches])  # pad, conv 64
        h = torch.relu(grouped_affine(h, [b[3] for b in branches]))
        h = grouped_conv(branches[0][5][0](h), [b[5][1] for b in branches])  # pad, conv 1
        x = x + h
    return x


def use_grouped_tracks(module: nn.Module, on: bool = True) -> None:
    """``optim.grouped``: every D and R inside ``module`` runs its private networks grouped."""
    for layer in module.modules():
        if hasattr(layer, "grouped_tracks"):  # Discriminator, Refiner
            cast(Any, layer).grouped_tracks = on
