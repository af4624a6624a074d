"""The generator G: a shared network G_s, then one private network G_p^i per track.

Paper section 3.3 and Fig. 3; docs/model.md, section 2.2.

Layout: input ``z`` is ``(B, z_dim)``; the output is ``(B, bar=4, time=96, pitch=84, track)``,
channels last like the dataset, real-valued in (0, 1) (sigmoid). Inside, every tensor is channels
first, ``(B, C, bar, time, pitch)``; shapes in comments below are in that order.

Private networks. ``Generator.private[i]`` is track ``i``'s G_p^i, a module of its own, so its
weights are separate from every other track's by construction (and named ``private.<i>.*`` in the
state dict). One module per track was measured faster on the CPU than one grouped convolution
(``groups=8``) over all tracks, whose PyTorch CPU kernels are slow; see benchmarks/bench_models.py.

Presets (docs/model.md, section 2.2): ``"proposed"`` (dense 1536, reshape to (3, 1, 1, 512);
1,580,440 parameters) and ``"proposed_small"`` (dense 768, reshape to (3, 1, 1, 256); 1,348,760),
the generator of the end-to-end models.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.layers import (
    BarsFromDense,
    BatchNormKind,
    batch_norm,
    init_weights_,
    scaled,
    tconv,
    tconv_bn_relu,
    to_channels_last,
)

N_BARS = 4
DENSE_BARS = 3  # the dense layer's output is reshaped to 3 bars; tconv (2,1,1) makes 4
GENERATOR_PRESETS = {"proposed": 512, "proposed_small": 256}  # channels after the reshape


def shared_generator(
    z_dim: int, channels: int, norm: BatchNormKind, width: float = 1.0
) -> nn.Sequential:
    """G_s: z (B, z_dim) -> (B, 64, 4, 16, 7) (docs/model.md, section 2.2, the G_s table).

    Channel counts in the comments are width 1; ``width`` scales each (``layers.scaled``).
    """
    c, c256, c128, c64 = (scaled(n, width) for n in (channels, 256, 128, 64))
    return nn.Sequential(
        nn.Linear(z_dim, DENSE_BARS * c),  # (B, 3 * C)
        batch_norm(norm, DENSE_BARS * c, dense=True),  # per feature, before the reshape
        nn.ReLU(),
        BarsFromDense(DENSE_BARS),  # (B, 3*C) -> (B, C, 3, 1, 1), TF's row-major order
        tconv_bn_relu(c, c256, (2, 1, 1), (1, 1, 1), norm),  # (B, 256, 4, 1, 1)
        tconv_bn_relu(c256, c128, (1, 4, 1), (1, 4, 1), norm),  # (B, 128, 4, 4, 1)
        tconv_bn_relu(c128, c128, (1, 1, 3), (1, 1, 3), norm),  # (B, 128, 4, 4, 3)
        tconv_bn_relu(c128, c64, (1, 4, 1), (1, 4, 1), norm),  # (B, 64, 4, 16, 3)
        tconv_bn_relu(c64, c64, (1, 1, 3), (1, 1, 2), norm),  # (B, 64, 4, 16, 7)
    )


class PrivateGenerator(nn.Module):
    """G_p^i of one track: pitch-time and time-pitch branches, merged by a 1x1x1 tconv + sigmoid.

    Channel counts in the comments are width 1; ``width`` scales each (``layers.scaled``).
    """

    def __init__(self, norm: BatchNormKind, width: float = 1.0) -> None:
        super().__init__()
        c64, c32 = scaled(64, width), scaled(32, width)
        self.pitch_time = nn.Sequential(
            tconv_bn_relu(c64, c64, (1, 1, 12), None, norm),  # (B, 64, 4, 16, 84)
            tconv_bn_relu(c64, c32, (1, 6, 1), None, norm),  # (B, 32, 4, 96, 84)
        )
        self.time_pitch = nn.Sequential(
            tconv_bn_relu(c64, c64, (1, 6, 1), None, norm),  # (B, 64, 4, 96, 7)
            tconv_bn_relu(c64, c32, (1, 1, 12), None, norm),  # (B, 32, 4, 96, 84)
        )
        self.merged = nn.Sequential(
            tconv(
                2 * c32, 1, (1, 1, 1)
            ),  # concat [pitch_time, time_pitch] (B, 64, ...) -> (B, 1, ...)
            batch_norm(norm, 1),
            nn.Sigmoid(),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, 64, 4, 16, 7) -> (B, 1, 4, 96, 84) in (0, 1)."""
        both = torch.cat([self.pitch_time(h), self.time_pitch(h)], dim=1)  # (B, 64, 4, 96, 84)
        return self.merged(both)


class Generator(nn.Module):
    """G = G_s then the private G_p^i of every track, concatenated on the track axis."""

    def __init__(
        self,
        z_dim: int,
        channels: int,
        norm: BatchNormKind,
        n_tracks: int = 8,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.n_tracks = n_tracks
        self.shared = shared_generator(z_dim, channels, norm, width)
        self.private = nn.ModuleList(PrivateGenerator(norm, width) for _ in range(n_tracks))
        init_weights_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim) -> (B, 4, 96, 84, n_tracks) in (0, 1)."""
        h = self.shared(z)  # (B, 64, 4, 16, 7)
        x = torch.cat([net(h) for net in self.private], dim=1)  # (B, n_tracks, 4, 96, 84)
        return to_channels_last(x)  # (B, 4, 96, 84, n_tracks), a view


def build_generator(
    preset: str = "proposed",
    z_dim: int = 128,
    batch_norm: BatchNormKind = "affine",
    n_tracks: int = 8,
    width: float = 1.0,
) -> Generator:
    """G of preset ``"proposed"`` or ``"proposed_small"`` at channel ``width``.

    See docs/model.md, section 2.2.
    """
    if preset not in GENERATOR_PRESETS:
        raise ValueError(f"unknown generator preset {preset!r}; known: {sorted(GENERATOR_PRESETS)}")
    return Generator(z_dim, GENERATOR_PRESETS[preset], batch_norm, n_tracks, width)
