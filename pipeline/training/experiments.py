"""Which networks each stage builds, where their weights come from, and which ones it trains.

=================  =====================================  ==================  ===============
run                generator side (fake = ...)            trained             starts from
=================  =====================================  ==================  ===============
pretrain_<D>       G (proposed); fake = G's sigmoid        G, D                scratch
twostage_<BN>      R(G(z)); G frozen                       R, D                G, D: stage one
joint_<BN>         R(G(z))                                 G, R, D             G, D: stage one
end2end_<BN>       R(G_small(z)) (one end-to-end net)      G_small, R, D       scratch
=================  =====================================  ==================  ===============

The strategies: docs/model.md, section 4.4. ``<D>`` is proposed / ablated / baseline; ``<BN>``
is dbn / sbn. Stage two continues D (and G) from the *proposed-D* stage-one checkpoint with fresh
optimizer state.

Lengths (docs/model.md, section 4.5). The paper's runs on its 13,746 phrases: stage one 20 epochs
= 8,580 iterations at batch 32; stage two about 8 epochs (about 7,000 iterations at batch 16);
end-to-end about 10.5 epochs (about 9,000). ``configs/paper.yaml`` keeps the epochs, not the
iteration counts, on our default tensor of 9,876 phrases (docs/data.md):
``pretrain.n_iterations: 6160`` (20 epochs of 308), ``train.n_iterations: 4936`` (8 epochs of 617)
and ``train.n_iterations_end2end: 5553`` (9 epochs, so that the evaluated slope is 1.1^8, as in
docs/model.md, section 3.3).
"""

from __future__ import annotations

from typing import Any, cast

from torch import nn

from pipeline.config import EXPERIMENTS, Params
from pipeline.models import (
    build_discriminator,
    build_end2end_generator,
    build_generator,
    build_refiner,
)
from pipeline.models.binary import NeuronKind
from pipeline.training.conditional import build_conditional_networks
from pipeline.training.networks import Networks
from pipeline.training.run import (
    RunConfig,
    binary_neurons,
    is_conditional,
    network_width,
    strategy,
)


def split_experiment(experiment: str) -> tuple[str, NeuronKind]:
    """``"joint_sbn"`` -> ``("joint", "sbn")``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; expected one of {EXPERIMENTS}")
    how, neuron = experiment.split("_")
    return how, cast(NeuronKind, neuron)


def run_config(
    params: Params, stage: str, name: str, n_tracks: int, source: RunConfig | None
) -> RunConfig:
    """The resolved settings that define the networks of a run (stored in every checkpoint).

    ``name`` is the discriminator for ``stage="pretrain"`` and the experiment for ``"train"``.
    ``source`` is the stage-one checkpoint's run config for two-stage and joint runs.
    """
    # the networks' shape: the params' in stage one and end-to-end, the stage-one run's otherwise
    z_dim, width, batch_norm = params.model.z_dim, params.model.width, params.model.batch_norm
    if stage == "pretrain":
        return {
            "stage": stage,
            "name": f"pretrain_{name}",
            "kind": "pretrain",
            "generator": params.pretrain.generator,
            "discriminator": name,
            "neuron": None,
            "estimator": None,
            "n_tracks": n_tracks,
            "initial_burst": True,
            "batch_size": params.pretrain.batch_size,
            "n_iterations": params.pretrain.n_iterations,
            "z_dim": z_dim,
            "width": width,
            "batch_norm": batch_norm,
        }
    how, neuron = split_experiment(name)
    if how == "end2end":
        gen, disc, n_iter = "proposed_small", "proposed", params.train.n_iterations_end2end
    else:
        if source is None:
            raise ValueError(f"{name} continues from a stage-one checkpoint; none was given")
        gen, disc, n_iter = source["generator"], source["discriminator"], params.train.n_iterations
        z_dim, width, batch_norm = source["z_dim"], network_width(source), source["batch_norm"]
    return {
        "stage": stage,
        "name": name,
        "kind": "binary",
        "generator": gen,
        "discriminator": disc,
        "neuron": neuron,
        "estimator": params.model.estimator,
        "n_tracks": n_tracks,
        "initial_burst": how == "end2end",
        "batch_size": params.train.batch_size,
        "n_iterations": n_iter,
        "z_dim": z_dim,
        "width": width,
        "batch_norm": batch_norm,
    }


def build_networks(run: RunConfig) -> Networks:
    """Fresh (randomly initialised) networks for the resolved run config ``run``."""
    if is_conditional(run):  # track-conditional runs (docs/accompany.md)
        return build_conditional_networks(run)
    n_tracks, bn, width = run["n_tracks"], run["batch_norm"], network_width(run)
    disc = build_discriminator(run["discriminator"], n_tracks, width)
    if strategy(run) == "pretrain":
        gen = build_generator(run["generator"], run["z_dim"], bn, n_tracks, width)
        return Networks(gen, None, disc, True, False, "pretrain")
    neuron, estimator = binary_neurons(run)
    stochastic = neuron == "sbn"
    if strategy(run) == "end2end":
        e2e = build_end2end_generator(neuron, estimator, bn, run["z_dim"], n_tracks, width)
        return Networks(e2e.generator, e2e.refiner, disc, True, stochastic, "binary")
    gen = build_generator(run["generator"], run["z_dim"], bn, n_tracks, width)
    ref = build_refiner(neuron, estimator, bn, n_tracks, width)
    return Networks(gen, ref, disc, strategy(run) == "joint", stochastic, "binary")


def load_stage_one(nets: Networks, checkpoint: dict[str, Any]) -> None:
    """Copy G and D weights of a stage-one checkpoint into ``nets`` (docs/model.md, section 4.4)."""
    if checkpoint["run"]["kind"] != "pretrain":
        raise ValueError("the --pretrained checkpoint must come from the pretrain stage")
    nets.generator.load_state_dict(checkpoint["models"]["generator"])
    nets.discriminator.load_state_dict(checkpoint["models"]["discriminator"])


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
