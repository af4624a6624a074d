"""Shared helpers for the metric tests: the three implementations side by side, real LPD bars.

``IMPLEMENTATIONS`` computes per-bar values ``(scores (7, T, n), tonal (n,))`` of a batch of bars
``(n, 96, 84, T)`` three ways: the fast engine (what the stage runs), the pure per-metric
functions (the definitions), and the per-bar loop (the oracle). Hand-built tests run on all three.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import MetricMode, Metrics, Params
from pipeline.metrics import intra_track, tonal
from pipeline.metrics.aggregate import metric_map
from pipeline.metrics.engine import bar_scores, bar_statistics
from pipeline.metrics.loop_reference import loop_bar_scores

TRACKS = ["Drums", "Piano", "Guitar", "Bass", "Ensemble", "Reed", "Synth Lead", "Synth Pad"]
# bmusegan8: GM family (program // 8) -> track; drums separately (docs/model.md, section 1.3).
FAMILY_TRACK = {0: 1, 3: 2, 4: 3, 6: 4, 8: 5, 10: 6, 11: 7}
Scores = tuple[np.ndarray, np.ndarray]


def engine_scores(bars: np.ndarray, mode: MetricMode, cfg: Metrics) -> Scores:
    stats = bar_statistics(bars, max_window=mode.qualified_min_steps + 1)
    return bar_scores(stats, mode, cfg)


def pure_scores(bars: np.ndarray, mode: MetricMode, cfg: Metrics) -> Scores:
    tracks = np.moveaxis(np.asarray(bars), -1, 0)  # (T, n, steps, pitches)
    scores = np.stack(
        [
            intra_track.empty_bar(tracks),
            intra_track.n_pitches_used(tracks),
            intra_track.qualified_note_rate(tracks, mode.qualified_min_steps),
            intra_track.polyphonicity(tracks, mode.polyphonic_min_pitches),
            intra_track.in_scale_rate(tracks, cfg.scale_mask, mode.chroma),
            intra_track.drum_pattern_rate(tracks, cfg.drum_filter, mode.drum_semantics),
            intra_track.n_chroma_used(tracks, mode.chroma),
        ]
    )
    scores[~metric_map(tracks.shape[0], cfg.drum_track)] = np.nan
    first, second = cfg.tonal_pair
    td = tonal.tonal_distance(
        tracks[first], tracks[second], 24, cfg.tonal_radii, mode.chroma, lowest_pitch=24
    )
    return scores, td


def loop_scores(bars: np.ndarray, mode: MetricMode, cfg: Metrics) -> Scores:
    return loop_bar_scores(bars, mode, cfg)


IMPLEMENTATIONS: dict[str, Callable[[np.ndarray, MetricMode, Metrics], Scores]] = {
    "engine": engine_scores,
    "pure": pure_scores,
    "loop": loop_scores,
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> Callable[[np.ndarray, MetricMode, Metrics], Scores]:
    """Each implementation in turn."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture(scope="session")
def cfg(params: Params) -> Metrics:
    """The default ``metrics`` section of params.yaml."""
    return params.metrics


def empty_bars(n: int = 1, n_tracks: int = 8) -> np.ndarray:
    """All-silent bool bars (n, 96, 84, n_tracks)."""
    return np.zeros((n, 96, 84, n_tracks), dtype=bool)


# ---------------------------------------------------------------------------------------------
# Real phrases from ../shared/data/lpd/lpd_cleansed, built here (independent of pipeline.data)
# ---------------------------------------------------------------------------------------------


def _dense(npz: np.lib.npyio.NpzFile, i: int, length: int) -> np.ndarray:
    """Track ``i`` of a legacy pypianoroll file as a dense bool (length, 128) array."""
    shape = npz[f"pianoroll_{i}_csc_shape"]
    out = np.zeros((length, 128), dtype=bool)
    if shape[0] == 0:
        return out  # empty track stored as (0, 128)
    indptr = npz[f"pianoroll_{i}_csc_indptr"]
    rows = npz[f"pianoroll_{i}_csc_indices"]
    cols = np.repeat(np.arange(128), np.diff(indptr))
    keep = rows < length
    out[rows[keep], cols[keep]] = npz[f"pianoroll_{i}_csc_data"][keep] > 0
    return out


def load_bmusegan8(path: Path) -> np.ndarray:
    """A song as bool (n_bars, 96, 84, 8): tracks OR-merged by family, pitches MIDI 24..107."""
    info = json.loads(zipfile.ZipFile(path).read("info.json"))
    with np.load(path) as npz:
        n_tracks = sum(1 for key in npz.files if key.endswith("_csc_shape"))
        length = max(int(npz[f"pianoroll_{i}_csc_shape"][0]) for i in range(n_tracks))
        merged = np.zeros((length, 128, 8), dtype=bool)
        for i in range(n_tracks):
            meta = info[str(i)]
            track = 0 if meta["is_drum"] else FAMILY_TRACK.get(meta["program"] // 8)
            if track is not None:
                merged[..., track] |= _dense(npz, i, length)
    n_bars = length // 96
    return merged[: n_bars * 96, 24:108].reshape(n_bars, 96, 84, 8)


@pytest.fixture(scope="session")
def real_bars(shared_data: Path) -> np.ndarray:
    """Bool (n, 96, 84, 8): 4-bar phrases (16 bars) of each of 3 real LPD songs, as bars."""
    files = sorted((shared_data / "lpd" / "lpd_cleansed").rglob("*.npz"))
    picked = []
    for path in files:
        bars = load_bmusegan8(path)
        sounding = bars.any(axis=(1, 2))  # (n_bars, 8)
        both = np.flatnonzero(sounding[:, 0] & sounding[:, 1] & sounding[:, 2])
        if len(both) >= 16:
            start = both[len(both) // 3]
            picked.append(bars[start : start + 16])
        if len(picked) == 3:
            break
    assert len(picked) == 3, "needs 3 LPD songs with drums, piano and guitar"
    return np.concatenate(picked)
