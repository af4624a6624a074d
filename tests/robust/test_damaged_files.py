"""Damaged intermediate files: every stage that reads one exits 2 with one line naming it.

Each case damages a real intermediate (a checkpoint and a phrase file made by the stages, a
manifest, a metrics.json) the way a disk, a copy or a foreign run does, and runs the stage that
reads it. A damaged resume snapshot is not an error: it is set aside and the run starts over.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.data.phrase_file import PhraseBatch, TrackInfo, write_phrase_file
from pipeline.stages import build_tensor, evaluate, pretrain, sample, tables, train
from pipeline.training.checkpoint import load_checkpoint
from tests.dag.dag_tools import REPO
from tests.robust.damage import (
    assert_clean_exit_2,
    expect_exit_2,
    garble,
    run_module,
    truncate,
)
from tests.training.conftest import make_phrase_file, write_params


class Stop(Exception):
    """Stands in for a kill after a snapshot was written."""


@pytest.fixture
def pfile(tmp_path: Path, tiny: Params) -> Path:
    return write_params(tmp_path / "params.yaml", tiny)


def _copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    return dst


def _sample_argv(pfile: Path, ckpt: Path, tensor: Path, out: Path) -> list[str]:
    return [
        *("--params", str(pfile), "--checkpoint", str(ckpt), "--tensor", str(tensor)),
        *("--binarize", "ht", "--out-dir", str(out)),
    ]


def _train_argv(pfile: Path, ckpt: Path, tensor: Path, root: Path) -> list[str]:
    return [
        *("--params", str(pfile), "--experiment", "twostage_dbn", "--tensor", str(tensor)),
        *("--pretrained", str(ckpt), "--out-dir", str(root / "out")),
        *("--snapshot-dir", str(root / "snap")),
    ]


# --------------------------------------------------------------------------------------------
# checkpoint.pt
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9, 0.999])
def test_truncated_checkpoint(tmp_path, pfile, stage_one, tensor, capsys, keep):
    ckpt = truncate(_copy(stage_one / "checkpoint.pt", tmp_path), keep)
    argv = _sample_argv(pfile, ckpt, tensor, tmp_path / "s")
    expect_exit_2(sample.main, argv, capsys, str(ckpt), "truncated or damaged")
    assert not (tmp_path / "s" / "phrases.h5").exists()


def test_garbled_checkpoint_bytes_are_detected(tmp_path, pfile, stage_one, tensor, capsys):
    """Random bytes inside a stored weight tensor: the zip CRC check catches them."""
    ckpt = _copy(stage_one / "checkpoint.pt", tmp_path)
    size = ckpt.stat().st_size
    garble(ckpt, size // 2, 64)
    argv = _sample_argv(pfile, ckpt, tensor, tmp_path / "s")
    expect_exit_2(sample.main, argv, capsys, str(ckpt), "CRC check")
    assert not (tmp_path / "s" / "phrases.h5").exists()


def test_garbled_checkpoint_through_the_module(tmp_path, pfile, stage_one, tensor):
    ckpt = garble(_copy(stage_one / "checkpoint.pt", tmp_path), 0, 512)
    proc = run_module("pipeline.stages.sample", _sample_argv(pfile, ckpt, tensor, tmp_path / "s"))
    assert_clean_exit_2(proc, str(ckpt), "damaged")


def test_foreign_torch_file(tmp_path, pfile, tensor, capsys):
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"weights": torch.zeros(3)}, ckpt)
    argv = _sample_argv(pfile, ckpt, tensor, tmp_path / "s")
    expect_exit_2(sample.main, argv, capsys, str(ckpt), "not a bmusegan-checkpoint")


def test_checkpoint_missing_weights(tmp_path, pfile, stage_one, tensor, capsys):
    saved = load_checkpoint(stage_one / "checkpoint.pt")
    del saved["models"]["discriminator"]
    ckpt = tmp_path / "checkpoint.pt"
    torch.save(saved, ckpt)
    argv = _train_argv(pfile, ckpt, tensor, tmp_path)
    expect_exit_2(train.main, argv, capsys, str(ckpt), "not a stage-one")


def test_checkpoint_of_another_track_set(tmp_path, pfile, stage_one, capsys):
    """A stage-one model of Drums/Piano/Guitar cannot continue on a Drums/Piano/Bass tensor."""
    other = tmp_path / "other.h5"
    tracks = TrackInfo(["Drums", "Piano", "Bass"], [0, 0, 32], [True, False, False])
    phrases = np.zeros((4, 4, 96, 84, 3), dtype=bool)
    write_phrase_file(
        other,
        [PhraseBatch(phrases, ["a"] * 4, ["b"] * 4, [0] * 4)],
        phrases.shape[1:],
        tracks,
        24,
        24,
        {},
    )
    ckpt = stage_one / "checkpoint.pt"
    argv = _train_argv(pfile, ckpt, other, tmp_path)
    expect_exit_2(train.main, argv, capsys, str(ckpt), "trained on tracks", "Bass")
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


# --------------------------------------------------------------------------------------------
# resume snapshot
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_snapshot_is_set_aside(tmp_path, tiny, tensor, stage_one, caplog, damage):
    """The run starts over from scratch and ends with the uninterrupted run's weights."""

    def stop_after_first(state):
        if state.iteration == 1:
            raise Stop

    out, snap = tmp_path / "out", tmp_path / "snap"
    with pytest.raises(Stop):
        pretrain.run(tiny, "proposed", tensor, out, snap, after_iteration=stop_after_first)
    (snapshot,) = snap.glob("snapshot-*.pt")
    if damage == "truncate":
        truncate(snapshot, 0.5)
    else:
        garble(snapshot, 0, 512)
    with caplog.at_level(logging.WARNING):
        pretrain.run(tiny, "proposed", tensor, out, snap)
    assert (snap / f"{snapshot.name}.damaged").is_file()
    assert any("set aside" in r.getMessage() for r in caplog.records)
    assert not any("resuming" in r.getMessage() for r in caplog.records)
    ours, straight = (
        load_checkpoint(out / "checkpoint.pt"),
        load_checkpoint(stage_one / "checkpoint.pt"),
    )
    for name, state in straight["models"].items():
        for key, value in state.items():
            assert torch.equal(value, ours["models"][name][key]), f"{name}.{key}"


