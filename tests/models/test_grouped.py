"""``optim.grouped``: D's and R's private networks as one grouped network (models/grouped.py).

The grouped path must be the per-track loop's function: the same outputs and the same gradients
(the penalty's double backward included) up to float rounding, the same parameters and state dict,
and each track's weights must still see only their own track.
"""

from __future__ import annotations

import copy

import pytest
import torch

from pipeline.models import build_discriminator, build_refiner
from pipeline.models.grouped import interleave_tracks, use_grouped_tracks
from pipeline.models.layers import AffineBatchNorm
from pipeline.training.critic_loss import critic_update


def _phrases(n_tracks: int, b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = (torch.rand((b, 4, 96, 84, n_tracks), generator=g) < 0.05).float()
    return real, torch.rand((b, 4, 96, 84, n_tracks), generator=g)


def _perturb_(module: torch.nn.Module) -> None:
    """Give the zero-initialised biases and the unit BN scales distinct values, so that a track or
    channel mix-up cannot hide behind equal parameters."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:  # biases, BN scales and shifts
                p.add_(0.05 * torch.randn(p.shape, generator=g))


def test_interleave_puts_each_tracks_two_blocks_side_by_side() -> None:
    a = torch.arange(6.0).view(1, 6)  # 3 tracks x 2 channels: [a0 a0 a1 a1 a2 a2]
    b = 10 + torch.arange(3.0).view(1, 3)  # 3 tracks x 1 channel
    assert interleave_tracks(a, b, 3).tolist() == [[0, 1, 10, 2, 3, 11, 4, 5, 12]]


@pytest.mark.parametrize("preset", ["proposed", "ablated", "proposed_small"])
def test_grouped_discriminator_gives_the_per_track_scores(preset: str) -> None:
    torch.manual_seed(1)
    d = build_discriminator(preset, n_tracks=3)
    _perturb_(d)
    x = _phrases(3)[1]
    loop = d(x)
    use_grouped_tracks(d)
    assert d.grouped_tracks
    torch.testing.assert_close(d(x), loop, rtol=1e-5, atol=1e-6)


def test_grouped_critic_step_equals_the_per_track_one() -> None:
    """A critic update, gradient penalty included: every parameter of D, the per-track private
    ones included, gets the per-track path's gradient up to float rounding. (Weights after the
    Adam step are not compared: Adam's first step is about lr * sign(gradient), which rounding
    flips for gradients near 0.)"""
    torch.manual_seed(2)
    loop = build_discriminator("proposed_small", n_tracks=3)
    _perturb_(loop)
    grouped = copy.deepcopy(loop)
    use_grouped_tracks(grouped)
    real, fake = _phrases(3)
    grads, losses = [], []
    for d in (loop, grouped):
        opt = torch.optim.Adam(d.parameters(), lr=0.002, betas=(0.5, 0.9))
        torch.manual_seed(3)  # the same GP epsilon
        d.zero_grad(set_to_none=True)
        losses.append(critic_update(d, opt, real, fake, lam=10.0))
        grads.append({n: p.grad.clone() for n, p in d.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() == {n for n, _ in loop.named_parameters()}
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(losses[1]["d_loss"], losses[0]["d_loss"], rtol=1e-5, atol=1e-6)
    assert grouped.state_dict().keys() == loop.state_dict().keys()


def test_grouped_discriminator_keeps_each_tracks_weights_private() -> None:
    d = build_discriminator("proposed_small", n_tracks=4)
    use_grouped_tracks(d)
    x = torch.zeros(1, 4, 96, 84, 4)
    x[..., 2] = torch.rand(1, 4, 96, 84)
    d(x).sum().backward()
    first = [net.time_pitch[0][0].weight.grad for net in d.private]
    assert [bool(g.abs().sum() > 0) for g in first] == [False, False, True, False]


def _refiner_gradients(r: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """All of R's weight gradients, flattened, of a fixed weighting of its binary output."""
    torch.manual_seed(6)  # the same SBN noise
    r.zero_grad(set_to_none=True)
    out = r(x)
    weighting = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    (out * weighting.to(out.dtype)).sum().backward()
    return torch.cat([p.grad.double().flatten() for p in r.parameters() if p.grad is not None])


@pytest.mark.parametrize("neuron", ["dbn", "sbn"])
def test_grouped_refiner_gives_the_per_track_output_and_gradients(neuron: str) -> None:
    """R's output and gradients: each of the 64k-element sums behind a bias gradient rounds
    differently in another summation order, so both fp32 paths are judged against an fp64
    evaluation of the per-track path; the grouped one must be about as close as the loop."""
    torch.manual_seed(4)
    loop = build_refiner(neuron, n_tracks=3, width=0.25)  # fp64 at full width takes minutes
    _perturb_(loop)
    grouped = copy.deepcopy(loop)
    use_grouped_tracks(grouped)
    reference = copy.deepcopy(loop).double()
    x = _phrases(3)[1]
    torch.testing.assert_close(grouped.preactivation(x), loop.preactivation(x))
    exact = _refiner_gradients(reference, x.double())
    error_loop = float((_refiner_gradients(loop, x) - exact).norm())
    error_grouped = float((_refiner_gradients(grouped, x) - exact).norm())
    assert exact.numel() == sum(p.numel() for p in loop.parameters() if p.requires_grad)
    assert error_grouped <= 4 * error_loop + 1e-6 * float(exact.norm())
    assert error_grouped < 1e-4 * float(exact.norm())


def test_grouped_refiner_refuses_true_batch_norm_by_name() -> None:
    r = build_refiner("dbn", batch_norm="batch", n_tracks=2)
    assert not isinstance(r.private[0].units[0].branch[0], AffineBatchNorm)
    use_grouped_tracks(r)
    with pytest.raises(ValueError, match="model.batch_norm: affine"):
        r(torch.rand(1, 4, 96, 84, 2))
