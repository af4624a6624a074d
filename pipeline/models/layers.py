"""Layer helpers shared by every network: the original's conventions (docs/model.md, section 2.1).

Layout. The public boundary of every network is the dataset's channels-last layout
``(batch, bar, time, pitch, track)``; inside, Conv3d wants channels first,
``(batch, channel, bar, time, pitch)``. ``to_channels_first`` / ``to_channels_last`` convert between
them with a permutation only (a view, no copy: the channels-first view of a channels-last tensor is
what PyTorch calls ``channels_last_3d`` memory format, which the conv kernels accept as is).

Conventions of the original TF1 code ([BM] musegan/utils/neuralnet.py:109-188):

* every conv and dense layer has a bias; kernels truncated-normal (std 0.02, cut at two std),
  biases 0;
* 'valid' padding (only the refiner pads, TF 'SAME');
* LeakyReLU slope 0.2;
* batch norm is TF's ``batch_normalization(x)`` called without ``training``, so it runs in inference
  mode with the initial moving statistics (mean 0, variance 1) forever: ``x * gamma / sqrt(1.001) +
  beta``. ``AffineBatchNorm`` is exactly that; ``batch_norm="batch"`` swaps in true batch norm (eps
  1e-3, TF's momentum 0.99), which is not what produced the paper's numbers.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

BatchNormKind = Literal["affine", "batch"]
Kernel = tuple[int, int, int]

TF_BN_EPS = 1e-3  # tf.layers.batch_normalization's default epsilon
TF_BN_MOMENTUM = 0.01  # PyTorch's momentum = 1 - TF's 0.99
LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default alpha


def scaled(channels: int, width: float) -> int:
    """A layer's channel count at ``model.width``: ``round(channels * width)``, at least 1.

    Width 1.0 is the paper's network. Only hidden channels scale; a network's inputs and outputs
    (the tracks, one score, the latent size) keep their sizes.
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, round(channels * width))


def to_channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, bar, time, pitch, C) -> (B, C, bar, time, pitch), a view."""
    return x.permute(0, 4, 1, 2, 3)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, bar, time, pitch) -> (B, bar, time, pitch, C), a view."""
    return x.permute(0, 2, 3, 4, 1)


