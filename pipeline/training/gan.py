"""WGAN-GP training of BinaryMuseGAN: the loop (docs/model.md, section 4.3).

One iteration = ``n_critic`` critic (D) updates, then one generator-side update. All of them use the
same real minibatch and the same z; the gradient-penalty epsilon and the SBN noise are redrawn at
every update (docs/model.md, section 4.3). The critic's loss and update are in ``critic_loss.py``;
the generator side's loss is ``G loss = -mean D(fake)``. ``global_step`` counts critic and
generator updates, as the original's does.

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

Speed options (docs/gpu.md), none changing what is computed on the CPU beyond float rounding:

* ``LoopConfig.critic_loss`` (``optim.compile``): the critic loss compiled
  (``critic_loss.compiled_critic_loss``). Equal to the eager loss within float rounding.
* ``LoopConfig.noise_on_cpu`` (``optim.noise_device: cpu``): the GP's epsilon (and, through the
  refiner's neurons, the SBN noise) is drawn from the CPU generator and moved to the device, so a
  GPU run draws the same noise as a CPU run. On the CPU it is the same draw either way.
* No host synchronisation per iteration: the logged losses stay on the device until a monitored
  iteration, a snapshot, the end of the run or a stop reads them (``settle``; also with an
  ``after_iteration`` hook, such as the time budget's), and the slope is read only
  when it changes (at the start and after each anneal).
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
from pipeline.training.critic_loss import CriticLoss, critic_update
from pipeline.training.data import TrainingData, latent
from pipeline.training.networks import Networks
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
    bf16: bool = False  # bf16 autocast of the forward passes (CUDA or CPU)
    noise_on_cpu: bool = False  # optim.noise_device == "cpu": draw the GP epsilon on the CPU
    critic_loss: CriticLoss | None = None  # None: the eager loss (``eager_critic_loss``)


@dataclass
class LoopState:
    """Progress of a run; ``rows`` is the training log so far (one dict per iteration)."""

    iteration: int = 0  # iterations completed
    global_step: int = 0  # critic + generator updates
    rows: list[dict[str, Any]] = field(default_factory=list)


def autocast(cfg: LoopConfig) -> contextlib.AbstractContextManager:
    """bf16 autocast on the run's device (CUDA or CPU) when ``optim.bf16``; a no-op otherwise."""
    if cfg.bf16:
        return torch.autocast(device_type=cfg.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
            nets.discriminator,
            opt,
            real,
            step_fake,
            cfg.optim.gp_lambda,
            autocast(cfg),
            cfg.critic_loss,
            cfg.noise_on_cpu,
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
    """Multiply the binary neurons' slope by ``rate`` (end of every epoch).

    See docs/model.md, section 3.3.
    """
    if nets.refiner is not None:
        anneal_slope(nets.refiner, rate)


def settle(rows: list[dict[str, Any]]) -> None:
    """Replace, in place, the device tensors the loop logged in ``rows`` by Python floats.

    The loop logs each iteration's losses as 0-dim device tensors and settles them only where the
    values are read (a monitored iteration, a snapshot, the end), so that a CUDA run does not wait
    for the device at every iteration. The floats are the same as reading them at once.
    """
    for row in reversed(rows):
        settled = True
        for key, value in row.items():
            if isinstance(value, Tensor):
                row[key] = float(value)
                settled = False
        if settled:  # rows before the last settled one are settled too
            return


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
    ``optim.snapshot_every`` iterations. ``after_iteration(state)`` runs after every iteration
    (a deadline, a test's kill); the rows it sees may still hold device tensors (``settle``), and
    if it raises, the rows are settled before the exception leaves the loop.
    """
    optim, ipe = cfg.optim, data.iterations_per_epoch
    slope = current_slope(nets)  # the slope this iteration trains with: rate ** epoch
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
            **d_losses,  # 0-dim device tensors until ``settle``
            **g_losses,
        }
        state.rows.append(row)
        if it % optim.monitor_every == 0 or state.iteration == cfg.n_iterations:
            settle(state.rows)
            row.update(monitor(it))
            log.info("iteration %d step %d: %s", it, state.global_step, _fmt(row))
            bar.set_postfix(d=f"{row['d_loss']:.3g}", g=f"{row['g_loss']:.3g}")
        # End of an epoch: epoch k trains with rate ** k. Not after the last iteration: the
        # original saved its end-of-epoch checkpoint before annealing and evaluated the last one,
        # so the final checkpoint keeps the slope its last iteration trained with (docs/model.md,
        # section 3.3).
        if state.iteration % ipe == 0 and state.iteration < cfg.n_iterations:
            anneal(nets, optim.slope_rate)
            slope = current_slope(nets)  # one read per epoch
        if state.iteration % optim.snapshot_every == 0 and state.iteration < cfg.n_iterations:
            settle(state.rows)
            snapshot(state)
        if after_iteration is not None:
            try:
                after_iteration(state)
            except BaseException:
                settle(state.rows)  # a stopped run's rows are written by the caller
                raise
    settle(state.rows)
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
