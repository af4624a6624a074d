"""The worker processes of ``python -m benchmarks.gpu``: one training, the speed runs, equality.

    python -m benchmarks.gpu.workers {train,speed,equality} SPEC.json

Each worker is its own process so that a crash, a CUDA error or an out-of-memory kill loses only
its own phase, the TF32 switches and the fp64 reference stay inside it, and the three stage-one
trainings share the one GPU as parallel processes. ``SPEC.json`` is written by ``session``; every
worker writes its results as JSON into the folder the spec names, as it goes.

Trainings go through the stages' own ``run`` (``pipeline.stages.pretrain`` / ``train``) with a
deadline hook that raises ``runner.StopTraining``: the run then ends cleanly with a checkpoint and a
log that says how far it got.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipeline.config import load_params
from pipeline.io import write_json
from pipeline.stages import pretrain, train
from pipeline.training import runner
from pipeline.training.gan import LoopState

log = logging.getLogger("gpu_workers")


def train_one(spec: dict[str, Any], hook: Callable[[LoopState], None]) -> dict[str, Any]:
    """One stage-one or stage-two run through the stage's own ``run``."""
    params = load_params(spec["params"])
    args = (Path(spec["tensor"]), Path(spec["out_dir"]), Path(spec["snapshot_dir"]))
    if spec["stage"] == "pretrain":
        return pretrain.run(params, spec["name"], *args, after_iteration=hook)
    pretrained = Path(spec["pretrained"]) if spec.get("pretrained") else None
    return train.run(params, spec["name"], *args, pretrained, after_iteration=hook)


def deadline_hook(deadline: float) -> Callable[[LoopState], None]:
    """Stop cleanly once the wall clock passes ``deadline`` (seconds since the epoch)."""

    def hook(state: LoopState) -> None:
        if time.time() >= deadline:
            raise runner.StopTraining

    return hook


def work_train(spec: dict[str, Any]) -> None:
    """A training until its deadline (phase ``train``)."""
    summary = train_one(spec, deadline_hook(spec["deadline"]))
    write_json(Path(spec["out_dir"]) / "worker.json", {"status": "ok", "summary": summary})


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_run(spec: dict[str, Any], warmup: int) -> dict[str, Any]:
    """Iterations per second between iteration ``warmup`` and the last but one, and the peak
    device memory.

    The window holds training iterations only: the run's monitoring is off (``phase_speed``)
    except at iteration 0 (in the warm-up) and at the last iteration (outside the window), and
    the device is synchronised twice, once at each end, so that the loop runs as it does in a
    real training, without waiting for the device at every iteration.
    """
    total = int(spec["iterations"])
    if total < warmup + 2:
        raise ValueError(f"{total} iterations leave no timed window after {warmup} of warm-up")
    marks: dict[int, float] = {}

    def hook(state: LoopState) -> None:
        if state.iteration in (warmup, total - 1):
            _synchronize()
            marks[state.iteration] = time.perf_counter()

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    train_one(spec, hook)
    timed = total - 1 - warmup
    rate = timed / (marks[total - 1] - marks[warmup])
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {
        "iterations": total,
        "warmup": warmup,
        "timed_iterations": timed,
        "iterations_per_s": round(rate, 3),
        "peak_mib": round(peak, 1) if peak is not None else None,
    }


def work_speed(spec: dict[str, Any]) -> None:
    """Every speed setting, one after the other; results written after each (phase ``speed``)."""
    results: dict[str, Any] = {}
    out = Path(spec["out"])
    for setting in spec["settings"]:
        name = setting["name"]
        for run in setting["runs"]:
            key = f"{name}/{run['stage']}/{run['name']}"
            try:
                results[key] = {"batch_size": run["batch_size"], **timed_run(run, spec["warmup"])}
            except Exception as error:  # one failed setting must not lose the others
                log.exception("speed %s failed", key)
                results[key] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
            write_json(out, results)


def use_fp64() -> None:
    """Make this process train in float64 with the fp32 runs' initial weights and random draws.

    The fp64 reference of the equality phase: the networks are built as usual (the same initial
    weights, drawn in fp32) and cast to float64; z is drawn in fp32 and cast; every ``.float()``
    of the training code becomes a cast to float64. The global random streams (GP epsilon) are
    drawn in fp32 exactly as in the fp32 runs and promoted where they meet float64 tensors.
    Only this worker process is changed.
    """
    from pipeline.training import data, gan, monitor

    build = runner.build_networks

    def build_double(run: dict[str, Any]):
        nets = build(run)
        for module in nets.modules().values():
            module.double()
        return nets

    def latent_double(*args: Any) -> torch.Tensor:
        return data.latent(*args).double()

    def float_as_double(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.to(torch.float64)

    runner.build_networks = build_double  # type: ignore[assignment]
    gan.latent = latent_double  # type: ignore[assignment]
    monitor.latent = latent_double  # type: ignore[assignment]
    torch.Tensor.float = float_as_double  # type: ignore[method-assign, assignment]


def work_equality(spec: dict[str, Any]) -> None:
    """The first updates on each device of the spec, or in fp64 on the CPU (phase ``equality``)."""
    if spec.get("fp64"):
        use_fp64()
    for run in spec["runs"]:
        train_one(run, lambda state: None)
        write_json(Path(run["out_dir"]) / "worker.json", {"status": "ok"})


WORKERS = {"train": work_train, "speed": work_speed, "equality": work_equality}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in WORKERS:
        print(f"usage: python -m benchmarks.gpu.workers {{{','.join(WORKERS)}}} SPEC.json")
        sys.exit(2)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    spec = json.loads(Path(args[1]).read_text())
    WORKERS[args[0]](spec)


if __name__ == "__main__":
    main()
