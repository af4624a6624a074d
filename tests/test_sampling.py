"""pipeline.sampling: an SBN model's noise comes from the seeded CPU generator on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline import sampling
from pipeline.models.binary import BinaryNeuron

SHAPE = (4, 96, 84, 2)  # bars, steps, pitches, tracks


class TinySBN(nn.Module):
    """A sampler whose output is one SBN layer at p = 0.5 everywhere: pure seeded noise."""

    z_dim = 4
    name = "tiny_sbn"

    def __init__(self) -> None:
        super().__init__()
        self.neuron = BinaryNeuron("sbn")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.neuron(torch.zeros((z.shape[0], *SHAPE), device=z.device))


def draw(device: torch.device, seed: int = 5) -> np.ndarray:
    model = TinySBN().to(device)
    return sampling.draw(model, 5, 3, "model", seed, device)


def test_sbn_noise_is_the_seeded_cpu_generator() -> None:
    phrases = draw(torch.device("cpu"))
    torch.manual_seed(5)
    want = np.concatenate([(torch.rand((b, *SHAPE)) < 0.5).numpy() for b in (3, 2)])
    assert np.array_equal(phrases, want)
    assert not np.array_equal(draw(torch.device("cpu"), seed=6), phrases)


def test_sampling_sets_cpu_noise_on_the_model() -> None:
    model = TinySBN()
    list(sampling.draw_batches(model, 2, 2, "model", 0, torch.device("cpu")))
    assert model.neuron.noise_on_cpu


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sbn_samples_on_cuda_equal_the_cpu_run() -> None:
    assert np.array_equal(draw(torch.device("cuda")), draw(torch.device("cpu")))
