"""The discriminator (critic) D and its onset/offset and chroma features.

Paper section 3.3 and Fig. 5; docs/model.md, section 2.3.

Layout: input ``(B, bar=4, time=96, pitch=84, track)``, channels last like the dataset; output
``(B,)`` linear critic scores. Inside, tensors are channels first, ``(B, C, bar, time, pitch)``;
shapes in comments below are in that order. The feature functions take and return channels-last
tensors.

Structure (``Discriminator.forward``): each track ``i`` goes through its own private network D_p^i
(``private[i]``, separate weights), the 8 outputs are concatenated on the channel axis and go
through the shared D_s; in parallel the chroma stream D_c and the onset/offset stream D_o see the
whole phrase; the merge D_m concatenates [D_s, D_c, D_o] in that order, then conv (2,1,1), a
TF-order flatten and a dense layer to one score. No normalisation; LeakyReLU(0.2) after every conv;
the output is linear.

Per-track input. The tracks reach their private networks through one ``split`` (T views), not T
slices ``x[:, i : i + 1]``: the backward of a slice builds a zero-padded gradient of the whole
input per track and sums the T of them, the backward of ``split`` concatenates the T gradients
once. The values are the same (tests/models/test_discriminator.py checks the weights after an
Adam step bitwise against slicing); only the memory traffic of a critic step drops.

With ``optim.grouped`` the T private networks run as one network of grouped convolutions
(``grouped.private_discriminators``: the same function up to float rounding, for GPUs).

Presets (docs/model.md, section 2.3): ``"proposed"`` (2,155,297 parameters), ``"ablated"`` (no
D_o, no D_c; 1,811,329), ``"baseline"`` (no private networks: the input reaching the shared
network is every track twice, 16 channels [x0, x0, x1, x1, ...], a quirk of the original;
3,028,737) and ``"proposed_small"`` (1,298,001).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pipeline.models.grouped import private_discriminators
from pipeline.models.layers import (
    FlattenBars,
    conv_lrelu,
    init_weights_,
    linear,
    scaled,
    to_channels_first,
)

BEATS, STEPS_PER_BEAT = 4, 24  # 96 time steps per bar
OCTAVES, PITCH_CLASSES = 7, 12  # 84 pitches from C1 (MIDI 24)
DRUM_TRACK = 0


def onset_offset(x: torch.Tensor) -> torch.Tensor:
    """Per-pitch onsets and offsets: (B, bar, time, pitch, T) -> the same shape.

    ``x[b, t] - x[b, t - 1]`` with ``x[b, -1] = 0``: the difference restarts at every bar; +1 marks
    an onset and -1 an offset for binary input. The drum track (0) is passed through raw
    (docs/model.md, section 2.3).
    """
    before = torch.zeros_like(x[:, :, :1])  # (B, bar, 1, pitch, T): silence before each bar
    previous = torch.cat([before, x[:, :, :-1]], dim=2)  # (B, bar, time, pitch, T), shifted in bar
    diff = x - previous
    return torch.cat([x[..., : DRUM_TRACK + 1], diff[..., DRUM_TRACK + 1 :]], dim=-1)


def onset_offset_feature(x: torch.Tensor) -> torch.Tensor:
    """D_o's input: onsets/offsets summed over pitch, (B, 4, 96, 84, T) -> (B, 4, 96, 1, T)."""
    return onset_offset(x).sum(dim=3, keepdim=True)


def beat_chroma_feature(x: torch.Tensor) -> torch.Tensor:
    """D_c's input: beat-level pitch-class counts, (B, 4, 96, 84, T) -> (B, 4, 4, 12, T).

    Time splits into (beat 4, step 24) and pitch into (octave 7, pitch class 12) row-major, then
    steps and octaves are summed. A true pitch-class chroma (pitch 0 is C1), drums included.
    """
    b, bars, _, _, tracks = x.shape
    x = x.reshape(b, bars, BEATS, STEPS_PER_BEAT, OCTAVES, PITCH_CLASSES, tracks)
    return x.sum(dim=(3, 4))  # (B, bar, beat, pitch class, T)