# --------------------------------------------------------------------------------------------
# phrases.h5
# --------------------------------------------------------------------------------------------


def _evaluate_argv(pfile: Path, phrases: Path, out: Path) -> list[str]:
    return ["--params", str(pfile), "--phrases", str(phrases), "--metrics", str(out)]


@pytest.fixture
def phrases(tmp_path: Path) -> Path:
    return make_phrase_file(tmp_path / "phrases.h5", n=4)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_phrase_file(tmp_path, pfile, phrases, capsys, keep):
    truncate(phrases, keep)
    out = tmp_path / "metrics.json"
    expect_exit_2(
        evaluate.main, _evaluate_argv(pfile, phrases, out), capsys, str(phrases), "truncated"
    )
    assert not out.exists()


def test_garbled_phrase_chunk(tmp_path, pfile, phrases, capsys):
    with h5py.File(phrases, "r") as f:
        chunk = f["phrases"].id.get_chunk_info(1)
    garble(phrases, chunk.byte_offset, min(chunk.size, 128))
    out = tmp_path / "metrics.json"
    expect_exit_2(
        evaluate.main, _evaluate_argv(pfile, phrases, out), capsys, str(phrases), "cannot be read"
    )
    assert not out.exists()


def _rewrite(path: Path, edit) -> Path:
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def _replace_phrases(f: h5py.File, data: np.ndarray) -> None:
    del f["phrases"]
    f.create_dataset("phrases", data=data)


