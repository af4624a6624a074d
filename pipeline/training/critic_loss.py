"""The critic's WGAN-GP loss and its update (paper 3.1; docs/model.md, section 4.1).

``D loss = mean D(fake) - mean D(real) + lambda * GP``, where
``GP = mean_i (||grad_x D(x_i)|| - 1)^2`` at ``x_i = eps_i real_i + (1 - eps_i) fake_i``,
``eps_i ~ U[0, 1)`` redrawn at every update, and the norm is
``sqrt(1e-8 + sum of squares over all non-batch axes)``.

Two ways to compute it, equal up to float rounding:

* ``eager_critic_loss``: the penalty's input gradient from ``autograd.grad(create_graph=True)``,
  as the original; the default.
* ``functional_critic_loss`` / ``compiled_critic_loss`` (``optim.compile``): the input gradient
  from ``torch.func.grad``, which ``torch.compile`` accepts (it refuses ``autograd.grad`` with
  ``create_graph`` through a compiled module); one ``.backward()`` then differentiates loss and
  penalty together.

``critic_update`` is one Adam step of D with either. The training loop (``gan.py``) calls it
``n_critic`` times per iteration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor, nn


def interpolate(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """``eps * real + (1 - eps) * fake`` with per-sample ``eps`` of shape (B, 1, 1, 1, 1)."""
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(scores: Tensor, inputs: Tensor) -> Tensor:
    """WGAN-GP penalty ``mean (||dD/dx|| - 1)^2`` of critic ``scores`` (B,) at ``inputs`` (B, ...).

    ``inputs`` must require grad and ``scores`` must depend on it sample by sample. The graph is
    kept (``create_graph``) so the penalty can be differentiated with respect to D's weights.
    """
    (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    norm = torch.sqrt(1e-8 + grad.float().pow(2).flatten(1).sum(dim=1))  # (B,)
    return (norm - 1.0).pow(2).mean()


# (real, fake, eps, lam) -> (D loss, GP, Wasserstein estimate), differentiable in D's weights
CriticLoss = Callable[[Tensor, Tensor, Tensor, float], tuple[Tensor, Tensor, Tensor]]


def draw_eps(b: int, device: torch.device, on_cpu: bool = False) -> Tensor:
    """The GP's per-sample ``eps ~ U[0, 1)``, (B, 1, 1, 1, 1), from the device's or the CPU's
    generator (the same bytes on a CPU run)."""
    if on_cpu:
        return torch.rand((b, 1, 1, 1, 1)).to(device)
    return torch.rand((b, 1, 1, 1, 1), device=device)


def eager_critic_loss(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    eps: Tensor,
    lam: float,
    amp: contextlib.AbstractContextManager | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The critic loss with the penalty's input gradient from ``autograd.grad`` (faithful path).

    D scores the real and fake samples in one call (D has no normalisation layer, so each sample
    gets its own score) and the interpolated samples in a call of their own, as the original
    calls D on them (docs/model.md, section 4.1). Apart, the penalty's backward and its double
    backward run over the B interpolated samples only; scored in one batch with the other 2B, both
    passes would carry zero gradients for those 2B as well, about half as much work again. The
    scores are the same up to float rounding.
    """
    b = real.shape[0]
    x_int = interpolate(real, fake, eps).requires_grad_(True)
    with amp or contextlib.nullcontext():
        d_real, d_fake = critic(torch.cat([real, fake])).float().split(b)  # (B,), (B,)
        # A view of the leaf, not the leaf: tools that hook a module's inputs (FlopCounterMode's
        # module tracker, used by benchmarks/bench_training.py) refuse a leaf within autograd.grad.
        d_int = critic(x_int.view_as(x_int)).float()  # (B,)
    gp = gradient_penalty(d_int, x_int)
    wasserstein = d_real.mean() - d_fake.mean()
    return -wasserstein + lam * gp, gp, wasserstein


def functional_critic_loss(
    critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor, lam: float, bf16: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """The same loss with the input gradient from ``torch.func.grad``, which compiles.

    D scores real and fake in one call and the interpolated samples in another, as in
    ``eager_critic_loss``; ``func.grad`` differentiates the interpolated samples' score sum with
    respect to their input, and that gradient is still differentiable in D's weights.
    """
    b = real.shape[0]

    def amp() -> torch.autocast:
        return torch.autocast(real.device.type, torch.bfloat16, enabled=bf16)

    def score_sum(x: Tensor) -> Tensor:
        with amp():
            return critic(x).float().sum()

    grad = torch.func.grad(score_sum)(interpolate(real, fake, eps))
    norm = torch.sqrt(1e-8 + grad.float().pow(2).flatten(1).sum(dim=1))  # (B,)
    gp = (norm - 1.0).pow(2).mean()
    with amp():
        d_real, d_fake = critic(torch.cat([real, fake])).float().split(b)  # (B,), (B,)
    wasserstein = d_real.mean() - d_fake.mean()
    return -wasserstein + lam * gp, gp, wasserstein


def compiled_critic_loss(
    critic: nn.Module, bf16: bool = False, backend: str = "inductor"
) -> CriticLoss:
    """``functional_critic_loss`` of ``critic`` compiled by ``torch.compile`` (inductor; tests
    also use ``"aot_eager"``, which traces the same graphs without generating code)."""

    def loss(real: Tensor, fake: Tensor, eps: Tensor, lam: float):
        return functional_critic_loss(critic, real, fake, eps, lam, bf16)

    return torch.compile(loss, backend=backend, dynamic=False)


def critic_update(
    critic: nn.Module,
    opt: torch.optim.Optimizer,
    real: Tensor,
    fake: Tensor,
    lam: float,
    amp: contextlib.AbstractContextManager | None = None,
    loss_fn: CriticLoss | None = None,
    noise_on_cpu: bool = False,
) -> dict[str, Tensor]:
    """One Adam step of D on ``real`` and ``fake`` (both (B, 4, 96, 84, T), no grad to G).

    ``loss_fn`` (e.g. ``compiled_critic_loss``) replaces ``eager_critic_loss``; ``amp`` applies to
    the eager loss only (a compiled loss was built with its own autocast setting).
    """
    eps = draw_eps(real.shape[0], real.device, noise_on_cpu)  # redrawn at every update
    opt.zero_grad(set_to_none=True)
    if loss_fn is None:
        loss, gp, wasserstein = eager_critic_loss(critic, real, fake, eps, lam, amp)
    else:
        loss, gp, wasserstein = loss_fn(real, fake, eps, lam)
    loss.backward()
    opt.step()
    return {"d_loss": loss.detach(), "gp": gp.detach(), "wasserstein": wasserstein.detach()}
