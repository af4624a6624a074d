"""params.yaml validation: every error names the file and the key (pipeline/config.py)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import as_dict, load_params, params_from_dict
from pipeline.dvc_flags import main as dvc_flags_main
from pipeline.dvc_flags import set_flags
from pipeline.errors import ConfigError
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


# The keys where the demo default departs from the paper, and the paper's values
# (docs/model.md, sections 4.3, 4.5, 5.1). configs/paper.yaml is an overlay of exactly these keys.
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
PAPER = REPO / "configs" / "paper.yaml"


def test_paper_overlay_names_only_the_keys_the_paper_changes():
    paper = yaml.safe_load(PAPER.read_text())
    named = {(section, key) for section, values in paper.items() for key in values}
    assert named == set(PAPER_VALUES)
    for (section, key), value in PAPER_VALUES.items():
        assert paper[section][key] == value, f"{section}.{key}"
        assert DEFAULT[section][key] != value, f"{section}.{key} is already the paper's value"


def test_paper_setting_differs_from_the_demo_only_in_lengths():
    merged = as_dict(load_params(REPO / "params.yaml", [PAPER]))
    demo = as_dict(load_params(REPO / "params.yaml"))
    differ = {
        (section, key)
        for section, values in demo.items()
        for key, value in values.items()
        if merged[section][key] != value
    }
    assert differ == set(PAPER_VALUES)
    # the faithful schedule itself is shared: 5 critic steps, a burst every 500th iteration
    assert (merged["optim"]["n_critic"], merged["optim"]["burst_every"]) == (5, 500)


def user_params(tmp_path, **paths) -> Path:
    """A params.yaml whose ``paths`` point at the user's own folders, all else the default."""
    data = copy.deepcopy(DEFAULT)
    data["paths"].update(paths)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


USER_PATHS = {"lpd_root": "/data/lpd/lpd_cleansed", "cleansed_ids": "/data/lpd/cleansed_ids.txt"}


def test_the_overlay_keeps_the_users_paths_and_every_key_it_does_not_name(tmp_path):
    base = user_params(tmp_path, **USER_PATHS)
    merged = as_dict(load_params(base, [PAPER]))
    user = yaml.safe_load(base.read_text())
    for section, values in user.items():
        for key, value in values.items():
            want = PAPER_VALUES.get((section, key), value)
            assert merged[section][key] == want, f"{section}.{key}"
    assert merged["paths"]["lpd_root"] == "/data/lpd/lpd_cleansed"


def test_dvc_flags_set_the_overlay_keys_and_never_paths(tmp_path):
    base = user_params(tmp_path, **USER_PATHS)
    flags = set_flags(PAPER, base)
    assert flags[::2] == ["-S"] * len(PAPER_VALUES)
    assigned = dict(flag.split("=", 1) for flag in flags[1::2])
    assert not [key for key in assigned if key.startswith("paths.")]
    assert assigned == {f"{s}.{k}": json.dumps(v) for (s, k), v in PAPER_VALUES.items()}


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ("optim:\n  n_critc: 3\n", "overlay.yaml: optim.n_critc: unknown key"),
        ("optimiser:\n  lr: 0.1\n", "overlay.yaml: optimiser: unknown key"),
        (
            "metrics:\n  paper:\n    chrom: band8\n",
            "overlay.yaml: metrics.paper.chrom: unknown key",
        ),
        ("optim: {}\n", "overlay.yaml: optim: an empty section changes nothing"),
        ("", "overlay.yaml: an overlay must hold a mapping"),
        ("- 1\n", "overlay.yaml: an overlay must hold a mapping"),
        ("optim:\n  lr: -1\n", "params.yaml: optim.lr: must be > 0"),
        ("optim: 3\n", "params.yaml: optim: must be a mapping"),
    ],
)
def test_a_bad_overlay_fails_with_one_line_naming_it(tmp_path, overlay, message):
    path = tmp_path / "overlay.yaml"
    path.write_text(overlay)
    with pytest.raises(ConfigError) as error:
        load_params(REPO / "params.yaml", [path])
    assert str(error.value).startswith(f"{path}")  # the overlay, then the base it applies to
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_overlay_through_dvc_flags_exits_2(tmp_path, capsys):
    path = tmp_path / "overlay.yaml"
    path.write_text("train:\n  n_iteration: 10\n")
    with pytest.raises(SystemExit) as stop:
        dvc_flags_main([str(path), "--base", str(REPO / "params.yaml")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: train.n_iteration: unknown key\n"


def test_overlays_merge_deeply_and_replace_lists(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text("metrics:\n  modes: [musical]\n  musical:\n    qualified_min_steps: 4\n")
    merged = load_params(REPO / "params.yaml", [path]).metrics
    assert merged.modes == ["musical"]
    assert merged.musical.qualified_min_steps == 4
    assert (
        merged.musical.polyphonic_min_pitches
        == DEFAULT["metrics"]["musical"]["polyphonic_min_pitches"]
    )
    assert merged.paper == load_params(REPO / "params.yaml").metrics.paper


# Phrases of the default tensor (lpd_alternative, docs/data.md): the unit of the paper lengths.
DEFAULT_TENSOR_PHRASES = 9876


def test_paper_lengths_are_whole_epochs_with_the_original_evaluated_slopes():
    """The original evaluated its last end-of-epoch checkpoint, saved before the anneal, so an
    evaluated model holds slope 1.1 ** (epochs - 1): 1.1^6-1.1^7 after stage two, 1.1^8 after
    end-to-end (docs/model.md, section 3.3); stage one ran 20 epochs (docs/model.md, section
    4.5)."""
    paper = load_params(REPO / "params.yaml", [PAPER])

    def epochs(n_iterations: int, batch: int) -> float:
        return n_iterations / (DEFAULT_TENSOR_PHRASES // batch)

    assert epochs(paper.pretrain.n_iterations, paper.pretrain.batch_size) == 20
    stage_two = epochs(paper.train.n_iterations, paper.train.batch_size)
    end_to_end = epochs(paper.train.n_iterations_end2end, paper.train.batch_size)
    assert stage_two.is_integer() and end_to_end.is_integer()
    assert int(stage_two) - 1 in (6, 7)
    assert int(end_to_end) - 1 == 8
