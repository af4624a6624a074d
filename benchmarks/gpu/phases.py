"""The phases of ``python -m benchmarks.gpu`` (see ``__main__``), each ``phase_x(check) -> dict``.

A phase returns its results (``status`` ok unless it says skipped, failed or partial); an exception
is caught and recorded by ``Check.phase``. Settings come from the settings block of ``session``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu import carry as gpu_carry
from benchmarks.gpu import session as S
from benchmarks.gpu.session import ROOT, Check, run_spec, start_worker, wait_all

# ------------------------------------------------------------------------------------------------
# env
# ------------------------------------------------------------------------------------------------

# Modules the lent machine may lack; the check must not need any of them.
OPTIONAL_MODULES = ("hdf5plugin", "soundfile", "symusic", "matplotlib", "dvc", "snakemake")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:  # ImportError, or a broken install
        return False
    return True


def phase_env(check: Check) -> dict[str, Any]:
    """Versions, the device and its memory, what the params accept, the tensor's size."""
    import torch

    from pipeline.data.phrase_file import count_phrases, phrase_shape

    if not _importable("hdf5plugin") and not os.environ.get("HDF5_PLUGIN_PATH"):
        raise RuntimeError("no hdf5plugin and no carried filter: pass --carry (see --build-carry)")
    n, shape = count_phrases(check.tensor), phrase_shape(check.tensor)
    cells = n * int(torch.tensor(shape).prod())
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(),
        "modules": {m: _importable(m) for m in OPTIONAL_MODULES},
        "hdf5_plugin_path": os.environ.get("HDF5_PLUGIN_PATH"),
        "optional_keys": S.accepted_optional(),
        "tensor": {"path": str(check.tensor), "phrases": n, "on_device_gib": cells / 2**30},
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    if check.device == "cuda" and not torch.cuda.is_available():
        info.update(status="failed", error="--device cuda but torch sees no CUDA device")
    return info


# ------------------------------------------------------------------------------------------------
# equality
# ------------------------------------------------------------------------------------------------


def phase_equality(check: Check) -> dict[str, Any]:
    """The first updates on the device and on the CPU (fp32, no TF32) against fp64 on the CPU.

    One critic step per iteration throughout: no initial burst and no periodic one (iteration 0
    is a burst iteration of the schedule, 100 critic steps in the paper's setting), so the
    compared weights are those after the first ``EQUALITY_ITERATIONS`` x 2 updates.
    """
    if check.device == "cuda" and "noise_device" not in S.accepted_optional().get("optim", {}):
        return {
            "status": "skipped",
            "note": "not available: the params have no optim.noise_device, so the GPU draws its "
            "own GP noise and its updates cannot equal the CPU's",
        }
    root = check.work / "equality"
    base = check.base
    batch = base["pretrain"]["batch_size"] if check.tiny else S.EQUALITY_BATCH
    extra = {
        "optim": {
            "n_critic": 1,
            "n_critic_burst": 1,
            "burst_first_iterations": 0,
            "monitor_every": 10**6,
            "snapshot_every": 10**6,
        },
        "pretrain": {"n_iterations": S.EQUALITY_ITERATIONS, "batch_size": batch},
    }
    runs = {}
    for name, device in (("device", check.device), ("cpu", "cpu"), ("fp64", "cpu")):
        params = check.params_file(
            f"equality_{name}", S.merge(extra, {"optim": {"device": device}}, "equality")
        )
        runs[name] = run_spec(check, "pretrain", "proposed", params, root / name)
    procs = {
        "equality_fp32": start_worker(
            check, "equality", "equality_fp32", {"runs": [runs["device"], runs["cpu"]]}
        ),
        "equality_fp64": start_worker(
            check, "equality", "equality_fp64", {"runs": [runs["fp64"]], "fp64": True}
        ),
    }
    codes = wait_all(procs, min(time.time() + check.share["equality"], check.deadline))
    if any(c != 0 for c in codes.values()):
        return {"status": "failed", "exit_codes": codes}
    weights = {k: _weights(Path(r["out_dir"]) / "checkpoint.pt") for k, r in runs.items()}
    err_dev = _max_diff(weights["device"], weights["fp64"])
    err_cpu = _max_diff(weights["cpu"], weights["fp64"])
    ok = err_dev <= S.EQUALITY_TOLERANCE * max(err_cpu, 1e-7)
    base_batch = base["pretrain"]["batch_size"]
    return {
        "status": "ok" if ok else "failed",
        "iterations": S.EQUALITY_ITERATIONS,
        "batch_size": batch,
        "paper_batch_size": base_batch,
        "max_abs_diff_device_vs_fp64": err_dev,
        "max_abs_diff_cpu_vs_fp64": err_cpu,
        "max_abs_diff_device_vs_cpu": _max_diff(weights["device"], weights["cpu"]),
        "rule": f"device error <= {S.EQUALITY_TOLERANCE} x CPU error",
    }


