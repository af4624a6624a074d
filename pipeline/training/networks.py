"""The networks of one training run, as the training loop, monitoring and checkpoints see them.

Which networks each run builds is ``pipeline.training.experiments``; this module holds only the
bundle they come in, so that the builders of unconditional and conditional runs can share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Networks:
    """The networks of one run.

    ``generator`` maps z to real values in (0, 1) (G or G_small); ``refiner`` (None in stage one)
    maps those to {0, 1}. ``fake = refiner(generator(z))``, or ``generator(z)`` in stage one.
    """

    generator: nn.Module
    refiner: nn.Module | None
    discriminator: nn.Module
    train_generator: bool  # G's own weights are updated (stage one, joint, end-to-end)
    stochastic: bool  # SBN: the binary output must be redrawn at every update
    kind: str  # "pretrain" (real-valued output) or "binary"
    condition: int | None = None  # track-conditional runs: the given track's index (ours)

    def generate(self, z: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """G's output for ``z``; a conditional G also takes the given track of ``real``."""
        if self.condition is None:
            return self.generator(z)
        if real is None:
            raise ValueError("a track-conditional generator needs the real phrases' track")
        return self.generator(z, real[..., self.condition])

    def g_side(self) -> list[nn.Module]:
        """The modules the generator-side optimizer updates."""
        mods = [self.generator] if self.train_generator else []
        return mods + ([self.refiner] if self.refiner is not None else [])

    def modules(self) -> dict[str, nn.Module]:
        """Every network by checkpoint key."""
        out = {"generator": self.generator, "discriminator": self.discriminator}
        if self.refiner is not None:
            out["refiner"] = self.refiner
        return out

    def to(self, device: torch.device) -> Networks:
        for module in self.modules().values():
            module.to(device)
        return self

    def set_modes(self) -> None:
        """Train mode for what is trained; a frozen G is in eval mode with no gradients."""
        for module in self.modules().values():
            module.train()
        if not self.train_generator:
            self.generator.eval()
            self.generator.requires_grad_(False)