DAMAGES = {
    "wrong dtype": (
        lambda f: _replace_phrases(f, np.zeros((4, 4, 96, 84, 3), dtype=np.uint8)),
        "dtype uint8",
    ),
    "wrong rank": (
        lambda f: _replace_phrases(f, np.zeros((4, 96, 84, 3), dtype=bool)),
        "expected (N, bars",
    ),
    "no phrases": (lambda f: f.__delitem__("phrases"), "no 'phrases'"),
    "empty": (lambda f: _replace_phrases(f, np.zeros((0, 4, 96, 84, 3), dtype=bool)), "no phrases"),
    "missing provenance": (lambda f: f.__delitem__("md5"), "provenance dataset 'md5'"),
    "short provenance": (
        lambda f: (f.__delitem__("start_bar"), f.create_dataset("start_bar", data=[0])),
        "provenance 'start_bar'",
    ),
    "missing track names": (lambda f: f.attrs.__delitem__("track_names"), "track_names"),
    "track names of another size": (
        lambda f: f.attrs.__setitem__("track_names", json.dumps(["Drums"])),
        "must list 3 tracks",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_phrase_file_of_wrong_layout(tmp_path, pfile, phrases, capsys, damage):
    edit, words = DAMAGES[damage]
    _rewrite(phrases, edit)
    out = tmp_path / "metrics.json"
    expect_exit_2(evaluate.main, _evaluate_argv(pfile, phrases, out), capsys, str(phrases), words)


def test_training_refuses_phrases_of_another_shape(tmp_path, pfile, capsys):
    tensor = tmp_path / "two_bars.h5"
    phrases = np.zeros((4, 2, 96, 84, 3), dtype=bool)
    tracks = TrackInfo(["Drums", "Piano", "Guitar"], [0, 0, 24], [True, False, False])
    batch = PhraseBatch(phrases, ["a"] * 4, ["b"] * 4, [0] * 4)
    write_phrase_file(tensor, [batch], phrases.shape[1:], tracks, 24, 24, {})
    argv = [
        *("--params", str(pfile), "--discriminator", "proposed", "--tensor", str(tensor)),
        *("--out-dir", str(tmp_path / "out"), "--snapshot-dir", str(tmp_path / "snap")),
    ]
    expect_exit_2(pretrain.main, argv, capsys, str(tensor), "(2, 96, 84)")


def test_sample_refuses_a_damaged_tensor(tmp_path, pfile, stage_one, phrases, capsys):
    _rewrite(phrases, lambda f: f.__delitem__("msd_id"))
    argv = _sample_argv(pfile, stage_one / "checkpoint.pt", phrases, tmp_path / "s")
    expect_exit_2(sample.main, argv, capsys, str(phrases), "msd_id")


def test_truncated_tensor_through_the_training_module(tmp_path, pfile, phrases):
    truncate(phrases, 0.5)
    proc = run_module(
        "pipeline.stages.pretrain",
        [
            *("--params", str(pfile), "--discriminator", "proposed", "--tensor", str(phrases)),
            *("--out-dir", str(tmp_path / "out"), "--snapshot-dir", str(tmp_path / "snap")),
        ],
    )
    assert_clean_exit_2(proc, str(phrases), "truncated")


# --------------------------------------------------------------------------------------------
# manifest.csv
# --------------------------------------------------------------------------------------------

GOOD_ROW = "TRAAAGR128F425B14B,b97c529ab9ef783a849b896816001748,lpd,A/A/A/x/y.npz,10,960,a,b\n"
HEADER = "msd_id,md5,source,path,n_bars,n_steps,msd_ids,tags\n"
MANIFESTS = {
    "cut mid-line": (HEADER + GOOD_ROW + GOOD_ROW[:30], ":3: fields ['source', 'path'] missing"),
    "empty path": (HEADER + GOOD_ROW.replace("A/A/A/x/y.npz", ""), "empty field(s) ['path']"),
    "binary garbage": (None, "not a readable CSV"),
    "no header": (GOOD_ROW, "lacks column(s)"),
    "bad md5": (HEADER + GOOD_ROW.replace("b97c", "zz"), "md5 'zz"),
    "extra fields": (HEADER + GOOD_ROW.rstrip("\n") + ",x,y\n", "more fields"),
    "unknown source": (HEADER + GOOD_ROW.replace(",lpd,", ",wav,"), "unknown source"),
    "parent path": (HEADER + GOOD_ROW.replace("A/A/A/x", "../../etc"), "outside the source root"),
    "absolute path": (HEADER + GOOD_ROW.replace("A/A/A/x/y.npz", "/etc/passwd"), "is absolute"),
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_damaged_manifest(tmp_path, pfile, capsys, case):
    text, words = MANIFESTS[case]
    manifest = tmp_path / "manifest.csv"
    if text is None:
        manifest.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, np.uint8).tobytes())
    else:
        manifest.write_text(text)
    argv = [
        *("--params", str(pfile), "--manifest", str(manifest), "--lpd-root", str(tmp_path)),
        *("--midi-dir", str(tmp_path), "--tensor", str(tmp_path / "t.h5")),
        *("--report", str(tmp_path / "r.json")),
    ]
    expect_exit_2(build_tensor.main, argv, capsys, str(manifest), words)
    assert not (tmp_path / "t.h5").exists()


# --------------------------------------------------------------------------------------------
# metrics.json
# --------------------------------------------------------------------------------------------


def _metrics_tree(root: Path) -> Path:
    block = {
        "n_phrases": 4,
        "aggregate": {"qualified_note_rate": 0.5, "polyphonicity": 0.1, "tonal_distance": None},
    }
    for name in sorted({r.sample_set for r in tables.TABLE1 + tables.TABLE2}):
        (root / name).mkdir(parents=True)
        (root / name / "metrics.json").write_text(json.dumps({"paper": block, "musical": block}))
    return root


METRICS_DAMAGE = {
    "truncated": (lambda p: truncate(p, 0.5), "not valid JSON"),
    "garbled": (lambda p: garble(p, 2, 20), "not valid JSON"),
    "a list": (lambda p: p.write_text("[1, 2]"), "mapping of metric modes"),
    "no aggregate": (lambda p: p.write_text('{"paper": {"n_phrases": 4}}'), "lacks n_phrases"),
    "text number": (
        lambda p: p.write_text(
            p.read_text().replace('"polyphonicity": 0.1', '"polyphonicity": "high"')
        ),
        "polyphonicity is 'high'",
    ),
    "missing number": (
        lambda p: p.write_text(p.read_text().replace('"tonal_distance"', '"td"')),
        "aggregate lacks tonal_distance",
    ),
}


@pytest.mark.parametrize("case", sorted(METRICS_DAMAGE))
def test_damaged_metrics_json(tmp_path, pfile, capsys, case):
    metrics = _metrics_tree(tmp_path / "evaluate")
    target = metrics / "joint_dbn" / "metrics.json"
    damage, words = METRICS_DAMAGE[case]
    damage(target)
    argv = [
        *("--params", str(pfile), "--metrics-dir", str(metrics)),
        *("--runs-dir", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "tables")),
        *("--reference", str(REPO / "data" / "reference" / "paper_reference.csv")),
    ]
    expect_exit_2(tables.main, argv, capsys, str(target), words)
    assert not (tmp_path / "tables").exists()