@dataclass(frozen=True)
class DiscriminatorSize:
    """Channel widths of a discriminator preset (docs/model.md, section 2.3)."""

    private: tuple[int, int, int]  # first conv, second conv (both branches), merged
    shared: tuple[int, int]
    onset: tuple[int, int, int] | None
    chroma: tuple[int, int] | None

    def scaled(self, width: float) -> DiscriminatorSize:
        """Every width times ``width`` (``layers.scaled``); width 1 is the preset itself."""

        def scale(widths: tuple[int, ...] | None) -> Any:
            return None if widths is None else tuple(scaled(w, width) for w in widths)

        return DiscriminatorSize(
            scale(self.private), scale(self.shared), scale(self.onset), scale(self.chroma)
        )


PROPOSED = DiscriminatorSize((32, 64, 64), (128, 256), (32, 64, 128), (64, 128))
SMALL = DiscriminatorSize((16, 32, 32), (128, 256), (16, 32, 64), (32, 64))
ABLATED = DiscriminatorSize((32, 64, 64), (128, 256), None, None)


class PrivateDiscriminator(nn.Module):
    """D_p^i of one track: (B, 1, 4, 96, 84) -> (B, merged, 4, 16, 7)."""

    def __init__(self, first: int, second: int, merged: int) -> None:
        super().__init__()
        self.pitch_time = nn.Sequential(
            conv_lrelu(1, first, (1, 1, 12)),  # (B, 32, 4, 96, 7)
            conv_lrelu(first, second, (1, 6, 1)),  # (B, 64, 4, 16, 7)
        )
        self.time_pitch = nn.Sequential(
            conv_lrelu(1, first, (1, 6, 1)),  # (B, 32, 4, 16, 84)
            conv_lrelu(first, second, (1, 1, 12)),  # (B, 64, 4, 16, 7)
        )
        self.merged = conv_lrelu(2 * second, merged, (1, 1, 1))  # concat [pt, tp] -> (B, 64, ...)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.pitch_time(x), self.time_pitch(x)], dim=1)  # (B, 128, 4, 16, 7)
        return self.merged(both)


def shared_discriminator(c_in: int, widths: tuple[int, int]) -> nn.Sequential:
    """D_s: (B, 8 * 64, 4, 16, 7) -> (B, 256, 4, 1, 1)."""
    return nn.Sequential(
        conv_lrelu(c_in, widths[0], (1, 4, 3), (1, 4, 2)),  # (B, 128, 4, 4, 3)
        conv_lrelu(widths[0], widths[1], (1, 4, 3), (1, 4, 3)),  # (B, 256, 4, 1, 1)
    )


def onset_stream(n_tracks: int, widths: tuple[int, int, int]) -> nn.Sequential:
    """D_o: onset feature (B, T, 4, 96, 1) -> (B, 128, 4, 1, 1)."""
    return nn.Sequential(
        conv_lrelu(n_tracks, widths[0], (1, 6, 1)),  # (B, 32, 4, 16, 1)
        conv_lrelu(widths[0], widths[1], (1, 4, 1)),  # (B, 64, 4, 4, 1)
        conv_lrelu(widths[1], widths[2], (1, 4, 1)),  # (B, 128, 4, 1, 1)
    )


def chroma_stream(n_tracks: int, widths: tuple[int, int]) -> nn.Sequential:
    """D_c: beat chroma (B, T, 4, 4, 12) -> (B, 128, 4, 1, 1)."""
    return nn.Sequential(
        conv_lrelu(n_tracks, widths[0], (1, 1, 12)),  # (B, 64, 4, 4, 1)
        conv_lrelu(widths[0], widths[1], (1, 4, 1)),  # (B, 128, 4, 1, 1)
    )


def baseline_shared(n_tracks: int, width: float = 1.0) -> nn.Sequential:
    """The baseline's one network over all tracks: (B, 2T, 4, 96, 84) -> (B, 512, 4, 1, 1).

    Channel counts in the comments are width 1; ``width`` scales each (``layers.scaled``).
    """
    c128, c256, c512 = (scaled(n, width) for n in (128, 256, 512))
    return nn.Sequential(
        conv_lrelu(2 * n_tracks, c128, (1, 1, 12)),  # (B, 128, 4, 96, 7)
        conv_lrelu(c128, c128, (1, 1, 3), (1, 1, 2)),  # (B, 128, 4, 96, 3)
        conv_lrelu(c128, c256, (1, 6, 1)),  # (B, 256, 4, 16, 3)
        conv_lrelu(c256, c256, (1, 4, 1)),  # (B, 256, 4, 4, 3)
        conv_lrelu(c256, c512, (1, 1, 3)),  # (B, 512, 4, 4, 1)
        conv_lrelu(c512, c512, (1, 4, 1)),  # (B, 512, 4, 1, 1)
    )


