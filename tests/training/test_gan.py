"""The WGAN-GP loss pieces and what one iteration feeds to each update.

See docs/model.md, sections 4.1 and 4.3.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pipeline.config import Params
from pipeline.training.critic_loss import critic_update, gradient_penalty, interpolate
from pipeline.training.data import TrainingData, load_tensor
from pipeline.training.gan import (
    LoopConfig,
    LoopState,
    train_loop,
)
from pipeline.training.runner import _optimizers, _prepare
from tests.training.conftest import tiny_params


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w for every sample."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-0.3, 0.5, math.prod(shape)).view(shape))
        self.b = nn.Parameter(torch.tensor(0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1) + self.b


SHAPE = (2, 3, 4, 2)  # a tiny stand-in for (bars, steps, pitches, tracks)


def test_gradient_penalty_of_a_linear_critic_by_hand() -> None:
    critic = Linear(SHAPE)
    x = torch.rand((3, *SHAPE), requires_grad=True)
    gp = gradient_penalty(critic(x), x).detach()
    norm = math.sqrt(1e-8 + float((critic.w.detach() ** 2).sum()))  # same for every sample
    assert float(gp) == pytest.approx((norm - 1.0) ** 2, rel=1e-6)


def test_critic_update_reports_the_hand_computed_losses() -> None:
    torch.manual_seed(0)
    critic = Linear(SHAPE)
    w, b = critic.w.detach().clone(), float(critic.b.detach())
    real, fake = torch.rand((4, *SHAPE)), torch.rand((4, *SHAPE))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    out = critic_update(critic, opt, real, fake, lam=10.0)
    d = lambda x: (x * w).flatten(1).sum(1) + b  # noqa: E731
    wdist = float(d(real).mean() - d(fake).mean())
    gp = (math.sqrt(1e-8 + float((w**2).sum())) - 1.0) ** 2
    assert float(out["wasserstein"]) == pytest.approx(wdist, rel=1e-5)
    assert float(out["gp"]) == pytest.approx(gp, rel=1e-5)
    assert float(out["d_loss"]) == pytest.approx(-wdist + 10.0 * gp, rel=1e-5)
    assert not torch.equal(critic.w.detach(), w)  # one Adam step was taken


def test_interpolation_is_per_sample() -> None:
    real, fake = torch.ones((2, *SHAPE)), torch.zeros((2, *SHAPE))
    eps = torch.tensor([0.25, 0.75]).view(2, 1, 1, 1, 1)
    x = interpolate(real, fake, eps)
    assert torch.all(x[0] == 0.25) and torch.all(x[1] == 0.75)


class Recorder(nn.Module):
    """Wraps a network and records a copy of every input it sees."""

    def __init__(self, inner: nn.Module, seen: list[torch.Tensor]) -> None:
        super().__init__()
        self.inner, self.seen = inner, seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def test_every_update_of_an_iteration_sees_the_same_batch_and_z(params: Params, tensor) -> None:
    """end2end_sbn, 2 iterations: 2 critic steps (burst) then 1, each followed by a G step."""
    p = tiny_params(params)
    _, _, run, nets, _, _ = _prepare(p, "train", "end2end_sbn", tensor, None)
    zs: list[torch.Tensor] = []
    xs: list[torch.Tensor] = []
    nets.generator = Recorder(nets.generator, zs)
    nets.discriminator = Recorder(nets.discriminator, xs)
    opts = _optimizers(nets, p)
    data = TrainingData(load_tensor(tensor, torch.device("cpu")), 2, p.optim.seed)
    cfg = LoopConfig(p.optim, 2, True, run["z_dim"], torch.device("cpu"))
    state = train_loop(nets, opts, data, cfg, LoopState(), lambda i: {}, lambda s: None)
    assert [r["n_critic"] for r in state.rows] == [2, 1]
    # G: one shared forward + the generator step per iteration, all with that iteration's z.
    assert len(zs) == 4
    assert torch.equal(zs[0], zs[1]) and torch.equal(zs[2], zs[3])
    assert not torch.equal(zs[0], zs[2])
    # D, iteration 0: each critic step scores cat([real, fake]) (calls 0, 2), then the
    # interpolated samples alone (calls 1, 3); call 4 is G's step; iteration 1 starts at call 5.
    b = 2
    real0 = data.batch(0)
    assert len(xs) == 2 * 2 + 1 + 2 * 1 + 1
    assert [x.shape[0] for x in xs[:5]] == [2 * b, b, 2 * b, b, b]
    assert torch.equal(xs[0][:b], real0) and torch.equal(xs[2][:b], real0)
    assert not torch.equal(xs[0][b:], xs[2][b:])  # SBN noise redrawn per update
    for fake_call, int_call in ((0, 1), (2, 3)):  # per-sample eps between real and fake
        fake = xs[fake_call][b:]
        eps = (xs[int_call] - fake).flatten(1).sum(1) / (real0 - fake).flatten(1).sum(1)
        expected = eps.view(b, 1, 1, 1, 1) * real0 + (1 - eps.view(b, 1, 1, 1, 1)) * fake
        torch.testing.assert_close(xs[int_call], expected)
    assert not torch.equal(xs[1], xs[3])  # the GP epsilon is redrawn too
    assert torch.equal(xs[5][:b], data.batch(1))
    assert set(torch.unique(xs[0][b:]).tolist()) <= {0.0, 1.0}
