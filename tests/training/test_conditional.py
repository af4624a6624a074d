"""A tiny two-stage track-conditional run on the CPU: both stages and exact resume.

The runs are described in docs/accompany.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.errors import DataError
from pipeline.stages import pretrain, train
from pipeline.training.checkpoint import load_checkpoint, load_sampler
from pipeline.training.gan import LoopState
from tests.training.conftest import make_phrase_file, tiny_params, write_params

PIANO = 1  # conftest's tracks: Drums, Piano, Guitar


class Killed(Exception):
    """Stands in for SIGKILL in the middle of a run."""


def _params(params: Params) -> Params:
    """Batch 1 on 2 phrases; stage two: 4 iterations (2 epochs), a snapshot every 2."""
    p = tiny_params(params, snapshot_every=2, monitor_every=3, n_critic_burst=1)
    return dataclasses.replace(p, train=dataclasses.replace(p.train, batch_size=1, n_iterations=4))


@pytest.fixture(scope="module")
def stage_one(tmp_path_factory, params: Params) -> tuple[Path, Path]:
    """Conditional stage one through the CLI (``--conditional``, conditional.track: Piano)."""
    root = tmp_path_factory.mktemp("cond_one")
    tensor = make_phrase_file(root / "phrases.h5", n=2)
    pfile = write_params(root / "params.yaml", _params(params))
    args = ["--params", str(pfile), "--discriminator", "proposed", "--tensor", str(tensor)]
    out = ["--out-dir", str(root / "out"), "--snapshot-dir", str(root / "snap")]
    pretrain.main([*args, *out, "--conditional"])
    return tensor, root / "out" / "checkpoint.pt"


def _two(p: Params, tensor: Path, one: Path, root: Path, **hooks) -> dict:
    return train.run(
        p,
        "twostage_dbn",
        tensor,
        root / "out",
        root / "snap",
        one,
        condition_track="Piano",
        **hooks,
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory, params: Params, stage_one) -> Path:
    tensor, one = stage_one
    root = tmp_path_factory.mktemp("cond_two")
    _two(_params(params), tensor, one, root)
    return root / "out"


def test_stage_one_is_conditional(stage_one) -> None:
    _, one = stage_one
    run = load_checkpoint(one)["run"]
    assert (run["condition_track"], run["condition_index"]) == ("Piano", PIANO)
    assert run["kind"] == "pretrain"


def test_stage_two_passes_the_given_track_and_continues_stage_one(stage_one, straight) -> None:
    tensor, one = stage_one
    ckpt = load_checkpoint(straight / "checkpoint.pt")
    assert ckpt["run"]["condition_track"] == "Piano"
    g1 = load_checkpoint(one)["models"]["generator"]
    assert all(torch.equal(v, ckpt["models"]["generator"][k]) for k, v in g1.items())  # G frozen
    sampler = load_sampler(straight / "checkpoint.pt")
    c = (torch.rand(3, 4, 96, 84, generator=torch.Generator().manual_seed(5)) < 0.05).float()
    out = sampler(torch.randn(3, sampler.z_dim), c)
    assert torch.equal(out[..., PIANO], c)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="track-conditional"):
        sampler(torch.randn(3, sampler.z_dim))


def test_kill_and_resume_is_exact(tmp_path, params, stage_one, straight) -> None:
    tensor, one = stage_one

    def kill_after_three(state: LoopState) -> None:
        if state.iteration == 3:  # one past the snapshot at 2
            raise Killed

    with pytest.raises(Killed):
        _two(_params(params), tensor, one, tmp_path, after_iteration=kill_after_three)
    assert len(list((tmp_path / "snap").glob("snapshot-*.pt"))) == 1
    _two(_params(params), tensor, one, tmp_path)
    for name in ("checkpoint.pt", "log.csv", "monitor.csv", "summary.json", "meta.json"):
        assert (straight / name).read_bytes() == (tmp_path / "out" / name).read_bytes(), name
    assert '"resumed_from": 2' in (tmp_path / "out" / "timing.json").read_text()


def test_unconditional_stage_one_is_refused(tmp_path, params, stage_one) -> None:
    tensor, _ = stage_one
    p = _params(params)
    plain = tmp_path / "plain"
    pretrain.run(p, "proposed", tensor, plain, tmp_path / "s1")
    with pytest.raises(DataError, match="conditional on None"):
        _two(p, tensor, plain / "checkpoint.pt", tmp_path)
    with pytest.raises(DataError, match="not one of the tensor's"):
        pretrain.run(p, "proposed", tensor, tmp_path / "x", tmp_path / "s2", condition_track="Bass")
    with pytest.raises(DataError, match="no track-conditional variant"):
        train.run(
            p, "end2end_dbn", tensor, tmp_path / "y", tmp_path / "s3", condition_track="Piano"
        )


def test_sample_and_evaluate_conditional(tmp_path, params, stage_one, straight) -> None:
    from pipeline.data.phrase_file import read_attrs, read_phrases
    from pipeline.stages import evaluate_conditional, sample

    tensor, _ = stage_one  # 2 phrases: 3 samples take the given tracks of phrases 0, 1, 0
    cfg = dataclasses.replace(
        params.sample, n_phrases_binary=3, batch_size=2, n_midi=1, n_grid=1, n_audio=0
    )
    out = tmp_path / "sample"
    assert (
        sample.run_conditional(cfg, straight / "checkpoint.pt", tensor, out, torch.device("cpu"))
        == 3
    )
    made, real = read_phrases(out / "phrases.h5"), read_phrases(tensor)
    assert np.array_equal(made[..., PIANO], real[[0, 1, 0], ..., PIANO])
    assert read_attrs(out / "phrases.h5")["condition_track"] == "Piano"
    result = evaluate_conditional.run(params, out / "phrases.h5", tensor, tmp_path / "eval")
    assert set(result) == {"mode", "given_track", "model", "real_pairs", "shuffled_pairs"}
    assert list(result["model"]["tracks"]) == ["Guitar"]
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "real pairs (ceiling)" in table and "shuffled pairs (floor)" in table
    with pytest.raises(DataError, match="not a track-conditional stage-two model"):
        sample.run_conditional(cfg, stage_one[1], tensor, out, torch.device("cpu"))
