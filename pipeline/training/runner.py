"""What the ``pretrain`` and ``train`` stages share: set up a run, train it, write its outputs.

The order of a run, top to bottom in ``run_training``: the device (``device.py``), the networks and
optimizers (``experiments.py``, stage one's weights for stage two), a matching resume snapshot
(``snapshot.py``), the loop (``gan.py``, its critic loss in ``critic_loss.py``) with monitoring
(``monitor.py``), snapshots and the time budget, then the outputs.

Outputs in ``out_dir``:

* ``checkpoint.pt``  the final checkpoint (see ``checkpoint``), read with ``weights_only=True``
* ``meta.json``      what the checkpoint holds: run config, lengths, parameter counts, config hash
* ``log.csv``        one row per iteration: losses, slope, n_critic, step; metrics every
                     ``optim.monitor_every`` iterations (empty cells otherwise)
* ``monitor.csv``    only the monitored rows of ``log.csv`` (gap-free metric curves for plots)
* ``summary.json``   final numbers: iterations, steps, epochs, last losses, last metrics
* ``timing.json``    wall time, iterations per second, device (machine-dependent; not a metric)

Everything but ``timing.json`` is identical for identical params on the CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipeline.config import Params, as_dict
from pipeline.data.phrase_check import PhraseFileError, PhraseFileInfo, validate_phrase_file
from pipeline.data.phrase_file import read_attrs
from pipeline.io import file_digest, write_json
from pipeline.models.binary import use_cpu_noise
from pipeline.models.grouped import use_grouped_tracks
from pipeline.training import checkpoint as ck
from pipeline.training.batch_norm import recalibrate, recalibration_batches
from pipeline.training.checkpoint_check import check_stage_one, check_tracks
from pipeline.training.conditional import with_condition
from pipeline.training.data import TrainingData, derive_seed, latent, load_tensor
from pipeline.training.device import compile_networks, configure_device, pick_device
from pipeline.training.experiments import (
    build_networks,
    count_parameters,
    load_stage_one,
    run_config,
)
from pipeline.training.gan import (
    LOSS_COLUMNS,
    LoopConfig,
    LoopState,
    train_loop,
)
from pipeline.training.monitor import Monitor, last_metrics, write_log_csv
from pipeline.training.networks import Networks
from pipeline.training.run import RunConfig
from pipeline.training.snapshot import resume, save_snapshot, snapshot_path, usable_snapshot

log = logging.getLogger(__name__)

MODEL_PHRASE = (4, 96, 84)  # bars, steps per bar, pitches of G's output


class StopTraining(Exception):
    """Raised by an ``after_iteration`` hook to end a run early but cleanly (a deadline).

    ``run_training`` then writes every output for the iterations done so far (the log says how
    far it got; ``timing.json`` has ``"stopped_early": true`` and ``summary.json`` the reason,
    the exception's message) and keeps a resume snapshot, so the same params continue the run
    later. The time budget (``pretrain.max_minutes``, ``train.max_minutes``) raises it.
    """


def with_budget(
    minutes: float | None, after_iteration: Callable[[LoopState], None] | None
) -> Callable[[LoopState], None] | None:
    """``after_iteration``, then a stop once ``minutes`` of wall time have passed (None: none).

    Checked after each iteration, so a run ends at most one iteration past its budget.
    """
    if minutes is None:
        return after_iteration
    deadline = time.monotonic() + minutes * 60

    def hook(state: LoopState) -> None:
        if after_iteration is not None:
            after_iteration(state)
        if time.monotonic() >= deadline:
            raise StopTraining(f"the time budget of {minutes:g} minutes")

    return hook


def _resolved(params: Params, run: RunConfig, device: torch.device, digests: dict) -> dict:
    """The settings a snapshot must match to be resumed (paths and timings excluded)."""
    optim = {k: v for k, v in as_dict(params.optim).items() if k != "snapshot_every"}
    section = as_dict(params.pretrain if run["stage"] == "pretrain" else params.train)
    section.pop("max_minutes")  # a rerun with another budget continues the same run
    return {
        "run": run,
        "model": as_dict(params.model),
        "optim": optim,
        run["stage"]: section,
        "metrics": as_dict(params.metrics),
        "device": device.type,
        "inputs": digests,
    }


def check_model_shape(tensor: Path, info: PhraseFileInfo) -> None:
    """The networks make and judge phrases of 4 bars x 96 steps x 84 pitches.

    See docs/model.md, section 1.5.
    """
    shape = info.phrase_shape
    if shape[:3] != MODEL_PHRASE:
        raise PhraseFileError(
            f"{tensor}: phrases of {shape[:3]} (bars, steps, pitches); "
            f"the networks need {MODEL_PHRASE}"
        )


def _optimizers(
    nets: Networks, params: Params, device: torch.device | None = None
) -> dict[str, torch.optim.Optimizer]:
    """Fresh Adam optimizers (docs/model.md, section 4.2): one for the generator side, one for D.

    On CUDA the fused implementation (one kernel per step instead of a few per parameter list);
    it equals the default implementation up to float rounding (tests/training/test_speed.py).
    """
    o = params.optim
    fused = True if device is not None and device.type == "cuda" else None

    def adam(modules: list) -> torch.optim.Optimizer:
        ps = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(ps, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, fused=fused)

    return {"generator": adam(nets.g_side()), "discriminator": adam([nets.discriminator])}


def _prepare(
    params: Params,
    stage: str,
    name: str,
    tensor: Path,
    pretrained: Path | None,
    condition_track: str | None = None,
):
    """Device, run config, networks (initialised or loaded), optimizers and resolved config.

    ``condition_track`` makes the run track-conditional (``pipeline.training.conditional``).
    """
    device = pick_device(params.optim.device)
    configure_device(device, params.optim.tf32)
    if device.type != "cuda" and params.optim.tf32:
        log.warning("optim.tf32 applies on CUDA only; ignored on %s", device.type)
    info = validate_phrase_file(tensor)
    check_model_shape(tensor, info)
    tracks = info.track_names
    source = ck.load_checkpoint(pretrained) if pretrained is not None else None
    if source is not None and pretrained is not None:
        check_tracks(source, pretrained, tracks, tensor)
        check_stage_one(source, pretrained)
    run = run_config(params, stage, name, len(tracks), source["run"] if source else None)
    if condition_track is not None:
        run = with_condition(run, condition_track, tracks, source["run"] if source else None)
    digests = {"tensor": file_digest(tensor)}
    if source is not None and pretrained is not None:
        if source["run"]["discriminator"] != "proposed":
            log.warning(
                "stage two continues the %r discriminator (paper: proposed)",
                source["run"]["discriminator"],
            )
        digests["pretrained"] = file_digest(pretrained)
    torch.manual_seed(derive_seed(params.optim.seed, "init"))  # identical initial weights
    nets = build_networks(run)
    if source is not None:
        load_stage_one(nets, source)
    nets.to(device).set_modes()
    if params.optim.noise_device == "cpu" and nets.refiner is not None:
        use_cpu_noise(nets.refiner)
    if params.optim.grouped:
        for module in nets.modules().values():
            use_grouped_tracks(module)
    return (
        device,
        tracks,
        run,
        nets,
        _optimizers(nets, params, device),
        _resolved(params, run, device, digests),
    )


def _checkpoint(nets, opts, run, resolved, tracks, state, ipe) -> dict[str, Any]:
    return {
        "format": ck.FORMAT,
        "version": ck.CHECKPOINT_VERSION,
        "run": run,
        "params": {k: v for k, v in resolved.items() if k not in ("run", "inputs")},
        "track_names": tracks,
        "models": {k: m.state_dict() for k, m in nets.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in opts.items()},
        "iteration": state.iteration,
        "iterations_per_epoch": ipe,
        "global_step": state.global_step,
        "config_hash": ck.config_hash(resolved),
    }


def recalibrate_statistics(
    nets: Networks, data: TrainingData, run: dict, seed: int, device: torch.device
) -> None:
    """True batch norm only: the running statistics of the trained networks recomputed from
    their final weights before the checkpoint is written (``batch_norm.recalibrate``)."""

    def forward(i: int) -> None:
        z = latent(seed, "recalibrate", i, run["batch_size"], run["z_dim"], device)
        x = nets.generate(z, data.batch(i) if nets.condition is not None else None)
        if nets.refiner is not None:
            nets.refiner(x)

    n_batches = recalibration_batches(run["batch_size"])
    if recalibrate(nets.g_side(), forward, n_batches):
        log.info("batch-norm statistics recalibrated on %d batches", n_batches)


def run_training(
    params: Params,
    stage: str,
    name: str,
    tensor: Path,
    out_dir: Path,
    snapshot_dir: Path,
    pretrained: Path | None = None,
    after_iteration: Callable[[LoopState], None] | None = None,
    condition_track: str | None = None,
) -> dict[str, Any]:
    """Train one run (resuming a matching snapshot), write the outputs, return the summary."""
    device, tracks, run, nets, opts, resolved = _prepare(
        params, stage, name, tensor, pretrained, condition_track
    )
    key = ck.config_hash(resolved)
    sizes = {k: count_parameters(m) for k, m in nets.modules().items()}
    log.info(
        "%s on %s: %s parameters, %d iterations at batch %d",
        run["name"],
        device,
        sizes,
        run["n_iterations"],
        run["batch_size"],
    )
    data = TrainingData(load_tensor(tensor, device), run["batch_size"], params.optim.seed)
    torch.manual_seed(derive_seed(params.optim.seed, "train"))  # GP eps and SBN noise
    snap_path = snapshot_path(snapshot_dir, key)
    snap = usable_snapshot(snap_path, nets, device)
    state = LoopState() if snap is None else resume(snap_path, snap, nets, opts, device)
    start = state.iteration

    def snapshot(s: LoopState) -> None:
        checkpoint = _checkpoint(nets, opts, run, resolved, tracks, s, data.iterations_per_epoch)
        save_snapshot(snap_path, checkpoint, s, device)

    cfg = LoopConfig(
        params.optim,
        run["n_iterations"],
        run["initial_burst"],
        run["z_dim"],
        device,
        params.optim.bf16,
        noise_on_cpu=params.optim.noise_device == "cpu",
        critic_loss=compile_networks(nets, params.optim.bf16) if params.optim.compile else None,
    )
    attrs = read_attrs(tensor)
    monitor = Monitor(
        nets,
        run["batch_size"],
        run["z_dim"],
        params.optim.seed,
        device,
        params.metrics,
        tracks,
        int(attrs.get("resolution", 24)),
        int(attrs.get("lowest_pitch", 24)),
        data.phrases[: run["batch_size"]].float() if nets.condition is not None else None,
    )
    budget = (params.pretrain if stage == "pretrain" else params.train).max_minutes
    hook = with_budget(budget, after_iteration)
    t0 = time.perf_counter()
    stopped: str | None = None
    try:
        train_loop(nets, opts, data, cfg, state, monitor, snapshot, hook)
    except StopTraining as reason:
        stopped = str(reason) or "a deadline"
        snapshot(state)  # the resume point of a later run with the same params
        log.info(
            "stopped by %s at iteration %d of %d", stopped, state.iteration, run["n_iterations"]
        )
    recalibrate_statistics(nets, data, run, params.optim.seed, device)
    wall = time.perf_counter() - t0
    final = _checkpoint(nets, opts, run, resolved, tracks, state, data.iterations_per_epoch)
    summary = _write_outputs(Path(out_dir), final, state, sizes, data.iterations_per_epoch, stopped)
    timing = {
        "device": str(device),
        "wall_s": round(wall, 3),
        "iterations_run": state.iteration - start,
        "resumed_from": start,
        "iterations_per_s": round((state.iteration - start) / wall, 4) if wall > 0 else None,
    }
    if stopped:
        timing["stopped_early"] = True
    write_json(Path(out_dir) / "timing.json", timing)
    log.info("done: %s", timing)
    if not stopped:
        snap_path.unlink(missing_ok=True)
    return summary


def _write_outputs(
    out: Path, final: dict, state: LoopState, sizes: dict, ipe: int, stopped: str | None
) -> dict:
    """checkpoint.pt, meta.json, log.csv, monitor.csv and summary.json in ``out``.

    ``stopped`` is why a run ended before its length (summary ``stopped_early``), or None.
    """
    ck.save_checkpoint(out / "checkpoint.pt", final)
    last = state.rows[-1] if state.rows else {}
    summary = {
        "iterations": state.iteration,
        "n_iterations": final["run"]["n_iterations"],
        "global_step": state.global_step,
        "epochs": round(state.iteration / ipe, 4),
        "final": {k: last.get(k) for k in LOSS_COLUMNS[4:]},
        "monitor": last_metrics(state.rows),
    }
    if stopped is not None:
        summary["stopped_early"] = stopped
    meta = {
        "format": final["format"],
        "version": final["version"],
        "run": final["run"],
        "track_names": final["track_names"],
        "parameters": sizes,
        "iterations": state.iteration,
        "global_step": state.global_step,
        "iterations_per_epoch": ipe,
        "epochs_completed": state.iteration // ipe,
        "config_hash": final["config_hash"],
        "torch": torch.__version__.split("+")[0],
    }
    write_json(out / "meta.json", meta)
    write_log_csv(out / "log.csv", state.rows)
    write_log_csv(out / "monitor.csv", state.rows, monitored_only=True)
    write_json(out / "summary.json", summary)
    return summary
