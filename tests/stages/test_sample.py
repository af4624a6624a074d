"""Stage sample: seeded phrases, HT and BS from the same raw outputs, grid and MIDI files."""

from __future__ import annotations

import hashlib

import numpy as np
import pypianoroll
import pytest
import torch

from pipeline import sampling
from pipeline.data.phrase_file import read_attrs, read_phrases
from pipeline.stages import sample
from pipeline.training.checkpoint import load_sampler
from tests.training.conftest import TRACKS, make_phrase_file, run_stage_one, tiny_params

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, params):
    """A two-iteration stage-one run on a tiny 3-track phrase file."""
    root = tmp_path_factory.mktemp("sample")
    tensor = make_phrase_file(root / "phrases.h5", n=4)
    tiny = tiny_params(params)
    return run_stage_one(root, tiny, tensor) / "checkpoint.pt", tensor, tiny.sample


def test_ht_and_bs_binarize_the_same_raw_outputs(checkpoint):
    ckpt, _, cfg = checkpoint
    sampler = load_sampler(ckpt, CPU)
    raws: dict[str, list[torch.Tensor]] = {"ht": [], "bs": []}
    for how in raws:

        def recording(z, how=how):
            raw = sampler(z)
            raws[how].append(raw)
            return raw

        recording.z_dim = sampler.z_dim
        batches = list(sampling.draw_batches(recording, 6, 4, how, cfg.seed, CPU))
        assert [len(b) for b in batches] == [4, 2]
    for a, b in zip(raws["ht"], raws["bs"], strict=True):
        assert torch.equal(a, b)
    raw = torch.cat(raws["ht"])
    ht = np.concatenate(list(sampling.draw_batches(sampler, 6, 4, "ht", cfg.seed, CPU)))
    assert np.array_equal(ht, (raw > 0.5).numpy())


def test_bernoulli_sampling_follows_the_probabilities():
    raw = torch.full((2000, 4), 0.3)
    raw[:, 1], raw[:, 2], raw[:, 3] = 0.0, 1.0, 0.5
    bs = sampling.binarize(raw, "bs", torch.Generator().manual_seed(0))
    rate = bs.float().mean(0)
    assert rate[1] == 0 and rate[2] == 1
    # within 5 binomial standard deviations of p
    assert abs(rate[0] - 0.3) < 5 * (0.3 * 0.7 / 2000) ** 0.5
    assert torch.equal(sampling.binarize(raw, "ht", torch.Generator()), raw > 0.5)


def test_stage_writes_a_deterministic_sample_set(checkpoint, tmp_path):
    ckpt, tensor, cfg = checkpoint
    digests = []
    for out in (tmp_path / "a", tmp_path / "b"):
        result = sample.run(cfg, ckpt, tensor, "bs", out, CPU)
        digests.append(hashlib.sha256((out / "phrases.h5").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    phrases = read_phrases(tmp_path / "a" / "phrases.h5")
    assert phrases.shape == (cfg.n_phrases_pretrain, 4, 96, 84, 3)
    assert result.n_phrases == cfg.n_phrases_pretrain
    assert read_attrs(tmp_path / "a" / "phrases.h5")["track_names"] == TRACKS.names
    assert (tmp_path / "a" / "grid.png").stat().st_size > 1000
    midi = sorted((tmp_path / "a" / "midi").glob("*.mid"))
    assert len(midi) == cfg.n_midi
    song = pypianoroll.read(midi[0])
    assert [(t.program, t.is_drum) for t in song.tracks] == [(0, True), (0, False), (24, False)]


def test_a_stage_one_model_is_not_sampled_as_binary(checkpoint, tmp_path):
    ckpt, tensor, cfg = checkpoint
    with pytest.raises(ValueError, match="checkpoint.pt: a pretrain model cannot be sampled"):
        sample.run(cfg, ckpt, tensor, "model", tmp_path, CPU)


@pytest.mark.parametrize("flags", [[], ["--binarize", "model", "--conditional"]])
def test_binarize_or_conditional_exactly_one(flags, tmp_path, capsys):
    """``--binarize`` for a model's own sample set, ``--conditional`` alone for a conditional one
    (stage sample_conditional): neither or both is a usage error, and nothing is written."""
    args = ["--params", "params.yaml", "--checkpoint", "c.pt", "--tensor", "t.h5"]
    with pytest.raises(SystemExit) as exit_info:
        sample.main([*args, "--out-dir", str(tmp_path / "out"), *flags])
    assert exit_info.value.code == 2
    assert "give --binarize, or --conditional alone" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_stage_one_model_is_not_sampled_as_conditional(checkpoint, tmp_path):
    ckpt, tensor, cfg = checkpoint
    with pytest.raises(sample.CheckpointError, match="not a track-conditional stage-two model"):
        sample.run_conditional(cfg, ckpt, tensor, tmp_path / "out", CPU)
    assert not (tmp_path / "out").exists()