def _weights(path: Path) -> dict[str, Any]:
    from pipeline.training.checkpoint import load_checkpoint

    models = load_checkpoint(path)["models"]
    return {f"{m}.{k}": v.double() for m, state in models.items() for k, v in state.items()}


def _max_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a if a[k].numel())


# ------------------------------------------------------------------------------------------------
# speed
# ------------------------------------------------------------------------------------------------


def phase_speed(check: Check) -> dict[str, Any]:
    """Iterations per second and peak memory per setting, stage one (batch 32) and two (16).

    Training iterations only: monitoring and snapshots are off for these runs, and the timed
    window (after the warm-up) is closed by one device synchronisation at each end.
    """
    iterations = 3 if check.tiny else S.SPEED_ITERATIONS
    warmup = 1 if check.tiny else S.SPEED_WARMUP
    tensor = check.tensor
    if not check.tiny:
        tensor = gpu_carry.tiny_tensor(check.tensor, check.work / "speed.h5", S.SPEED_PHRASES)
    root = check.work / "speed"
    settings, skipped = [], []
    for name, (overrides, tf32) in S.SPEED_SETTINGS.items():
        if check.device == "cpu" and name != "fp32":
            skipped.append(name)  # bf16, compile and TF32 act on CUDA only
            continue
        extra = S.merge(
            overrides,
            {
                "optim": {
                    "burst_first_iterations": 0,
                    "monitor_every": 10**6,
                    "snapshot_every": 10**6,
                },
                "pretrain": {"n_iterations": iterations},
                "train": {"n_iterations": iterations, "n_iterations_end2end": iterations},
            },
            f"speed {name}",
        )
        params = check.params_file(f"speed_{name}", extra)
        runs: list[dict[str, Any]] = []
        previous: dict[str, Any] | None = None
        for stage, run in S.SPEED_RUNS:
            pretrained = str(Path(previous["out_dir"]) / "checkpoint.pt") if previous else None
            spec = run_spec(
                check, stage, run, params, root / name, tensor=str(tensor), pretrained=pretrained
            )
            batch = check.base[stage]["batch_size"]
            runs.append({**spec, "batch_size": batch, "iterations": iterations})
            previous = spec if stage == "pretrain" else previous
        settings.append({"name": name, "tf32": tf32, "runs": runs})
    out = root / "speed.json"
    spec = {"out": str(out), "warmup": warmup, "settings": settings}
    proc = start_worker(check, "speed", "speed", spec)
    code = wait_all({"speed": proc}, min(time.time() + check.share["speed"], check.deadline))
    results = json.loads(out.read_text()) if out.is_file() else {}
    complete = len(results) == len(settings) * len(S.SPEED_RUNS)
    good = all("iterations_per_s" in r for r in results.values())
    status = "ok" if complete and good and code["speed"] == 0 else "failed"
    return {"status": status, "results": results, "cuda_only_not_run": skipped, "exit": code}


# ------------------------------------------------------------------------------------------------
# train
# ------------------------------------------------------------------------------------------------


