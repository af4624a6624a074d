"""Track-conditional BinaryMuseGAN: write the other tracks for a given one (ours).

Not a model of the BinaryMuseGAN paper. It follows the track-conditional scenario of MuseGAN
(Dong et al., AAAI 2018, section "Track-conditional generation"), where an encoder of the given
track feeds the generators, on the shared/private generator of BinaryMuseGAN (docs/model.md,
section 2.2); the design and what is ours are in ``docs/accompany.md``.

Layout: ``z`` is ``(B, z_dim)``; the condition is the given track's binary piano-roll
``(B, bar=4, time=96, pitch=84)`` as float {0, 1}; the output is ``(B, 4, 96, 84, T)``, channels
last, with the condition inserted unchanged at track ``index`` and the ``T - 1`` generated tracks
around it. Inside, tensors are channels first, ``(B, C, bar, time, pitch)``.

* ``ConditionEncoder`` mirrors a private generator's pitch-time branch (docs/model.md, section
  2.2) with strided convolutions: ``(B, 1, 4, 96, 84) -> (B, 64, 4, 16, 7)``, the shared
  network's output scale.
* ``ConditionalGenerator``: ``G_s(z)`` and the encoding are concatenated on the channel axis and
  fused by a 1x1x1 transposed convolution (+ batch norm, ReLU) back to 64 channels; ``T - 1``
  private networks ``G_p^i`` (the paper's ``PrivateGenerator``) produce the other tracks.
* ``ConditionalRefiner``: the paper's refiner on the ``T - 1`` generated tracks only; the given
  track passes through unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.generator import GENERATOR_PRESETS, PrivateGenerator, shared_generator
from pipeline.models.layers import (
    BatchNormKind,
    batch_norm,
    conv,
    init_weights_,
    lrelu,
    scaled,
    tconv,
    to_channels_last,
)
from pipeline.models.refiner import Refiner

SHARED_CHANNELS = 64  # channels of G_s's output (B, 64, 4, 16, 7)


def insert_track(others: torch.Tensor, given: torch.Tensor, index: int, dim: int) -> torch.Tensor:
    """``others`` with the single track ``given`` inserted at ``index`` of axis ``dim``."""
    head, tail = others.narrow(dim, 0, index), others.narrow(dim, index, others.shape[dim] - index)
    return torch.cat([head, given, tail], dim=dim)


def remove_track(x: torch.Tensor, index: int, dim: int) -> torch.Tensor:
    """``x`` without track ``index`` of axis ``dim``."""
    n = x.shape[dim]
    return torch.cat([x.narrow(dim, 0, index), x.narrow(dim, index + 1, n - index - 1)], dim=dim)


class ConditionEncoder(nn.Module):
    """E: the given track (B, 4, 96, 84) -> features (B, 64, 4, 16, 7) (ours, see module doc).

    The reverse of a private generator's pitch-time branch: pitch 84 -> 7 (kernel and stride 12,
    one octave), then time 96 -> 16 (kernel and stride 6), LeakyReLU(0.2) as in D (docs/model.md,
    section 2.3).
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c32, c64 = scaled(32, width), scaled(SHARED_CHANNELS, width)
        self.net = nn.Sequential(
            conv(1, c32, (1, 1, 12)),  # (B, 32, 4, 96, 7)
            lrelu(),
            conv(c32, c64, (1, 6, 1)),  # (B, 64, 4, 16, 7)
            lrelu(),
        )

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return self.net(condition[:, None])  # (B, 4, 96, 84) -> (B, 1, 4, 96, 84) -> ...


class ConditionalGenerator(nn.Module):
    """G(z, c): G_s(z) fused with E(c), then T - 1 private networks; c inserted at ``index``."""

    def __init__(
        self,
        z_dim: int,
        channels: int,
        norm: BatchNormKind,
        n_tracks: int,
        index: int,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if n_tracks < 2 or not 0 <= index < n_tracks:
            raise ValueError(f"condition index {index} needs 0 <= index < n_tracks ({n_tracks})")
        self.z_dim = z_dim
        self.n_tracks = n_tracks
        self.index = index
        self.shared = shared_generator(z_dim, channels, norm, width)
        self.encoder = ConditionEncoder(width)
        c64 = scaled(SHARED_CHANNELS, width)
        self.fuse = nn.Sequential(
            tconv(2 * c64, c64, (1, 1, 1)),  # (B, 128, ...) -> (B, 64, ...)
            batch_norm(norm, c64),
            nn.ReLU(),
        )
        self.private = nn.ModuleList(PrivateGenerator(norm, width) for _ in range(n_tracks - 1))
        init_weights_(self)

    def forward(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim), condition (B, 4, 96, 84) in {0, 1} -> (B, 4, 96, 84, T)."""
        h = self.shared(z)  # (B, 64, 4, 16, 7)
        h = self.fuse(torch.cat([h, self.encoder(condition)], dim=1))  # (B, 64, 4, 16, 7)
        x = torch.cat([net(h) for net in self.private], dim=1)  # (B, T-1, 4, 96, 84)
        x = insert_track(x, condition[:, None].to(x.dtype), self.index, dim=1)  # (B, T, ...)
        return to_channels_last(x)  # (B, 4, 96, 84, T)


class ConditionalRefiner(nn.Module):
    """R on the generated tracks only: (B, 4, 96, 84, T) -> the same, track ``index`` untouched."""

    def __init__(self, refiner: Refiner, index: int) -> None:
        super().__init__()
        self.refiner = refiner  # built for T - 1 tracks
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refined = self.refiner(remove_track(x, self.index, dim=-1))  # (B, 4, 96, 84, T-1)
        given = x[..., self.index : self.index + 1].to(refined.dtype)
        return insert_track(refined, given, self.index, dim=-1)


def build_conditional_generator(
    preset: str,
    z_dim: int,
    batch_norm: BatchNormKind,
    n_tracks: int,
    index: int,
    width: float = 1.0,
) -> ConditionalGenerator:
    """The conditional G of ``preset`` at channel ``width``.

    Its G_s is the preset's (docs/model.md, section 2.2).
    """
    if preset not in GENERATOR_PRESETS:
        raise ValueError(f"unknown generator preset {preset!r}; known: {sorted(GENERATOR_PRESETS)}")
    channels = GENERATOR_PRESETS[preset]
    return ConditionalGenerator(z_dim, channels, batch_norm, n_tracks, index, width)
