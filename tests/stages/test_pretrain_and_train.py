"""The stage CLIs end to end (2 iterations each, real networks), and what each experiment trains."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pipeline.config import Params
from pipeline.stages import train
from pipeline.training.checkpoint import load_checkpoint, load_sampler
from pipeline.training.runner import _prepare
from tests.training.conftest import write_params

OUTPUTS = ("checkpoint.pt", "meta.json", "log.csv", "monitor.csv", "summary.json", "timing.json")


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _train_cli(root: Path, tiny: Params, tensor: Path, experiment: str, pretrained=None) -> Path:
    out = root / experiment
    args = [
        "--params",
        str(write_params(root / "params.yaml", tiny)),
        "--experiment",
        experiment,
        "--tensor",
        str(tensor),
        "--out-dir",
        str(out),
        "--snapshot-dir",
        str(root / "snap"),
    ]
    train.main(args + (["--pretrained", str(pretrained)] if pretrained else []))
    return out


def _check_outputs(out: Path, kind: str, snapshot_dir: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["run"]["kind"] == kind and ckpt["iteration"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 2 and summary["global_step"] == ckpt["global_step"]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [r["iteration"] for r in rows] == ["0", "1"]
    # The fixed monitoring batch's paper-mode metrics, every iteration here (monitor_every 1).
    for key in ("qualified_note_rate", "polyphonicity", "tonal_distance", "empty_bar_rate"):
        assert key in rows[0] and key in summary["monitor"]
    assert float(rows[-1]["empty_bar_rate"]) == summary["monitor"]["empty_bar_rate"]
    assert json.loads((out / "meta.json").read_text())["config_hash"] == ckpt["config_hash"]
    assert not list(snapshot_dir.glob("snapshot-*.pt"))  # removed after the final checkpoint


def test_pretrain_cli_writes_the_declared_files(stage_one: Path) -> None:
    _check_outputs(stage_one, "pretrain", stage_one.parent / "snap")
    rows = list(csv.DictReader((stage_one / "log.csv").open()))
    # Stage one: burst at iteration 0 (2 critic steps + G), then 1 + 1.
    assert [int(r["step"]) for r in rows] == [3, 5]


def test_twostage_trains_only_refiner_and_critic(tmp_path, tiny, tensor, stage_one) -> None:
    out = _train_cli(tmp_path, tiny, tensor, "twostage_sbn", stage_one / "checkpoint.pt")
    _check_outputs(out, "binary", tmp_path / "snap")
    before, after = (
        load_checkpoint(stage_one / "checkpoint.pt"),
        load_checkpoint(out / "checkpoint.pt"),
    )
    assert _same(before["models"]["generator"], after["models"]["generator"])  # G frozen
    assert not _same(before["models"]["discriminator"], after["models"]["discriminator"])
    *_, nets, _, _ = _prepare(tiny, "train", "twostage_sbn", tensor, stage_one / "checkpoint.pt")
    assert not _same(nets.refiner.state_dict(), after["models"]["refiner"])
    # Stage two has no initial burst: 2 critic steps only because iteration 0 % 500 == 0.
    assert after["global_step"] == 3 + 2


def test_stage_two_continues_stage_one(tiny, tensor, stage_one) -> None:
    """D and G start from the proposed-D stage-one weights; R and the optimizers are fresh."""
    before = load_checkpoint(stage_one / "checkpoint.pt")
    _, _, run, nets, opts, _ = _prepare(
        tiny, "train", "joint_dbn", tensor, stage_one / "checkpoint.pt"
    )
    assert _same(nets.discriminator.state_dict(), before["models"]["discriminator"])
    assert _same(nets.generator.state_dict(), before["models"]["generator"])
    assert all(not o.state for o in opts.values())
    assert run["discriminator"] == "proposed" and not run["initial_burst"]


def test_joint_trains_the_generator_too(tmp_path, tiny, tensor, stage_one) -> None:
    one = tiny.__class__(
        **{
            **tiny.__dict__,
            "train": dataclasses.replace(
                tiny.train, batch_size=2, n_iterations=1, n_iterations_end2end=1
            ),
        }
    )
    train.run(
        one, "joint_dbn", tensor, tmp_path / "out", tmp_path / "snap", stage_one / "checkpoint.pt"
    )
    before, after = (
        load_checkpoint(stage_one / "checkpoint.pt"),
        load_checkpoint(tmp_path / "out" / "checkpoint.pt"),
    )
    assert not _same(before["models"]["generator"], after["models"]["generator"])


def test_end2end_cli_and_samplers(tmp_path, tiny, tensor, stage_one) -> None:
    out = _train_cli(tmp_path, tiny, tensor, "end2end_dbn")
    _check_outputs(out, "binary", tmp_path / "snap")
    z = torch.randn(3, 128)
    binary = load_sampler(out / "checkpoint.pt", "cpu")
    assert (binary.kind, binary.z_dim, binary.track_names) == (
        "binary",
        128,
        ["Drums", "Piano", "Guitar"],
    )
    x = binary(z)
    assert x.shape == (3, 4, 96, 84, 3) and set(torch.unique(x).tolist()) <= {0.0, 1.0}
    raw = load_sampler(stage_one / "checkpoint.pt")
    y = raw(z)
    assert raw.kind == "pretrain" and y.shape == (3, 4, 96, 84, 3)
    assert float(y.min()) > 0.0 and float(y.max()) < 1.0 and not y.requires_grad


def test_train_cli_checks_the_pretrained_argument(tmp_path, tiny, tensor, stage_one) -> None:
    with pytest.raises(SystemExit):
        _train_cli(tmp_path, tiny, tensor, "twostage_dbn")
    with pytest.raises(SystemExit):
        _train_cli(tmp_path, tiny, tensor, "end2end_sbn", stage_one / "checkpoint.pt")