def train_plan(check: Check) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(stage, name, pretrained) of every run of this call, and notes on what cannot run."""
    if check.args.from_dir is None:
        return [("pretrain", d, None) for d in S.STAGE_ONE], []
    src = Path(check.args.from_dir)
    try:  # the first call's runs that ended with a checkpoint (their exports need not be here)
        first = json.loads((src / "summary.json").read_text())["phases"]["train"]["runs"]
        done = {k for k, r in first.items() if r.get("status") == "ok"}
    except (OSError, ValueError, KeyError):
        done = set()
    plan: list[tuple[str, str, str | None]] = [
        ("pretrain", d, None)
        for d in S.STAGE_ONE
        if f"pretrain_{d}" not in done and not (src / f"pretrain_{d}.weights.pt").is_file()
    ]  # rerun what failed
    export = src / "pretrain_proposed.weights.pt"
    notes = []
    for experiment in S.STAGE_TWO:
        if experiment.startswith("end2end"):
            plan.append(("train", experiment, None))
        elif export.is_file():
            plan.append(("train", experiment, str(export)))
        else:
            notes.append(f"{experiment}: no {export.name} in {src}")
    return plan, notes


def phase_train(check: Check) -> dict[str, Any]:
    """Every run of the plan as a parallel process until the deadline; how far each got."""
    until = check.deadline - check.share["after_train"]  # every training is killed by then
    stop_at = until - S.TRAIN_MARGIN  # and stops by itself after its iteration at this time
    if check.tiny:
        stop_at = min(stop_at, time.time() + S.TRAIN_WINDOW_TINY)
    if stop_at - time.time() < 5:
        return {"status": "skipped", "note": "no time left in the budget"}
    plan, notes = train_plan(check)
    params = check.params_file("train", S.TRAIN_OVERRIDES)
    root = check.work / "runs"
    procs = {}
    for stage, name, pretrained in plan:
        spec = run_spec(
            check,
            stage,
            name,
            params,
            root,
            pretrained=pretrained,
            deadline=stop_at,
        )
        procs[f"{stage}_{name}"] = start_worker(check, "train", f"train_{stage}_{name}", spec)
    codes = wait_all(procs, until)
    runs = {}
    for (stage, name, _), key in zip(plan, procs, strict=True):
        runs[key] = _run_result(root / stage / name, codes[key])
    ok = all(r["status"] == "ok" for r in runs.values())
    return {"status": "ok" if ok and not notes else "partial", "runs": runs, "notes": notes}


def _run_result(out: Path, code: int | None) -> dict[str, Any]:
    """How far one training got, from its own outputs."""
    if code != 0 or not (out / "checkpoint.pt").is_file():
        return {"status": "failed", "exit": code, "checkpoint": False}
    timing = json.loads((out / "timing.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    return {
        "status": "ok",
        "iterations": summary["iterations"],
        "epochs": summary["epochs"],
        "stopped_early": timing.get("stopped_early", False),
        "iterations_per_s": timing["iterations_per_s"],
        "monitor": summary["monitor"],
    }


# ------------------------------------------------------------------------------------------------
# sample and evaluate
# ------------------------------------------------------------------------------------------------


def export_run(check: Check, stage: str, name: str, ckpt: Path) -> Path:
    """A weights-only export of one run: with D if it fits (stage one), G and R only otherwise."""
    from pipeline.training.checkpoint import export_weights

    path = check.work / "exports" / f"{'pretrain_' if stage == 'pretrain' else ''}{name}.weights.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    size = export_weights(ckpt, path, discriminator=stage == "pretrain")
    if size > gpu_carry.MAX_BYTES:
        export_weights(ckpt, path, discriminator=False)
    check.exports.append(path)
    return path


def phase_sample(check: Check) -> dict[str, Any]:
    """Sample sets of every trained run (from its export) and both metric modes of each."""
    import torch

    from pipeline.config import load_params
    from pipeline.stages import evaluate, sample

    params = load_params(check.params_file("train"))
    device = torch.device(check.device)
    results, skipped = {}, []
    for stage in ("pretrain", "train"):
        for out in sorted((check.work / "runs" / stage).glob("*/checkpoint.pt")):
            export = export_run(check, stage, out.parent.name, out)
            for how in ("ht", "bs") if stage == "pretrain" else ("model",):
                key = f"{export.name.split('.')[0]}_{how}"
                if check.left() < S.SAMPLE_RESERVE:
                    skipped.append(key)
                    continue
                folder = check.work / "samples" / key
                sample.run(params.sample, export, check.tensor, how, folder, device, previews=False)
                metrics = evaluate.run(
                    params.metrics, folder / "phrases.h5", check.work / "metrics" / f"{key}.json"
                )
                results[key] = {mode: _headline(block) for mode, block in metrics.items()}
    status = "skipped" if not results and not skipped else ("partial" if skipped else "ok")
    return {"status": status, "sets": results, "skipped_for_time": skipped}


def _headline(block: dict[str, Any]) -> dict[str, Any]:
    agg = block["aggregate"]
    keys = {
        "EB": "empty_bar_rate",
        "QN": "qualified_note_rate",
        "PP": "polyphonicity",
        "TD": "tonal_distance",
    }
    return {k: (round(agg[v], 4) if agg[v] is not None else None) for k, v in keys.items()}


# ------------------------------------------------------------------------------------------------
# plot and pack
# ------------------------------------------------------------------------------------------------


def reference_dir(carry: Path | None) -> Path:
    if carry is not None and (carry / gpu_carry.REFERENCE).is_dir():
        return carry / gpu_carry.REFERENCE
    from pipeline.config import load_params

    return ROOT / load_params(ROOT / "params.yaml").paths.reference_runs


def draw_curves(runs: Path, carry: Path | None, out: Path) -> list[Path]:
    """EB, QN, PP and TD against the global step beside the original run, per run found."""
    from pipeline.report import curves  # matplotlib

    drawn = []
    for run, ref_name in curves.REFERENCE_FILES.items():
        monitor = runs / run / "monitor.csv"
        if monitor.is_file():
            ours = curves.read_ours(monitor)
            ref = curves.read_reference(reference_dir(carry) / f"{ref_name}.npz")
            png = out / f"{run.replace('/', '_')}.png"
            curves.plot_run(ours, ref, f"{run} (ours) and the original run", png)
            drawn.append(png)
    return drawn


def phase_plot(check: Check) -> dict[str, Any]:
    if not _importable("matplotlib"):
        return {"status": "skipped", "note": "no matplotlib here: run --plot on the CPU"}
    drawn = draw_curves(check.work / "runs", check.carry, check.work / "plots")
    return {"plots": [p.name for p in drawn]}


def phase_pack(check: Check) -> dict[str, Any]:
    """results.tar.gz and the exports into --out; the file limits checked."""
    packed = gpu_carry.pack_results(check.work, check.out, check.exports)
    return {"status": "ok" if packed["limits_hold"] else "failed", **packed}


def print_table(summary: dict[str, Any]) -> None:
    """One line per phase: name, status, seconds, key figures."""
    print(f"{'phase':<9} {'status':<8} {'s':>6}  key figures")
    for name, p in summary["phases"].items():
        print(f"{name:<9} {p['status']:<8} {p['seconds']:>6}  {_figures(name, p)}")


def _figures(name: str, p: dict[str, Any]) -> str:
    if "error" in p:
        return p["error"][:100]
    if name == "env":
        return f"torch {p['torch']}, {p.get('gpu', 'no GPU')}, tensor {p['tensor']['phrases']}"
    if name == "equality" and "max_abs_diff_cpu_vs_fp64" in p:
        return (
            f"|dev-fp64| {p['max_abs_diff_device_vs_fp64']:.2e}, "
            f"|cpu-fp64| {p['max_abs_diff_cpu_vs_fp64']:.2e}"
        )
    if name == "speed":
        return ", ".join(
            f"{k} {v.get('iterations_per_s')} it/s {v.get('peak_mib')} MiB"
            for k, v in p.get("results", {}).items()
        )
    if name == "train":
        return ", ".join(f"{k} {v.get('iterations')} it" for k, v in p.get("runs", {}).items())
    if name == "sample":
        return ", ".join(f"{k} QN {v['paper']['QN']}" for k, v in p.get("sets", {}).items())
    if name == "pack":
        return f"{len(p['files']) + 1} files, largest {max(p['files'].values())} bytes"
    return str(p.get("note", ""))
