"""``python -m benchmarks.gpu --device cpu --tiny``: every phase end to end on the CPU, as on a lent
GPU machine (its missing packages unimportable, the Zstandard filter from a carry folder), then a
``--continue`` call that trains stage two from the first call's export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from benchmarks.gpu import carry as gpu_carry
from tests.benchmarks.conftest import MISSING, run_blocked

PHASES = ["env", "equality", "speed", "train", "sample", "plot", "pack"]


def _check(site: Path, out: Path, work: Path, carry: Path, *extra: str) -> dict:
    args = ["-m", "benchmarks.gpu", "--device", "cpu", "--tiny", "--out", str(out)]
    args += ["--work", str(work), "--carry", str(carry), *extra]
    done = run_blocked(site, args, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "phase" in done.stdout and "key figures" in done.stdout  # the closing table
    summary = json.loads((out / "summary.json").read_text())
    files = list(out.iterdir())
    assert len(files) <= gpu_carry.MAX_FILES
    assert all(f.stat().st_size <= gpu_carry.MAX_BYTES for f in files)
    assert summary["phases"]["pack"]["limits_hold"] is True
    return summary


@pytest.mark.slow
def test_tiny_check_runs_every_phase_then_continues_with_stage_two(tmp_path, blocked_site):
    carry = tmp_path / "carry"  # the plugin alone: the tiny tensor is made of random phrases
    gpu_carry.copy_plugin(carry / gpu_carry.PLUGIN)
    out1 = tmp_path / "out1"
    summary = _check(blocked_site, out1, tmp_path / "work1", carry)
    phases = summary["phases"]
    assert {k: p["status"] for k, p in phases.items()} == dict.fromkeys(PHASES, "ok")
    assert phases["env"]["modules"]["hdf5plugin"] is False  # read through HDF5_PLUGIN_PATH
    modules = phases["env"]["modules"]
    assert not any(modules[m] for m in MISSING if m in modules)
    assert phases["equality"]["max_abs_diff_device_vs_cpu"] == 0.0  # both on the CPU here
    assert phases["equality"]["max_abs_diff_cpu_vs_fp64"] > 0.0  # fp32 is not fp64
    # the first updates: one critic step in every iteration, iteration 0 (a burst one) included
    log = tmp_path / "work1" / "equality" / "device" / "pretrain" / "proposed" / "log.csv"
    assert [row["n_critic"] for row in csv.DictReader(log.open())] == ["1", "1"]
    # speed: training iterations only, no monitoring inside the timed window
    speed = yaml.safe_load((tmp_path / "work1" / "params" / "speed_fp32.yaml").read_text())
    assert speed["optim"]["monitor_every"] > speed["pretrain"]["n_iterations"]
    timed = phases["speed"]["results"]["fp32/pretrain/proposed"]
    assert (timed["iterations"], timed["warmup"], timed["timed_iterations"]) == (3, 1, 1)
    runs = phases["train"]["runs"]
    assert set(runs) == {"pretrain_proposed", "pretrain_ablated", "pretrain_baseline"}
    assert all(r["stopped_early"] and r["iterations"] >= 1 for r in runs.values())
    assert len(phases["sample"]["sets"]) == 6  # HT and BS of each
    assert all(set(s) == {"paper", "musical"} for s in phases["sample"]["sets"].values())
    assert len(phases["plot"]["plots"]) == 3
    names = {f.name for f in out1.iterdir()}
    assert {"summary.json", "results.tar.gz", "pretrain_proposed.weights.pt"} <= names

    out2 = tmp_path / "out2"
    summary = _check(blocked_site, out2, tmp_path / "work2", carry, "--continue", str(out1))
    phases = summary["phases"]
    assert set(phases) == {"env", "train", "sample", "plot", "pack"}  # nothing failed before
    assert all(p["status"] == "ok" for p in phases.values())
    runs = phases["train"]["runs"]
    assert len(runs) == 6 and all(k.startswith("train_") for k in runs)
    assert len(phases["sample"]["sets"]) == 6  # one set of each binary model
    assert len([f for f in out2.iterdir() if f.name.endswith(".weights.pt")]) == 6


def test_plot_draws_the_curves_of_returned_results(tmp_path: Path) -> None:
    """``--plot RESULTS``: the monitoring curves of the runs in a returned results.tar.gz, beside
    the original runs' (the step that needs matplotlib, done back on the CPU)."""
    from benchmarks.gpu.__main__ import main

    run = tmp_path / "work" / "runs" / "pretrain" / "ablated"
    run.mkdir(parents=True)
    (run / "monitor.csv").write_text(
        "step,qualified_note_rate,polyphonicity,tonal_distance,empty_bar_rate\n"
        "3,0.5,0.2,1.1,0.9\n13,0.6,0.3,1.0,0.7\n"
    )
    gpu_carry.pack_results(tmp_path / "work", tmp_path / "results", [])
    assert main(["--plot", str(tmp_path / "results"), "--out", str(tmp_path / "p")]) == 0
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["pretrain_ablated.png"]
    assert (tmp_path / "p" / "pretrain_ablated.png").read_bytes()[:4] == b"\x89PNG"


def test_continue_reruns_only_the_stage_one_runs_that_failed(tmp_path: Path) -> None:
    """The carried round-1 folder holds the proposed export alone; the summary says which
    stage-one runs ended well, and only the others are trained again."""
    from argparse import Namespace

    from benchmarks.gpu.phases import train_plan

    runs = {"pretrain_proposed": "ok", "pretrain_ablated": "ok", "pretrain_baseline": "failed"}
    summary = {"phases": {"train": {"runs": {k: {"status": v} for k, v in runs.items()}}}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "pretrain_proposed.weights.pt").write_bytes(b"w")
    check = Namespace(args=Namespace(from_dir=tmp_path))
    plan, notes = train_plan(check)  # type: ignore[arg-type]
    export = str(tmp_path / "pretrain_proposed.weights.pt")
    assert plan[0] == ("pretrain", "baseline", None) and not notes
    assert plan[1:] == [
        ("train", e, None if e.startswith("end2end") else export)
        for e in (
            "twostage_dbn",
            "twostage_sbn",
            "joint_dbn",
            "joint_sbn",
            "end2end_dbn",
            "end2end_sbn",
        )
    ]
    (tmp_path / "pretrain_proposed.weights.pt").unlink()
    plan, notes = train_plan(check)  # type: ignore[arg-type]
    assert [name for _, name, _ in plan] == ["baseline", "end2end_dbn", "end2end_sbn"]
    assert len(notes) == 4  # the two-stage and joint runs need the export
