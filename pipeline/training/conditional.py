"""Track-conditional runs (docs/accompany.md; ours): their run config and their networks.

A conditional run is a paper run (``pretrain_proposed``, ``twostage_<BN>``, ``joint_<BN>``) whose
run config carries ``condition_track`` (a track name of the tensor) and ``condition_index``. Its
generator is ``pipeline.models.conditional.ConditionalGenerator``; its refiner refines the other
tracks only; its discriminator is the paper's, on all T tracks. During training the condition is
the given track of the real minibatch, so D sees real complete phrases and fakes that carry the
real condition track (``Networks.generate``). Two-stage and joint runs continue a conditional
stage-one checkpoint of the same track.
"""

from __future__ import annotations

from pipeline.errors import DataError
from pipeline.models import build_discriminator, build_refiner
from pipeline.models.conditional import ConditionalRefiner, build_conditional_generator
from pipeline.training.networks import Networks
from pipeline.training.run import RunConfig, binary_neurons, network_width, strategy

CONDITIONAL_STRATEGIES = ("pretrain", "twostage", "joint")  # end-to-end has no conditional variant


class ConditionError(DataError):
    """A conditional run that cannot be set up; the message names the problem."""


def with_condition(
    run: RunConfig, track: str, tracks: list[str], source: RunConfig | None
) -> RunConfig:
    """``run`` made track-conditional on ``track`` (a name among ``tracks``).

    ``source`` is the stage-one run config of a two-stage or joint run: it must be conditional on
    the same track.
    """
    if strategy(run) not in CONDITIONAL_STRATEGIES:
        raise ConditionError(
            f"{run['name']}: no track-conditional variant (only {CONDITIONAL_STRATEGIES})"
        )
    if track not in tracks:
        raise ConditionError(f"condition track {track!r} is not one of the tensor's {tracks}")
    if source is not None and source.get("condition_track") != track:
        raise ConditionError(
            f"{run['name']} conditional on {track!r} must continue a stage-one run conditional "
            f"on it; the --pretrained one is conditional on {source.get('condition_track')!r}"
        )
    return {**run, "condition_track": track, "condition_index": tracks.index(track)}


def build_conditional_networks(run: RunConfig) -> Networks:
    """Fresh networks of a conditional run config (see ``with_condition``)."""
    n_tracks, bn, index = run["n_tracks"], run["batch_norm"], run["condition_index"]
    width = network_width(run)
    gen = build_conditional_generator(run["generator"], run["z_dim"], bn, n_tracks, index, width)
    disc = build_discriminator(run["discriminator"], n_tracks, width)
    if strategy(run) == "pretrain":
        return Networks(gen, None, disc, True, False, "pretrain", condition=index)
    inner = build_refiner(*binary_neurons(run), bn, n_tracks - 1, width)
    ref = ConditionalRefiner(inner, index)
    return Networks(
        gen, ref, disc, strategy(run) == "joint", run["neuron"] == "sbn", "binary", condition=index
    )
