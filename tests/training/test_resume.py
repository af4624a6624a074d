"""Determinism, kill-and-resume, and slope annealing, on end2end_sbn (everything trained, SBN)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pipeline.config import Params
from pipeline.stages import train
from pipeline.training import runner
from pipeline.training.checkpoint import load_checkpoint
from pipeline.training.gan import LoopState
from tests.training.conftest import make_phrase_file, tiny_params


class Killed(Exception):
    """Stands in for SIGKILL in the middle of a run."""


def _params(params: Params) -> Params:
    """Batch 1 on 2 phrases: 2 iterations per epoch; 4 iterations = 2 epochs; snapshot every 2."""
    p = tiny_params(params, snapshot_every=2, monitor_every=3, n_critic_burst=1)
    return dataclasses.replace(
        p, train=dataclasses.replace(p.train, batch_size=1, n_iterations_end2end=4)
    )


def _run(p: Params, tensor: Path, root: Path, **hooks) -> dict:
    return train.run(p, "end2end_sbn", tensor, root / "out", root / "snap", **hooks)


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    for name in ca["models"]:
        for key, value in ca["models"][name].items():
            assert torch.equal(value, cb["models"][name][key]), f"{name}.{key} differs"
    sa, sb = ca["optimizers"]["generator"]["state"], cb["optimizers"]["generator"]["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    assert ca["global_step"] == cb["global_step"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, params: Params) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("straight")
    tensor = make_phrase_file(root / "phrases.h5", n=2)
    _run(_params(params), tensor, root)
    return tensor, root / "out"


def test_slope_is_rate_to_the_epoch(straight: tuple[Path, Path]) -> None:
    _, out = straight
    rows = (out / "log.csv").read_text().splitlines()[1:]
    slopes = [float(r.split(",")[4]) for r in rows]
    assert slopes == pytest.approx([1.0, 1.0, 1.1, 1.1])  # epoch k trains with 1.1 ** k
    ckpt = load_checkpoint(out / "checkpoint.pt")
    slope = [v for k, v in ckpt["models"]["refiner"].items() if k.endswith("slope")]
    # The run ends at the end of epoch 1: no anneal after the last iteration, so the evaluated
    # checkpoint holds the slope that epoch trained with (1.1), not one anneal more (1.21).
    assert slope and all(float(s) == pytest.approx(slopes[-1]) for s in slope)
    assert slopes[-1] == pytest.approx(1.1)


def test_same_seed_same_weights_and_kill_resume(tmp_path, params, straight) -> None:
    tensor, out = straight
    p = _params(params)

    def kill_after_three(state: LoopState) -> None:
        if state.iteration == 3:  # one iteration past the snapshot at 2: it is redone
            raise Killed

    with pytest.raises(Killed):
        _run(p, tensor, tmp_path, after_iteration=kill_after_three)
    assert len(list((tmp_path / "snap").glob("snapshot-*.pt"))) == 1
    assert not (tmp_path / "out" / "checkpoint.pt").exists()
    _run(p, tensor, tmp_path)
    _assert_same_checkpoint(out / "checkpoint.pt", tmp_path / "out" / "checkpoint.pt")
    for name in ("checkpoint.pt", "log.csv", "monitor.csv", "summary.json", "meta.json"):
        assert (out / name).read_bytes() == (tmp_path / "out" / name).read_bytes(), name
    assert '"resumed_from": 2' in (tmp_path / "out" / "timing.json").read_text()


def test_snapshot_of_another_config_is_ignored(tmp_path, params, straight) -> None:
    tensor, _ = straight
    p = _params(params)
    p = dataclasses.replace(p, optim=dataclasses.replace(p.optim, snapshot_every=1))

    def kill_after_one(state: LoopState) -> None:
        if state.iteration == 1:
            raise Killed

    with pytest.raises(Killed):
        _run(p, tensor, tmp_path, after_iteration=kill_after_one)
    other = dataclasses.replace(p, optim=dataclasses.replace(p.optim, lr=0.001))
    other = dataclasses.replace(
        other, train=dataclasses.replace(other.train, n_iterations_end2end=1)
    )
    summary = _run(other, tensor, tmp_path)
    assert summary["iterations"] == 1
    timing = (tmp_path / "out" / "timing.json").read_text()
    assert '"resumed_from": 0' in timing  # started afresh
    assert len(list((tmp_path / "snap").glob("snapshot-*.pt"))) == 1  # the other one stays


def test_stop_at_a_deadline_writes_outputs_and_resumes(tmp_path, params, straight) -> None:
    """StopTraining (the deadline of python -m benchmarks.gpu) ends a run cleanly: every output of
    the iterations done, a log that says how far it got, and a snapshot a rerun continues from
    to exactly the uninterrupted run."""
    tensor, out = straight
    p = _params(params)

    def stop_after_three(state: LoopState) -> None:
        if state.iteration == 3:
            raise runner.StopTraining

    summary = _run(p, tensor, tmp_path, after_iteration=stop_after_three)
    assert summary["iterations"] == 3
    assert len((tmp_path / "out" / "log.csv").read_text().splitlines()) == 1 + 3
    assert load_checkpoint(tmp_path / "out" / "checkpoint.pt")["iteration"] == 3
    timing = json.loads((tmp_path / "out" / "timing.json").read_text())
    assert timing["stopped_early"] is True and timing["iterations_run"] == 3
    assert len(list((tmp_path / "snap").glob("snapshot-*.pt"))) == 1  # kept for a later run
    _run(p, tensor, tmp_path)
    assert '"resumed_from": 3' in (tmp_path / "out" / "timing.json").read_text()
    for name in ("checkpoint.pt", "log.csv", "monitor.csv", "summary.json", "meta.json"):
        assert (out / name).read_bytes() == (tmp_path / "out" / name).read_bytes(), name
    assert "stopped_early" not in (tmp_path / "out" / "timing.json").read_text()
    assert not list((tmp_path / "snap").glob("snapshot-*.pt"))
