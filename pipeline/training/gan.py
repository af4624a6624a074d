"""WGAN-GP training of BinaryMuseGAN: the loss, the gradient penalty and the loop (spec 3.1, 3.2).

One iteration = ``n_critic`` critic (D) updates, then one generator-side update. All of them use the
same real minibatch and the same z; the gradient-penalty epsilon and the SBN noise are redrawn at
every update (spec 3.2).

What is computed once per iteration, and why that is exact:

* ``x_hat = G(z)`` (no grad) is computed once and reused by every critic step: G's weights change
  only in the generator step, which comes last, and D's loss does not differentiate through G.
  A frozen G (two-stage) is also reused for the refiner step. (With true BatchNorm,
  ``model.batch_norm: batch``, G in train mode updates its running statistics at every forward; we
  run fewer forwards, so those statistics, used only in eval mode, differ. The train-mode outputs
  and so every update are identical. The faithful ``affine`` BN has no statistics.)
* Stage one and DBN refiners: ``fake`` itself is computed once for all critic steps (a DBN is
  deterministic and R does not change during the critic steps).
* SBN refiners: the binary output must be redrawn per update, so only R's deterministic
  pre-activation is shared and the stochastic binary neuron is re-applied at every critic step
  (``stochastic_outputs``); that draws exactly the noise a full ``R(x_hat)`` would draw.

The losses (spec 3.1): ``D loss = mean D(fake) - mean D(real) + lambda * GP``, ``G loss = -mean
D(fake)``, where ``GP = mean_i (||grad_x D(x_i)|| - 1)^2`` at ``x_i = eps_i real_i + (1 - eps_i)
fake_i``, ``eps_i ~ U[0, 1)``, and the norm is ``sqrt(1e-8 + sum of squares over all non-batch
axes)``. ``global_step`` counts critic and generator updates, as the original's does.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from pipeline.config import Optim
from pipeline.models import Refiner, anneal_slope
from pipeline.training.data import TrainingData, latent
from pipeline.training.experiments import Networks
from pipeline.training.schedule import critic_steps_from

log = logging.getLogger(__name__)

LOSS_COLUMNS = [
    "iteration",
    "epoch",
    "step",
    "n_critic",
    "slope",
    "d_loss",
    "g_loss",
    "gp",
    "wasserstein",
]


@dataclass(frozen=True)
class LoopConfig:
    """What the loop needs besides the networks and the data."""

    optim: Optim
    n_iterations: int
    initial_burst: bool  # stage one and end-to-end: 100 critic steps in the first iterations
    z_dim: int
    device: torch.device
    bf16: bool = False  # bf16 autocast of the forward passes (CUDA only)


@dataclass
class LoopState:
    """Progress of a run; ``rows`` is the training log so far (one dict per iteration)."""

    iteration: int = 0  # iterations completed
    global_step: int = 0  # critic + generator updates
    rows: list[dict[str, Any]] = field(default_factory=list)


def autocast(cfg: LoopConfig) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``optim.bf16``; a no-op otherwise."""
    if cfg.bf16 and cfg.device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------
# Loss pieces
# --------------------------------------------------------------------------------------------


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


def critic_update(
    critic: nn.Module,
    opt: torch.optim.Optimizer,
    real: Tensor,
    fake: Tensor,
    lam: float,
    amp: contextlib.AbstractContextManager | None = None,
) -> dict[str, Tensor]:
    """One Adam step of D on ``real`` and ``fake`` (both (B, 4, 96, 84, T), no grad to G).

    D has no normalisation layer, so scoring real, fake and interpolated samples in one
    concatenated batch gives each sample the same score as three separate calls.
    """
    b = real.shape[0]
    eps = torch.rand((b, 1, 1, 1, 1), device=real.device)  # redrawn at every update
    x_int = interpolate(real, fake, eps).requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    with amp or contextlib.nullcontext():
        scores = critic(torch.cat([real, fake, x_int])).float()  # (3B,)
    d_real, d_fake, d_int = scores.split(b)
    gp = gradient_penalty(d_int, x_int)
    wasserstein = d_real.mean() - d_fake.mean()
    loss = -wasserstein + lam * gp
    loss.backward()
    opt.step()
    return {"d_loss": loss.detach(), "gp": gp.detach(), "wasserstein": wasserstein.detach()}


# --------------------------------------------------------------------------------------------
# The two phases of an iteration
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def binary_output(nets: Networks, x_hat: Tensor) -> Tensor:
    """What D sees as fake, from G's output ``x_hat``: ``R(x_hat)``, or ``x_hat`` in stage one."""
    return x_hat if nets.refiner is None else nets.refiner(x_hat)


@torch.no_grad()
def stochastic_outputs(refiner: nn.Module, x_hat: Tensor) -> Callable[[], Tensor]:
    """A function drawing a fresh SBN output of ``refiner`` at ``x_hat`` per call.

    R's pre-activation h2 is deterministic and R does not change during the critic steps, so it
    is computed once and only the binary neuron (the sampling) is re-applied per call; the noise
    drawn is the same as a full ``refiner(x_hat)`` would draw.
    """
    if not isinstance(refiner, Refiner):
        return lambda: refiner(x_hat)
    h = refiner.preactivation(x_hat)  # (B, T, 4, 96, 84), channels first
    return lambda: refiner.neuron(h).permute(0, 2, 3, 4, 1)  # -> (B, 4, 96, 84, T)


