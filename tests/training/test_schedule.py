"""The critic schedule (docs/model.md, section 4.3) as a pure function."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import Params
from pipeline.training.schedule import critic_steps, critic_steps_from, global_steps

COUNTS = {"n_critic": 5, "n_critic_burst": 100, "burst_first_iterations": 25, "burst_every": 500}


@pytest.mark.parametrize(
    ("iteration", "stage_one", "stage_two"),
    [
        (0, 100, 100),
        (1, 100, 5),
        (24, 100, 5),
        (25, 5, 5),
        (26, 5, 5),
        (499, 5, 5),
        (500, 100, 100),
        (501, 5, 5),
        (1000, 100, 100),
        (8500, 100, 100),
        (8579, 5, 5),
    ],
)
def test_burst_at_start_and_every_500th(iteration: int, stage_one: int, stage_two: int) -> None:
    assert critic_steps(iteration, **COUNTS, initial_burst=True) == stage_one
    assert critic_steps(iteration, **COUNTS, initial_burst=False) == stage_two


def test_negative_iteration_is_rejected() -> None:
    with pytest.raises(ValueError):
        critic_steps(-1, **COUNTS, initial_burst=True)


def test_papers_schedule_in_steps(params: Params) -> None:
    """With the paper's counts (params.yaml holds the demo's), steps match the original logs."""
    paper = dataclasses.replace(params.optim, **COUNTS)
    assert critic_steps_from(paper, 24, True) == 100
    assert critic_steps_from(paper, 24, False) == 5
    # Stage one ran 8,580 iterations = 55,470 global steps (docs/model.md, section 4.3).
    assert global_steps(8580, paper, initial_burst=True) == 55470
    # Stage two's monitoring log reads 101, 161, ... every 10 iterations: no initial burst.
    assert global_steps(1, paper, initial_burst=False) == 101
    assert global_steps(11, paper, initial_burst=False) == 161
