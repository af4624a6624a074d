"""Fixtures of the training tests: a tiny phrase file, tiny params, a shared stage-one run.

Everything runs the real networks on CPU with 3 tracks (Drums, Piano, Guitar: enough for the
tonal-distance pair), batch 1-2 and a handful of updates, to keep the suite fast.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pipeline.config import Params, as_dict
from pipeline.data.phrase_file import PhraseBatch, TrackInfo, write_phrase_file

TRACKS = TrackInfo(
    names=["Drums", "Piano", "Guitar"], programs=[0, 0, 24], is_drums=[True, False, False]
)


def make_phrase_file(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` random sparse bool phrases (n, 4, 96, 84, 3) written as a phrase file."""
    rng = np.random.default_rng(seed)
    phrases = rng.random((n, 4, 96, 84, len(TRACKS.names))) < 0.01
    batch = PhraseBatch(phrases, [""] * n, [""] * n, [-1] * n)
    write_phrase_file(path, [batch], phrases.shape[1:], TRACKS, 24, 24, {"test": True})
    return path


def tiny_params(params: Params, **optim: Any) -> Params:
    """``params`` shrunk: 1 critic step (2 in a burst), batch 2, 2 iterations, log every step."""
    o = {
        "n_critic": 1,
        "n_critic_burst": 2,
        "burst_first_iterations": 1,
        "burst_every": 500,
        "monitor_every": 1,
        "snapshot_every": 1,
        **optim,
    }
    return dataclasses.replace(
        params,
        optim=dataclasses.replace(params.optim, **o),
        pretrain=dataclasses.replace(params.pretrain, batch_size=2, n_iterations=2),
        train=dataclasses.replace(
            params.train, batch_size=2, n_iterations=2, n_iterations_end2end=2
        ),
    )


def write_params(path: Path, params: Params) -> Path:
    path.write_text(yaml.safe_dump(as_dict(params), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny(params: Params) -> Params:
    return tiny_params(params)


@pytest.fixture(scope="session")
def tensor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phrase_file(tmp_path_factory.mktemp("data") / "phrases.h5", n=8)


def run_stage_one(root: Path, params: Params, tensor: Path) -> Path:
    """Run ``pretrain --discriminator proposed`` through its CLI in ``root``; return its out-dir."""
    from pipeline.stages import pretrain

    pfile = write_params(root / "params.yaml", params)
    out = root / "out"
    pretrain.main(
        [
            "--params",
            str(pfile),
            "--discriminator",
            "proposed",
            "--tensor",
            str(tensor),
            "--out-dir",
            str(out),
            "--snapshot-dir",
            str(root / "snap"),
        ]
    )
    return out


@pytest.fixture(scope="session")
def stage_one(tmp_path_factory: pytest.TempPathFactory, tiny: Params, tensor: Path) -> Path:
    """The out-dir of ``pretrain --discriminator proposed`` run through its CLI (2 iterations)."""
    return run_stage_one(tmp_path_factory.mktemp("stage_one"), tiny, tensor)