def critic_phase(
    nets: Networks,
    opt: torch.optim.Optimizer,
    real: Tensor,
    x_hat: Tensor,
    n_steps: int,
    cfg: LoopConfig,
) -> dict[str, Tensor]:
    """``n_steps`` critic updates on one real batch and one G output; the last step's losses."""
    if nets.stochastic and nets.refiner is not None:
        draw = stochastic_outputs(nets.refiner, x_hat)  # SBN: fresh noise at every update
    else:
        fake = binary_output(nets, x_hat)  # stage one, DBN: deterministic, computed once
        draw = lambda: fake  # noqa: E731
    losses: dict[str, Tensor] = {}
    for _ in range(n_steps):
        with torch.no_grad():
            step_fake = draw()
        losses = critic_update(
            nets.discriminator, opt, real, step_fake, cfg.optim.gp_lambda, autocast(cfg)
        )
    return losses


def generator_phase(
    nets: Networks,
    opt: torch.optim.Optimizer,
    z: Tensor,
    x_hat: Tensor,
    cfg: LoopConfig,
    real: Tensor | None = None,
) -> dict[str, Tensor]:
    """One Adam step of the generator side (G, R or both) against the current D.

    ``real`` gives a track-conditional G its condition (``Networks.generate``).
    """
    opt.zero_grad(set_to_none=True)
    nets.discriminator.requires_grad_(False)  # no weight gradients for D in this step
    try:
        with autocast(cfg):
            x = nets.generate(z, real) if nets.train_generator else x_hat  # frozen G: reuse
            fake = x if nets.refiner is None else nets.refiner(x)
            loss = -nets.discriminator(fake).float().mean()
        loss.backward()
        opt.step()
    finally:
        nets.discriminator.requires_grad_(True)
    return {"g_loss": loss.detach()}


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def current_slope(nets: Networks) -> float | None:
    """The binary neurons' slope (the first ``slope`` buffer of R); None in stage one."""
    if nets.refiner is None:
        return None
    for name, buf in nets.refiner.named_buffers():
        if name.rsplit(".", 1)[-1] == "slope":
            return float(buf.reshape(-1)[0])
    return None


def anneal(nets: Networks, rate: float) -> None:
    """Multiply the binary neurons' slope by ``rate`` (end of every epoch, spec 2.4)."""
    if nets.refiner is not None:
        anneal_slope(nets.refiner, rate)


def train_loop(
    nets: Networks,
    opts: dict[str, torch.optim.Optimizer],
    data: TrainingData,
    cfg: LoopConfig,
    state: LoopState,
    monitor: Callable[[int], dict[str, Any]],
    snapshot: Callable[[LoopState], None],
    after_iteration: Callable[[LoopState], None] | None = None,
) -> LoopState:
    """Train from ``state.iteration`` to ``cfg.n_iterations``; ``state`` is updated in place.

    ``monitor(i)`` returns the metrics of the fixed monitoring batch, called every
    ``optim.monitor_every`` iterations and at the last one; ``snapshot`` saves a resume point every
    ``optim.snapshot_every`` iterations.
    """
    optim, ipe = cfg.optim, data.iterations_per_epoch
    bar = tqdm(
        range(state.iteration, cfg.n_iterations),
        total=cfg.n_iterations,
        initial=state.iteration,
        desc="iterations",
        disable=not sys.stderr.isatty(),
    )
    for it in bar:
        real = data.batch(it)  # (B, 4, 96, 84, T) float {0, 1}, same for every update below
        z = latent(optim.seed, "z", it, real.shape[0], cfg.z_dim, cfg.device)  # (B, z_dim)
        n_critic = critic_steps_from(optim, it, cfg.initial_burst)
        slope = current_slope(nets)  # the slope this iteration trains with: rate ** epoch
        with torch.no_grad(), autocast(cfg):
            x_hat = nets.generate(z, real).float()  # once per iteration (module docstring)
        d_losses = critic_phase(nets, opts["discriminator"], real, x_hat, n_critic, cfg)
        g_losses = generator_phase(nets, opts["generator"], z, x_hat, cfg, real)
        state.global_step += n_critic + 1
        state.iteration = it + 1
        row = {
            "iteration": it,
            "epoch": it // ipe,
            "step": state.global_step,
            "n_critic": n_critic,
            "slope": slope,
            **{k: float(v) for k, v in {**d_losses, **g_losses}.items()},
        }
        if it % optim.monitor_every == 0 or state.iteration == cfg.n_iterations:
            row.update(monitor(it))
            log.info("iteration %d step %d: %s", it, state.global_step, _fmt(row))
        state.rows.append(row)
        # End of an epoch: epoch k trains with rate ** k. Not after the last iteration: the
        # original saved its end-of-epoch checkpoint before annealing and evaluated the last one,
        # so the final checkpoint keeps the slope its last iteration trained with (spec 7.14).
        if state.iteration % ipe == 0 and state.iteration < cfg.n_iterations:
            anneal(nets, optim.slope_rate)
        bar.set_postfix(d=f"{row['d_loss']:.3g}", g=f"{row['g_loss']:.3g}")
        if state.iteration % optim.snapshot_every == 0 and state.iteration < cfg.n_iterations:
            snapshot(state)
        if after_iteration is not None:
            after_iteration(state)
    return state


_LOGGED = (
    "n_critic",
    "slope",
    "d_loss",
    "g_loss",
    "gp",
    "wasserstein",
    "empty_bar_rate",
    "qualified_note_rate",
    "polyphonicity",
    "tonal_distance",
)


def _fmt(row: dict[str, Any]) -> str:
    """The log line of a monitored iteration: losses and the paper's headline metrics."""
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in row.items()
        if k in _LOGGED and v is not None
    )
