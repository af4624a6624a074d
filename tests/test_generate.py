"""The user command ``python -m pipeline.generate``: seeded phrases from a checkpoint, as files."""

from __future__ import annotations

import numpy as np
import pytest
import symusic
import torch

from pipeline import generate
from pipeline.data.phrase_file import read_phrases
from pipeline.stages import sample
from tests.training.conftest import TRACKS, make_phrase_file, run_stage_one, tiny_params

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, params):
    """A two-iteration stage-one run on a tiny phrase file of three tracks (no known track set)."""
    root = tmp_path_factory.mktemp("generate")
    tensor = make_phrase_file(root / "phrases.h5", n=4)
    return run_stage_one(root, tiny_params(params), tensor) / "checkpoint.pt", tensor


def run(ckpt, out, *extra):
    generate.main(["--checkpoint", str(ckpt), "--out", str(out), "--device", "cpu", *extra])


def cfg(seed: int, n: int) -> generate.Sample:
    return generate.Sample(seed, n, n, 2, 0, 1, 0, 100.0)


def test_writes_one_midi_file_per_phrase(trained, tmp_path):
    ckpt, tensor = trained
    run(ckpt, tmp_path, "--count", "3", "--seed", "5", "--tensor", str(tensor))
    midis = sorted((tmp_path / "midi").glob("*.mid"))
    assert [m.name for m in midis] == [f"sample_{i:03d}.mid" for i in range(3)]
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert not any((tmp_path / "audio").iterdir())  # no --audio
    names = {t.name for t in symusic.Score(str(midis[0])).tracks}
    assert names <= set(TRACKS.names)


def test_phrases_are_the_sample_stages_for_the_same_seed(trained, tmp_path):
    """The documented contract: the same checkpoint, seed and batch size give the phrases the
    sample stage writes to its phrases.h5; another seed gives others."""
    ckpt, tensor = trained
    got = generate.generate(ckpt, tmp_path / "a", cfg(7, 4), 4, "bs", 24, CPU, tensor)
    sample.run(cfg(7, 4), ckpt, tensor, "bs", tmp_path / "stage", CPU, previews=False)
    assert np.array_equal(got, read_phrases(tmp_path / "stage" / "phrases.h5", 0, 4))
    again = generate.generate(ckpt, tmp_path / "b", cfg(7, 4), 4, "bs", 24, CPU, tensor)
    assert np.array_equal(got, again)
    other = generate.generate(ckpt, tmp_path / "c", cfg(8, 4), 4, "bs", 24, CPU, tensor)
    assert not np.array_equal(got, other)


def test_a_binary_model_option_on_a_stage_one_model_is_refused(trained, tmp_path):
    ckpt, tensor = trained
    with pytest.raises(generate.CheckpointError, match="stage-one model"):
        generate.generate(ckpt, tmp_path, cfg(0, 2), 2, "model", 24, CPU, tensor)


def test_unknown_tracks_without_a_tensor_are_one_line(trained, tmp_path, capsys):
    ckpt, _ = trained
    with pytest.raises(SystemExit) as exit_info:
        run(ckpt, tmp_path, "--count", "1")
    assert exit_info.value.code == 2
    assert "match no known track set" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [(["--count", "0"], "must be at least 1"), (["--device", "nosuchdevice"], "--device")],
)
def test_user_mistakes_are_one_line(trained, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        run(trained[0], tmp_path, *args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path / "nope.pt", tmp_path / "out")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nope.pt" in err and "Traceback" not in err
