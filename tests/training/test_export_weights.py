"""Weights-only exports (pipeline.export_weights): smaller, and read like the full checkpoint by
``sample`` and by stage two's ``--pretrained``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline import export_weights as export_cli
from pipeline import sampling
from pipeline.config import Params
from pipeline.stages import train
from pipeline.training.checkpoint import (
    CheckpointError,
    export_weights,
    load_checkpoint,
    load_sampler,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def export(stage_one: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "proposed.weights.pt"
    export_cli.main([str(stage_one / "checkpoint.pt"), str(path)])
    return path


def test_export_holds_the_weights_and_no_optimizer_state(stage_one: Path, export: Path) -> None:
    full, small = load_checkpoint(stage_one / "checkpoint.pt"), load_checkpoint(export)
    assert small["optimizers"] == {} and small["weights_only"] is True
    assert full["optimizers"]["discriminator"]["state"]  # what the export leaves out
    assert set(small["models"]) == {"generator", "discriminator"}
    for name, state in full["models"].items():
        for key, value in state.items():
            assert torch.equal(value, small["models"][name][key]), f"{name}.{key}"
    assert small["run"] == full["run"] and small["iteration"] == full["iteration"]
    # Adam keeps two moments per weight: the export is about a third of the checkpoint.
    ratio = export.stat().st_size / (stage_one / "checkpoint.pt").stat().st_size
    assert ratio < 0.4


def _draw(checkpoint: Path, how: str) -> np.ndarray:
    sampler = load_sampler(checkpoint, CPU)
    return np.concatenate(list(sampling.draw_batches(sampler, 6, 4, how, 7, CPU)))


def test_sampling_from_the_export_equals_sampling_from_the_checkpoint(
    stage_one: Path, export: Path, tmp_path: Path
) -> None:
    z = torch.randn(3, 128, generator=torch.Generator().manual_seed(1))
    raw = load_sampler(stage_one / "checkpoint.pt", CPU)(z)
    assert torch.equal(raw, load_sampler(export, CPU)(z))  # G's real-valued output, bit for bit
    for how in ("ht", "bs"):
        full, small = _draw(stage_one / "checkpoint.pt", how), _draw(export, how)
        assert np.array_equal(full, small), how
    assert full.any()  # BS of a 2-iteration G: some cells on
    no_d = tmp_path / "no_d.pt"
    export_weights(stage_one / "checkpoint.pt", no_d, discriminator=False)
    assert "discriminator" not in load_checkpoint(no_d)["models"]
    assert np.array_equal(_draw(no_d, "bs"), _draw(stage_one / "checkpoint.pt", "bs"))


def test_stage_two_from_the_export_equals_stage_two_from_the_checkpoint(
    tmp_path: Path, tiny: Params, tensor: Path, stage_one: Path, export: Path
) -> None:
    p = dataclasses.replace(tiny, train=dataclasses.replace(tiny.train, n_iterations=2))
    outs = {}
    for name, source in (("full", stage_one / "checkpoint.pt"), ("export", export)):
        root = tmp_path / name
        train.run(p, "twostage_sbn", tensor, root / "out", root / "snap", source)
        outs[name] = root / "out"
    a, b = (load_checkpoint(o / "checkpoint.pt") for o in outs.values())
    for net in ("generator", "refiner", "discriminator"):
        for key, value in a["models"][net].items():
            assert torch.equal(value, b["models"][net][key]), f"{net}.{key}"
    for name in ("log.csv", "monitor.csv", "summary.json"):
        assert (outs["full"] / name).read_bytes() == (outs["export"] / name).read_bytes(), name


def test_stage_two_needs_the_discriminator(tmp_path: Path, tiny, tensor, stage_one) -> None:
    no_d = tmp_path / "no_d.pt"
    export_weights(stage_one / "checkpoint.pt", no_d, discriminator=False)
    with pytest.raises(CheckpointError, match="not a stage-one"):
        train.run(tiny, "twostage_dbn", tensor, tmp_path / "out", tmp_path / "snap", no_d)


def test_export_command_rejects_a_damaged_checkpoint(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main([str(bad), str(tmp_path / "out.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.pt").exists()
