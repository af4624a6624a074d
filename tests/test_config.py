"""params.yaml validation: every error names the file and the key (pipeline/config.py)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from pipeline.config import ConfigError, load_params, params_from_dict
from tests.conftest import REPO

DEFAULT = yaml.safe_load((REPO / "params.yaml").read_text())


def with_change(section: str, key: str, value) -> dict:
    data = copy.deepcopy(DEFAULT)
    data[section][key] = value
    return data


def test_default_params_load(params):
    assert params.build_tensor.track_set == "bmusegan8"
    assert params.metrics.paper.qualified_min_steps == 2
    assert params.metrics.musical.chroma == "pitch_class"


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("build_tensor", "track_set", "foo", "build_tensor.track_set: must be one of"),
        ("build_tensor", "phrases_per_song", -1, "build_tensor.phrases_per_song: must be >= 1"),
        (
            "build_tensor",
            "phrases_per_song",
            "6",
            "build_tensor.phrases_per_song: must be an integer",
        ),
        (
            "build_tensor",
            "allow_overlap",
            "no",
            "build_tensor.allow_overlap: must be true or false",
        ),
        ("optim", "lr", -0.1, "optim.lr: must be > 0"),
        ("filter", "colour", "red", "filter.colour: unknown key"),
        ("metrics", "modes", ["paper", "exact"], "metrics.modes: unknown mode 'exact'"),
        ("sample", "n_grid", 0, "sample.n_grid: must be >= 1"),
        ("fetch", "mirrors", ["ftp://x/"], "fetch.mirrors[0]: must be an http(s) URL"),
        ("fetch", "timeout", 0, "fetch.timeout: must be > 0"),
        ("fetch", "local_dir", 3, "fetch.local_dir: must be a string"),
    ],
)
def test_bad_value_names_file_and_key(section, key, value, message):
    with pytest.raises(ConfigError) as error:
        params_from_dict(with_change(section, key, value), "my_params.yaml")
    assert str(error.value).startswith("my_params.yaml: ")
    assert message in str(error.value)


def test_missing_key_and_section():
    data = copy.deepcopy(DEFAULT)
    del data["sample"]["seed"]
    with pytest.raises(ConfigError, match="sample.seed: missing key"):
        params_from_dict(data)
    del data["sample"]
    with pytest.raises(ConfigError, match=r"^params.yaml: sample: missing key"):
        params_from_dict(data)


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match="build_tensor.seed: must be an integer"):
        params_from_dict(with_change("build_tensor", "seed", True))


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the params file"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("filter: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_params(bad)


def test_stage_exits_with_the_message(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(with_change("build_tensor", "track_set", "foo")))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.stages.tables",
            "--params",
            str(bad),
            "--metrics-dir",
            "x",
            "--runs-dir",
            "x",
            "--reference",
            "x",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "build_tensor.track_set: must be one of" in proc.stderr
    assert "Traceback" not in proc.stderr


# The keys where the demo default departs from the paper, and the paper's values (spec 3.2, 3.3,
# 4.1, 7.13). Nothing else may differ between params.yaml and configs/paper.yaml.
PAPER_VALUES = {
    ("optim", "n_critic_burst"): 100,
    ("optim", "burst_first_iterations"): 25,
    ("optim", "monitor_every"): 10,
    ("optim", "snapshot_every"): 100,
    ("pretrain", "batch_size"): 32,
    ("pretrain", "n_iterations"): 6160,
    ("train", "batch_size"): 16,
    ("train", "n_iterations"): 4936,
    ("train", "n_iterations_end2end"): 5553,
    ("sample", "n_phrases_pretrain"): 1600,
    ("sample", "n_phrases_binary"): 800,
}


def test_paper_setting_differs_from_the_demo_only_in_lengths():
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    params_from_dict(paper, "configs/paper.yaml")
    differ = {
        (section, key)
        for section, values in DEFAULT.items()
        for key, value in values.items()
        if paper[section][key] != value
    }
    assert differ == set(PAPER_VALUES)
    for (section, key), value in PAPER_VALUES.items():
        assert paper[section][key] == value, f"{section}.{key}"
    # the faithful schedule itself is shared: 5 critic steps, a burst every 500th iteration
    assert (paper["optim"]["n_critic"], paper["optim"]["burst_every"]) == (5, 500)


# Phrases of the default tensor (lpd_alternative, docs/data.md): the unit of the paper lengths.
DEFAULT_TENSOR_PHRASES = 9876


def test_paper_lengths_are_whole_epochs_with_the_evaluated_slopes_of_spec_7_14():
    """The original evaluated its last end-of-epoch checkpoint, saved before the anneal, so an
    evaluated model holds slope 1.1 ** (epochs - 1): 1.1^6-1.1^7 after stage two, 1.1^8 after
    end-to-end (spec 7.14); stage one ran 20 epochs (spec 3.3)."""
    paper = load_params(REPO / "configs" / "paper.yaml")

    def epochs(n_iterations: int, batch: int) -> float:
        return n_iterations / (DEFAULT_TENSOR_PHRASES // batch)

    assert epochs(paper.pretrain.n_iterations, paper.pretrain.batch_size) == 20
    stage_two = epochs(paper.train.n_iterations, paper.train.batch_size)
    end_to_end = epochs(paper.train.n_iterations_end2end, paper.train.batch_size)
    assert stage_two.is_integer() and end_to_end.is_integer()
    assert int(stage_two) - 1 in (6, 7)
    assert int(end_to_end) - 1 == 8
