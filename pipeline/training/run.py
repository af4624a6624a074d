"""The run description: the resolved settings that define one training run's networks.

Every checkpoint stores it under ``run`` as a plain mapping, so that ``sample``, ``generate``,
``accompany``, ``export_weights`` and a resumed run rebuild the same networks from it.
``experiments.run_config`` makes it; ``conditional.with_condition`` adds the two keys of a
track-conditional run. ``RunConfig`` names and types its keys; the functions below are the one
place where a fact is read from it that it does not hold as a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from pipeline.models.binary import Estimator, NeuronKind
from pipeline.models.layers import BatchNormKind

# The training strategies (docs/model.md, section 4.4), the first word of every run's name.
STRATEGIES = ("pretrain", "twostage", "joint", "end2end")


class RunConfig(TypedDict):
    stage: str  # the stage that trains it: pretrain or train
    name: str  # pretrain_<D> in stage one, else the experiment: twostage_dbn, joint_sbn, ...
    kind: str  # pretrain (G's real-valued output) or binary (a refiner's {0, 1} output)
    generator: str  # proposed, or proposed_small (end-to-end)
    discriminator: str  # proposed, ablated or baseline
    neuron: NeuronKind | None  # dbn or sbn; None in stage one
    estimator: Estimator | None  # the binary neurons' gradient estimator; None in stage one
    n_tracks: int
    initial_burst: bool  # 100 critic steps in the first iterations (stage one, end-to-end)
    batch_size: int
    n_iterations: int
    z_dim: int
    width: NotRequired[float]  # model.width; absent in checkpoints older than the option
    batch_norm: BatchNormKind  # affine (the original's) or batch
    condition_track: NotRequired[str]  # track-conditional runs only (docs/accompany.md)
    condition_index: NotRequired[int]


def strategy(run: Mapping[str, Any]) -> str:
    """The run's training strategy: pretrain, twostage, joint or end2end."""
    word = str(run["name"]).split("_")[0]
    if word not in STRATEGIES:
        raise ValueError(f"run {run['name']!r}: no known strategy (one of {STRATEGIES})")
    return word


def network_width(run: Mapping[str, Any]) -> float:
    """The channel width of a run's networks (``model.width``); runs saved before the option
    existed were built at the paper's width, 1.0."""
    return float(run.get("width", 1.0))


def binary_neurons(run: RunConfig) -> tuple[NeuronKind, Estimator]:
    """The kind and gradient estimator of the binary neurons of a stage-two or end-to-end run."""
    neuron, estimator = run["neuron"], run["estimator"]
    if neuron is None or estimator is None:
        raise ValueError(f"run {run['name']!r}: a stage-one run has no binary neurons")
    return neuron, estimator


def is_conditional(run: Mapping[str, Any]) -> bool:
    """Whether the run's generator is given one track (a track-conditional run)."""
    return run.get("condition_track") is not None
