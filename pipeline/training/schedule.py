"""The critic schedule: how many critic (D) updates precede each generator update.

See docs/model.md, section 4.3.

The original runs ``n_critic = 5`` critic steps per generator step, except for a burst of 100:

* stage one and end-to-end: at the first 25 iterations of a run and whenever the iteration counter
  is a multiple of 500 (``GAN.train`` / ``End2EndGAN.train``);
* stage two (two-stage and joint): only when the counter is a multiple of 500, iteration 0
  included; there is no initial burst (``RefineGAN.train``).

Our runs resume exactly from snapshots, so the counter is the run's iteration number and never
resets on a restart (the original's restarts did reset it; docs/model.md, section 4.6).
"""

from __future__ import annotations

from pipeline.config import Optim


def critic_steps(
    iteration: int,
    *,
    n_critic: int,
    n_critic_burst: int,
    burst_first_iterations: int,
    burst_every: int,
    initial_burst: bool,
) -> int:
    """Number of critic updates at 0-based ``iteration``.

    ``initial_burst`` is True for stage one and end-to-end, False for stage two.
    """
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    if iteration % burst_every == 0:
        return n_critic_burst
    if initial_burst and iteration < burst_first_iterations:
        return n_critic_burst
    return n_critic


def critic_steps_from(optim: Optim, iteration: int, initial_burst: bool) -> int:
    """``critic_steps`` with the counts taken from the ``optim`` params section."""
    return critic_steps(
        iteration,
        n_critic=optim.n_critic,
        n_critic_burst=optim.n_critic_burst,
        burst_first_iterations=optim.burst_first_iterations,
        burst_every=optim.burst_every,
        initial_burst=initial_burst,
    )


def global_steps(n_iterations: int, optim: Optim, initial_burst: bool) -> int:
    """Optimizer updates (critic + generator) after ``n_iterations`` iterations.

    See docs/model.md, section 4.3 ("The global step").

    With the paper's settings, 8,580 stage-one iterations give 55,470 steps.
    """
    return sum(critic_steps_from(optim, i, initial_burst) + 1 for i in range(n_iterations))
