"""The run description (pipeline/training/run.py): its keys, and the facts read from it."""

from __future__ import annotations

import typing

import pytest

from pipeline.config import EXPERIMENTS, Params
from pipeline.training.experiments import run_config
from pipeline.training.run import (
    RunConfig,
    binary_neurons,
    is_conditional,
    network_width,
    strategy,
)

# The order every checkpoint stores the keys in (a change would change the checkpoint's bytes).
KEYS = [
    "stage",
    "name",
    "kind",
    "generator",
    "discriminator",
    "neuron",
    "estimator",
    "n_tracks",
    "initial_burst",
    "batch_size",
    "n_iterations",
    "z_dim",
    "width",
    "batch_norm",
]


def test_run_configs_have_the_typed_keys_in_the_stored_order(params: Params) -> None:
    one = run_config(params, "pretrain", "proposed", 8, None)
    assert list(one) == KEYS
    for experiment in EXPERIMENTS:
        two = run_config(params, "train", experiment, 8, one)
        assert list(two) == KEYS
        assert binary_neurons(two) == (experiment.split("_")[1], params.model.estimator)
    declared = typing.get_type_hints(RunConfig)
    assert set(KEYS) | {"condition_track", "condition_index"} == set(declared)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pretrain_proposed", "pretrain"),
        ("pretrain_baseline", "pretrain"),
        ("twostage_dbn", "twostage"),
        ("joint_sbn", "joint"),
        ("end2end_dbn", "end2end"),
    ],
)
def test_strategy_is_read_from_the_name(name: str, expected: str) -> None:
    assert strategy({"name": name}) == expected


def test_an_unknown_strategy_and_a_stage_one_run_without_neurons_are_errors(params) -> None:
    with pytest.raises(ValueError, match="'refine_dbn': no known strategy"):
        strategy({"name": "refine_dbn"})
    with pytest.raises(ValueError, match="stage-one run has no binary neurons"):
        binary_neurons(run_config(params, "pretrain", "proposed", 8, None))


def test_width_and_condition_defaults_of_older_runs(params: Params) -> None:
    run = dict(run_config(params, "pretrain", "proposed", 8, None))
    del run["width"]  # a checkpoint saved before model.width existed
    assert network_width(run) == 1.0
    assert not is_conditional(run)
    assert is_conditional({**run, "condition_track": "Piano", "condition_index": 1})
