"""Binary neurons and their gradient estimators (paper section 3.2; docs/model.md, section 3).

Layout: elementwise, any shape. Both neurons first compute ``p = sigmoid(slope * h)``:

* DBN (deterministic): ``round(p)``, rounding half to even as TF does, so 1 iff ``p > 0.5``, which
  is 1 iff ``h > 0`` (the slope does not change the forward pass). In float32, ``sigmoid`` of a
  positive ``slope * h`` below about 6e-8 is exactly 0.5 and gives 0, as in TF.
* SBN (stochastic): 1 iff ``u < p`` with a fresh ``u ~ U[0, 1)`` on every forward pass, in training
  and at test time alike (the original samples at test time too).

Backward, selected by ``estimator``:

* ``"sigmoid_adjusted"`` (the original's): identity with respect to ``p``, so the total gradient
  with respect to ``h`` is ``slope * p * (1 - p)``;
* ``"straight_through"``: identity with respect to ``h`` (gradient 1).

The forward value is exactly the hard 0/1 value: ``hard + (s - s.detach())`` adds an exact zero
that carries the surrogate ``s``'s gradient. ``slope`` is a registered buffer (float32 scalar,
1.0 at the start), so it is saved in ``state_dict`` and checkpoints; training multiplies it by 1.1
after every epoch with ``anneal_slope`` (docs/model.md, section 3.3).

Noise. An SBN draws ``u`` from the global generator of the device it runs on (``rand_like``), so
CPU and GPU runs draw different noise. ``noise_on_cpu = True`` (set by ``use_cpu_noise``, from
``optim.noise_device: cpu``) draws ``u`` from the global CPU generator and moves it to the device:
a GPU run then draws the same ``u`` as a CPU run. On the CPU both ways give the same bytes.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

NeuronKind = Literal["dbn", "sbn"]
Estimator = Literal["sigmoid_adjusted", "straight_through"]


class BinaryNeuron(nn.Module):
    """A deterministic (``"dbn"``) or stochastic (``"sbn"``) binary neuron with a slope buffer."""

    slope: torch.Tensor

    def __init__(self, kind: NeuronKind = "dbn", estimator: Estimator = "sigmoid_adjusted") -> None:
        super().__init__()
        if kind not in ("dbn", "sbn"):
            raise ValueError(f"kind must be 'dbn' or 'sbn', got {kind!r}")
        if estimator not in ("sigmoid_adjusted", "straight_through"):
            raise ValueError(
                f"estimator must be 'sigmoid_adjusted' or 'straight_through', got {estimator!r}"
            )
        self.kind = kind
        self.estimator = estimator
        self.noise_on_cpu = False  # a run setting, not state: not in state_dict
        self.register_buffer("slope", torch.tensor(1.0))

    def probability(self, h: torch.Tensor) -> torch.Tensor:
        """``p = sigmoid(slope * h)``, in float32 even under bf16 autocast."""
        return torch.sigmoid(self.slope * h.float())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        p = self.probability(h)
        if self.kind == "dbn":
            hard = torch.round(p)  # half to even: p = 0.5 -> 0, as TF's round
        else:
            hard = (self.uniform(p) < p).to(p.dtype)  # = ceil(p - u), u ~ U[0, 1)
        surrogate = p if self.estimator == "sigmoid_adjusted" else h.float()
        return hard + (surrogate - surrogate.detach())  # value: hard; gradient: d surrogate

    def uniform(self, p: torch.Tensor) -> torch.Tensor:
        """``u ~ U[0, 1)`` shaped like ``p``, from the CPU generator when ``noise_on_cpu``."""
        if self.noise_on_cpu:
            return torch.rand(p.shape, dtype=p.dtype).to(p.device)
        return torch.rand_like(p)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, estimator={self.estimator}, slope={self.slope.item():.4g}"


def anneal_slope(module: nn.Module, rate: float) -> None:
    """Multiply, in place, the slope of every ``BinaryNeuron`` inside ``module`` by ``rate``."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, BinaryNeuron):
                layer.slope.mul_(rate)


def use_cpu_noise(module: nn.Module, on: bool = True) -> None:
    """Make every ``BinaryNeuron`` inside ``module`` draw its noise on the CPU (or not)."""
    for layer in module.modules():
        if isinstance(layer, BinaryNeuron):
            layer.noise_on_cpu = on
