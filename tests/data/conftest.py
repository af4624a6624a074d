"""Fixtures of the data-stage tests: real LPD/MIDI data from ../shared/data, outputs in tmp."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pypianoroll
import pytest

from pipeline.config import BuildTensor, Filter, Params
from pipeline.stages import build_tensor, filter

# GM family (program // 8) -> bmusegan8 track, written out here independently of the package.
BMUSEGAN8_FAMILIES = {0: 1, 3: 2, 4: 3, 6: 4, 8: 5, 10: 6, 11: 7}


@dataclasses.dataclass
class DataPaths:
    lpd_root: Path
    lpd5_root: Path
    lpd17_root: Path
    cleansed_ids: Path
    lastfm_dir: Path
    midi_dir: Path
    midi_manifest: Path


@pytest.fixture(scope="session")
def data_paths(shared_data: Path) -> DataPaths:
    lpd = shared_data / "lpd"
    return DataPaths(
        lpd_root=lpd / "lpd_cleansed",
        lpd5_root=lpd / "lpd_5_cleansed",
        lpd17_root=lpd / "lpd_17_cleansed",
        cleansed_ids=lpd / "cleansed_ids.txt",
        lastfm_dir=shared_data / "labels" / "lastfm",
        midi_dir=shared_data / "midi",
        midi_manifest=shared_data / "midi" / "MANIFEST.csv",
    )


def filter_cfg(params: Params, **changes: object) -> Filter:
    return dataclasses.replace(params.filter, **{"workers": 1, **changes})


def build_cfg(params: Params, **changes: object) -> BuildTensor:
    return dataclasses.replace(params.build_tensor, **{"workers": 1, **changes})


def run_filter(
    cfg: Filter,
    paths: DataPaths,
    out: Path,
    lpd_root: Path | None = None,
    midi_dir: Path | None = None,
    cleansed_ids: Path | None = None,
    lastfm_dir: Path | None = None,
) -> filter.FilterResult:
    return filter.run(
        cfg,
        lpd_root or paths.lpd_root,
        cleansed_ids or paths.cleansed_ids,
        lastfm_dir or paths.lastfm_dir,
        midi_dir or paths.midi_dir,
        out / "manifest.csv",
        out / "filter.json",
    )


def run_build(
    cfg: BuildTensor,
    paths: DataPaths,
    out: Path,
    lpd_root: Path | None = None,
    midi_dir: Path | None = None,
    manifest: Path | None = None,
    name: str = "phrases",
) -> build_tensor.BuildResult:
    return build_tensor.run(
        cfg,
        manifest or out / "manifest.csv",
        lpd_root or paths.lpd_root,
        midi_dir or paths.midi_dir,
        out / f"{name}.h5",
        out / f"{name}.json",
    )


def oracle_bmusegan8(path: Path) -> np.ndarray:
    """The test's own merge: pypianoroll.load, OR by GM family, binarize; (T, 128, 8) bool."""
    multitrack = pypianoroll.load(path)
    length = max(t.pianoroll.shape[0] for t in multitrack.tracks)
    out = np.zeros((length, 128, 8), dtype=bool)
    for track in multitrack.tracks:
        if track.is_drum:
            target = 0
        else:
            target = BMUSEGAN8_FAMILIES.get(track.program // 8)
        if target is None or track.pianoroll.shape[0] == 0:
            continue
        out[: track.pianoroll.shape[0], :, target] |= track.pianoroll > 0
    return out
