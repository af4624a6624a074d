"""The refiner R and the end-to-end generator (paper 3.3-3.4, Fig. 6).

See docs/model.md, sections 2.4 (R), 2.5 (the end-to-end generator) and 3 (binary neurons).

Layout: input and output ``(B, bar=4, time=96, pitch=84, track)``, channels last like the dataset.
The input is G's sigmoid output in (0, 1); the output is binary, {0, 1}, and differentiable through
the binary neuron's estimator. Inside, tensors are channels first, ``(B, C, bar, time, pitch)``;
the shape never changes except for the channel count.

R has one private network per track (``Refiner.private[i]``, separate weights): two
pre-activation residual units, ``BN -> ReLU -> conv 64 (1,3,12) -> BN -> ReLU -> conv 1 (1,3,12)``,
each added to its own input (unit 1 adds onto G's sigmoid output), then a binary neuron on the sum,
with no norm. The convolutions pad as TF 'SAME': time 1 before / 1 after, pitch 5 before / 6 after
(kernel 12 is even). One binary neuron (one slope) serves all tracks, as the original's single
slope variable. 9,606 parameters per track, 76,848 in all. The tracks reach their networks
through one ``split``, whose backward is one concatenation, rather than slices whose backward pads
each track's gradient with zeros to the whole input (same values; see discriminator.py).

With ``optim.grouped`` the T refiners run as one network of grouped convolutions
(``grouped.private_refiners``: the same function up to float rounding, for GPUs).

Because the residual branches start near zero and G's output is positive, a fresh DBN refiner
outputs almost all ones (docs/model.md, section 2.4).
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.binary import BinaryNeuron, Estimator, NeuronKind
from pipeline.models.generator import Generator, build_generator
from pipeline.models.grouped import private_refiners
from pipeline.models.layers import (
    BatchNormKind,
    batch_norm,
    init_weights_,
    scaled,
    to_channels_first,
    to_channels_last,
)

REFINER_KERNEL = (1, 3, 12)
SAME_PADDING = (5, 6, 1, 1, 0, 0)  # ZeroPad3d order: pitch (5, 6), time (1, 1), bar (0, 0)


def same_conv(c_in: int, c_out: int) -> nn.Sequential:
    """TF 'SAME' conv with kernel (1, 3, 12), stride 1: zero pad, then a valid conv."""
    return nn.Sequential(nn.ZeroPad3d(SAME_PADDING), nn.Conv3d(c_in, c_out, REFINER_KERNEL))


class ResidualUnit(nn.Module):
    """Pre-activation residual unit: x + conv(relu(bn(conv(relu(bn(x)))))), (B, 1, 4, 96, 84)."""

    def __init__(self, norm: BatchNormKind, hidden: int = 64) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            batch_norm(norm, 1),
            nn.ReLU(),
            same_conv(1, hidden),  # (B, 64, 4, 96, 84)
            batch_norm(norm, hidden),
            nn.ReLU(),
            same_conv(hidden, 1),  # (B, 1, 4, 96, 84), no norm, no activation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class PrivateRefiner(nn.Module):
    """One track's refiner body: two residual units, (B, 1, 4, 96, 84) -> the same (pre-neuron)."""

    def __init__(self, norm: BatchNormKind, hidden: int = 64) -> None:
        super().__init__()
        self.units = nn.Sequential(ResidualUnit(norm, hidden), ResidualUnit(norm, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x)


class Refiner(nn.Module):
    """R: eight private refiners, then a binary neuron (DBN or SBN)."""

    def __init__(
        self,
        neuron: NeuronKind = "dbn",
        estimator: Estimator = "sigmoid_adjusted",
        norm: BatchNormKind = "affine",
        n_tracks: int = 8,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_tracks = n_tracks
        hidden = scaled(64, width)  # the residual branches' hidden channels
        self.private = nn.ModuleList(PrivateRefiner(norm, hidden) for _ in range(n_tracks))
        self.neuron = BinaryNeuron(neuron, estimator)
        self.grouped_tracks = False  # optim.grouped (grouped.py); a run setting, not state
        init_weights_(self)
        # Weights in channels-last layout make PyTorch's CPU convolution (oneDNN) run the
        # 64-channel layers in that layout too: the refiner's forward and backward take about half
        # the time (benchmarks/RESULTS.md), with the same values up to float rounding (~1e-7).
        self.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]  # not in stubs

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """h2, the input of the binary neuron: (B, 4, 96, 84, T) -> (B, T, 4, 96, 84)."""
        if self.grouped_tracks:
            return private_refiners(to_channels_first(x), self.private)  # one grouped network
        tracks = to_channels_first(x).split(1, dim=1)  # T views (B, 1, 4, 96, 84)
        return torch.cat(
            [net(x_i) for x_i, net in zip(tracks, self.private, strict=True)], dim=1
        )  # (B, T, 4, 96, 84)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, 96, 84, T) in (0, 1) -> (B, 4, 96, 84, T) in {0, 1}."""
        return to_channels_last(self.neuron(self.preactivation(x)))


class End2EndGenerator(nn.Module):
    """G ``proposed_small`` followed by R: z (B, z_dim) -> (B, 4, 96, 84, T) in {0, 1}.

    The original cannot build this model (docs/model.md, section 2.5); this is its evident intent,
    with the refiner's pre-activation residual units.
    """

    def __init__(self, generator: Generator, refiner: Refiner) -> None:
        super().__init__()
        self.generator = generator
        self.refiner = refiner

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.refiner(self.generator(z))


def build_refiner(
    neuron: NeuronKind = "dbn",
    estimator: Estimator = "sigmoid_adjusted",
    batch_norm: BatchNormKind = "affine",
    n_tracks: int = 8,
    width: float = 1.0,
) -> Refiner:
    """R with deterministic (``"dbn"``) or stochastic (``"sbn"``) binary neurons (docs/model.md,
    section 2.4), its hidden channels times ``width`` (1 = the paper's)."""
    return Refiner(neuron, estimator, batch_norm, n_tracks, width)


def build_end2end_generator(
    neuron: NeuronKind = "dbn",
    estimator: Estimator = "sigmoid_adjusted",
    batch_norm: BatchNormKind = "affine",
    z_dim: int = 128,
    n_tracks: int = 8,
    width: float = 1.0,
) -> End2EndGenerator:
    """The end-to-end generator: G ``proposed_small`` then the refiners.

    See docs/model.md, section 2.5.
    """
    generator = build_generator("proposed_small", z_dim, batch_norm, n_tracks, width)
    refiner = build_refiner(neuron, estimator, batch_norm, n_tracks, width)
    return End2EndGenerator(generator, refiner)
