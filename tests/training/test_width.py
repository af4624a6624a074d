"""``model.width``: the paper's networks at a fraction of their channels, trained, saved, exported
and sampled with the right shapes; and true batch norm's statistics after training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from pipeline import export_weights as export_cli
from pipeline.config import Params
from pipeline.models import (
    build_discriminator,
    build_end2end_generator,
    build_generator,
    build_refiner,
    count_parameters,
)
from pipeline.models.conditional import build_conditional_generator
from pipeline.stages import train
from pipeline.training import batch_norm
from pipeline.training.checkpoint import load_checkpoint, load_sampler
from pipeline.training.experiments import build_networks
from tests.training.conftest import run_stage_one

QUARTER = 0.25


def test_width_one_keeps_the_paper_networks() -> None:
    """The seven faithful counts (docs/model.md, section 2.6) at the default and at width 1."""
    for width in ((), (1.0,)):
        assert count_parameters(build_generator("proposed", 128, "affine", 8, *width)) == 1_580_440
        small = build_generator("proposed_small", 128, "affine", 8, *width)
        assert count_parameters(small) == 1_348_760
        assert count_parameters(build_discriminator("proposed", 8, *width)) == 2_155_297
        assert count_parameters(build_discriminator("ablated", 8, *width)) == 1_811_329
        assert count_parameters(build_discriminator("baseline", 8, *width)) == 3_028_737
        assert count_parameters(build_refiner("dbn", "sigmoid_adjusted", "affine", 8, *width)) == (
            76_848
        )


def test_a_quarter_width_scales_every_hidden_layer() -> None:
    g = build_generator("proposed", width=QUARTER)
    d = build_discriminator("proposed", width=QUARTER)
    assert count_parameters(g) == 137_848 and count_parameters(d) == 137_929
    assert g.shared[0].out_features == 3 * 128  # dense 1536 -> 384
    assert g.private[0].merged[0].in_channels == 2 * 8  # two branches of 32 -> 8 channels
    assert d.merged[-1].in_features == 3 * 128  # merge conv 512 -> 128 channels, 3 bars
    r = build_refiner(width=QUARTER)
    assert r.private[0].units[0].branch[2][1].out_channels == 16  # hidden 64 -> 16
    e2e = build_end2end_generator(width=QUARTER)
    assert count_parameters(e2e) == 104_504 + 19_248
    cond = build_conditional_generator("proposed", 128, "affine", 8, 1, QUARTER)
    assert cond.encoder.net[2].out_channels == 16 and cond.fuse[0].in_channels == 32
    # shapes in and out are the paper's: z (B, 128) -> (B, 4, 96, 84, 8) -> (B,)
    x = g(torch.randn(2, 128))
    assert x.shape == (2, 4, 96, 84, 8) and d(x).shape == (2,)
    assert cond(torch.randn(2, 128), torch.zeros(2, 4, 96, 84)).shape == (2, 4, 96, 84, 8)
    with pytest.raises(ValueError, match="width must be > 0"):
        build_generator("proposed", width=0.0)


@pytest.fixture(scope="module")
def quarter(tiny: Params) -> Params:
    return dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, width=QUARTER))


@pytest.fixture(scope="module")
def quarter_stage_one(tmp_path_factory: pytest.TempPathFactory, quarter: Params, tensor) -> Path:
    return run_stage_one(tmp_path_factory.mktemp("quarter"), quarter, tensor)


def test_a_quarter_width_run_trains_and_its_checkpoint_rebuilds(quarter_stage_one: Path) -> None:
    ckpt = load_checkpoint(quarter_stage_one / "checkpoint.pt")
    assert ckpt["run"]["width"] == QUARTER
    nets = build_networks(ckpt["run"])  # the shapes the checkpoint's run description names
    for name, module in nets.modules().items():
        module.load_state_dict(ckpt["models"][name])  # strict: every shape must match
    assert count_parameters(nets.generator) < 160_000
    assert ckpt["iteration"] == 2 and ckpt["optimizers"]["generator"]["state"]


def test_stage_two_export_and_sampling_keep_the_width(
    quarter_stage_one: Path, quarter: Params, tensor: Path, tmp_path: Path
) -> None:
    out = tmp_path / "twostage"
    train.run(
        quarter,
        "twostage_dbn",
        tensor,
        out,
        tmp_path / "snap",
        quarter_stage_one / "checkpoint.pt",
    )
    assert load_checkpoint(out / "checkpoint.pt")["run"]["width"] == QUARTER
    export = tmp_path / "twostage.weights.pt"
    export_cli.main([str(out / "checkpoint.pt"), str(export)])
    z = torch.randn(2, 128, generator=torch.Generator().manual_seed(0))
    full, small = load_sampler(out / "checkpoint.pt"), load_sampler(export)
    assert torch.equal(full(z), small(z)) and full(z).shape == (2, 4, 96, 84, 3)
    hidden = small.refiner.private[0].units[0].branch[2][1].out_channels
    assert hidden == 16


def test_a_checkpoint_without_width_is_the_paper_width(quarter_stage_one: Path) -> None:
    """Runs saved before ``model.width`` existed carry no width: they are width 1."""
    run = dict(load_checkpoint(quarter_stage_one / "checkpoint.pt")["run"])
    del run["width"]
    paper = build_generator("proposed", n_tracks=run["n_tracks"])  # the tiny tensor's 3 tracks
    assert count_parameters(build_networks(run).generator) == count_parameters(paper)


def test_true_batch_norm_statistics_are_recalibrated_after_training(
    tiny: Params, tensor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``model.batch_norm: batch`` the checkpoint's running statistics are those of its
    final G (the exact mean over many batches), so eval mode samples what train mode trained."""
    params = dataclasses.replace(
        tiny, model=dataclasses.replace(tiny.model, width=QUARTER, batch_norm="batch")
    )
    monkeypatch.setattr(batch_norm, "RECALIBRATION_PHRASES", 255)  # 16,384 by default: slow here
    out = run_stage_one(tmp_path, params, tensor)
    g = load_sampler(out / "checkpoint.pt").generator
    assert int(g.shared[1].num_batches_tracked) == 128  # 255 phrases at batch 2: 128 batches
    z = torch.randn(64, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        trained = g.train()(z)  # what training saw: the batch's own statistics
        recalibrated = g.eval()(z)
        for layer in g.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.reset_running_stats()  # the statistics of a fresh layer instead
        stale = g.eval()(z)
    # (not exactly equal: batches of 2 in this tiny run normalise by noisy statistics)
    assert (recalibrated - trained).abs().mean() < (stale - trained).abs().mean() / 3