def init_weights_(module: nn.Module) -> nn.Module:
    """TF initialisation in place: truncated-normal(0.02) kernels in [-0.04, 0.04], zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv3d | nn.ConvTranspose3d | nn.Linear):
            nn.init.trunc_normal_(layer.weight, mean=0.0, std=0.02, a=-0.04, b=0.04)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class AffineBatchNorm(nn.Module):
    """The original's batch norm, which never normalises: ``x * gamma / sqrt(1 + 1e-3) + beta``.

    A learned per-channel scale ``weight`` (gamma, init 1) and shift ``bias`` (beta, init 0) on
    axis 1, the channel axis of both ``(B, C)`` and ``(B, C, bar, time, pitch)``. See
    docs/model.md, section 2.1.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.scale = 1.0 / math.sqrt(1.0 + TF_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast over batch and the spatial axes
        return x * (self.weight * self.scale).view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, scale=1/sqrt(1.001), never normalises"


def batch_norm(kind: BatchNormKind, num_features: int, dense: bool = False) -> nn.Module:
    """The faithful ``AffineBatchNorm`` or, with ``kind="batch"``, true batch norm (eps 1e-3)."""
    if kind == "affine":
        return AffineBatchNorm(num_features)
    if kind == "batch":
        cls = nn.BatchNorm1d if dense else nn.BatchNorm3d
        return cls(num_features, eps=TF_BN_EPS, momentum=TF_BN_MOMENTUM)
    raise ValueError(f"batch_norm must be 'affine' or 'batch', got {kind!r}")


class PatchConv3d(nn.Conv3d):
    """A 'valid' Conv3d whose stride equals its kernel, computed as one matrix product.

    Such a convolution sees each non-overlapping block of the input once, so it is a dense layer
    applied to every block: ``(B, C, D, H, W)`` is cut into blocks of ``C * kd * kh * kw`` values
    (a remainder at an edge is dropped, as a valid convolution drops it) and multiplied by the
    kernel as an ``(out, C * kd * kh * kw)`` matrix. The same function and parameters as
    ``nn.Conv3d`` (equal up to float rounding); on the CPU it is faster for the networks' small
    channel counts over large time-pitch planes, and its double backward (the gradient penalty)
    too. The output is contiguous, channels first.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *size = x.shape
        kd, kh, kw = self.kernel_size
        d, h, w = size[0] // kd, size[1] // kh, size[2] // kw
        x = x[:, :, : d * kd, : h * kh, : w * kw]
        blocks = x.reshape(b, c, d, kd, h, kh, w, kw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        blocks = blocks.reshape(b * d * h * w, c * kd * kh * kw)
        y = torch.addmm(self.bias, blocks, self.weight.reshape(self.out_channels, -1).t())
        return y.view(b, d, h, w, -1).permute(0, 4, 1, 2, 3).contiguous()  # (B, out, d, h, w)


class PatchConvTranspose3d(nn.ConvTranspose3d):
    """A 'valid' ConvTranspose3d whose stride equals its kernel, as one matrix product.

    Each input position writes its own non-overlapping output block, so the layer is a dense map
    from ``C`` channels to ``out * kd * kh * kw`` values per position, then a reshape of those
    blocks into place. The same function and parameters as ``nn.ConvTranspose3d`` (equal up to
    float rounding; see ``PatchConv3d``).
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        b, c, d, h, w = x.shape
        kd, kh, kw = self.kernel_size
        cells = x.permute(0, 2, 3, 4, 1).reshape(b * d * h * w, c)
        y = cells @ self.weight.reshape(c, -1)  # (positions, out * kd * kh * kw)
        y = y.view(b, d, h, w, self.out_channels, kd, kh, kw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        y = y.reshape(b, self.out_channels, d * kd, h * kh, w * kw)
        return y + self.bias.view(1, -1, 1, 1, 1)


def conv(c_in: int, c_out: int, kernel: Kernel, stride: Kernel | None = None) -> nn.Conv3d:
    """A 'valid' Conv3d with bias; stride defaults to the kernel (non-overlapping, then computed
    as a ``PatchConv3d``)."""
    if stride is None or tuple(stride) == tuple(kernel):
        return PatchConv3d(c_in, c_out, kernel, stride=kernel)
    return nn.Conv3d(c_in, c_out, kernel, stride=stride)


def tconv(
    c_in: int, c_out: int, kernel: Kernel, stride: Kernel | None = None
) -> nn.ConvTranspose3d:
    """A 'valid' transposed Conv3d with bias: output size (n - 1) * stride + kernel; stride
    defaults to the kernel (then computed as a ``PatchConvTranspose3d``)."""
    if stride is None or tuple(stride) == tuple(kernel):
        return PatchConvTranspose3d(c_in, c_out, kernel, stride=kernel)
    return nn.ConvTranspose3d(c_in, c_out, kernel, stride=stride)


def linear(c_in: int, c_out: int) -> nn.Linear:
    """A dense layer with bias."""
    return nn.Linear(c_in, c_out)


def lrelu() -> nn.LeakyReLU:
    """LeakyReLU with TF's default slope 0.2."""
    return nn.LeakyReLU(LEAKY_SLOPE)


def conv_lrelu(
    c_in: int, c_out: int, kernel: Kernel, stride: Kernel | None = None
) -> nn.Sequential:
    """Discriminator layer: valid conv, LeakyReLU(0.2), no normalisation.

    See docs/model.md, section 2.3.
    """
    return nn.Sequential(conv(c_in, c_out, kernel, stride), lrelu())


def tconv_bn_relu(
    c_in: int, c_out: int, kernel: Kernel, stride: Kernel | None, norm: BatchNormKind
) -> nn.Sequential:
    """Generator layer: valid transposed conv, batch norm, ReLU (docs/model.md, section 2.2)."""
    return nn.Sequential(tconv(c_in, c_out, kernel, stride), batch_norm(norm, c_out), nn.ReLU())


class BarsFromDense(nn.Module):
    """Reshape a dense output to bars exactly as TF's channels-last reshape does.

    TF reshapes ``(B, n_bars * C)`` to ``(B, n_bars, 1, 1, C)`` row-major: feature ``bar * C + c``
    goes to bar ``bar``, channel ``c`` (bar-major, then channel; docs/model.md, section 2.2).
    """

    def __init__(self, n_bars: int) -> None:
        super().__init__()
        self.n_bars = n_bars

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h.reshape(h.shape[0], self.n_bars, -1)  # (B, bar, C): feature bar * C + c
        return h.permute(0, 2, 1)[..., None, None]  # (B, C, bar, 1, 1)


class FlattenBars(nn.Module):
    """Flatten ``(B, C, bar, time, pitch)`` in TF's channels-last order for the final dense layer.

    TF flattens ``(B, bar, time, pitch, C)`` row-major: feature ``((bar * T + t) * P + p) * C + c``.
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return to_channels_last(h).flatten(1)  # (B, C, bar, t, p) -> (B, bar * t * p * C)