def merge_network(c_in: int, c_out: int) -> nn.Sequential:
    """D_m: (B, c_in, 4, 1, 1) -> conv (2,1,1) (B, c_out, 3, 1, 1) -> flatten -> dense (B, 1)."""
    return nn.Sequential(
        conv_lrelu(c_in, c_out, (2, 1, 1), (1, 1, 1)),  # (B, c_out, 3, 1, 1)
        FlattenBars(),  # (B, 3 * c_out), TF's channels-last order
        linear(3 * c_out, 1),  # (B, 1), linear
    )


class Discriminator(nn.Module):
    """D: private D_p^i (or the baseline's duplicated input), shared D_s, D_c and D_o, merge D_m."""

    def __init__(
        self,
        private: nn.ModuleList | None,
        shared: nn.Module,
        chroma: nn.Module | None,
        onset: nn.Module | None,
        merged: nn.Module,
    ) -> None:
        super().__init__()
        self.private = private
        self.shared = shared
        self.chroma = chroma
        self.onset = onset
        self.merged = merged
        self.grouped_tracks = False  # optim.grouped (grouped.py); a run setting, not state
        init_weights_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, 96, 84, T) -> (B,) critic scores."""
        cf = to_channels_first(x)  # (B, T, 4, 96, 84)
        if self.private is None:  # baseline: pass-through nets, each track twice
            h = cf.repeat_interleave(2, dim=1)  # (B, 2T, 4, 96, 84): [x0, x0, x1, x1, ...]
        elif self.grouped_tracks:
            h = private_discriminators(cf, self.private)  # the same, as one grouped network
        else:
            tracks = cf.split(1, dim=1)  # T views (B, 1, 4, 96, 84), one backward cat
            h = torch.cat(
                [net(x_i) for x_i, net in zip(tracks, self.private, strict=True)], dim=1
            )  # (B, T * 64, 4, 16, 7), track-major channels
        streams = [self.shared(h)]  # (B, 256, 4, 1, 1)
        if self.chroma is not None:
            streams.append(self.chroma(to_channels_first(beat_chroma_feature(x))))  # (B,128,4,1,1)
        if self.onset is not None:
            streams.append(self.onset(to_channels_first(onset_offset_feature(x))))  # (B,128,4,1,1)
        h = torch.cat(streams, dim=1)  # (B, 512, 4, 1, 1) in the order [D_s, D_c, D_o]
        return self.merged(h).squeeze(1)  # (B,)


def _streamed(size: DiscriminatorSize, n_tracks: int, width: float) -> Discriminator:
    """A discriminator with private networks, and with the streams ``size`` names."""
    size = size.scaled(width)
    private = nn.ModuleList(PrivateDiscriminator(*size.private) for _ in range(n_tracks))
    shared = shared_discriminator(n_tracks * size.private[2], size.shared)
    chroma = chroma_stream(n_tracks, size.chroma) if size.chroma else None
    onset = onset_stream(n_tracks, size.onset) if size.onset else None
    merged_in = size.shared[1] + (size.chroma or (0, 0))[-1] + (size.onset or (0, 0, 0))[-1]
    merged = merge_network(merged_in, scaled(512, width))
    return Discriminator(private, shared, chroma, onset, merged)


def build_discriminator(
    preset: str = "proposed", n_tracks: int = 8, width: float = 1.0
) -> Discriminator:
    """D of preset ``"proposed"``, ``"ablated"``, ``"baseline"`` or ``"proposed_small"``, every
    hidden channel count times ``width`` (1 = the paper's)."""
    if preset == "proposed":
        return _streamed(PROPOSED, n_tracks, width)
    if preset == "ablated":
        return _streamed(ABLATED, n_tracks, width)
    if preset == "proposed_small":
        return _streamed(SMALL, n_tracks, width)
    if preset == "baseline":
        c512, c1024 = scaled(512, width), scaled(1024, width)
        shared = baseline_shared(n_tracks, width)
        return Discriminator(None, shared, None, None, merge_network(c512, c1024))
    raise ValueError(
        f"unknown discriminator preset {preset!r}; "
        "known: ['ablated', 'baseline', 'proposed', 'proposed_small']"
    )
