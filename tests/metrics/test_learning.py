"""The learning score: real phrases pass it; silence, noise, a denser set, copies and an untrained
generator each fail it, on the criterion meant to catch them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.metrics import learning
from pipeline.models import build_generator
from tests.metrics.conftest import load_bmusegan8

TRACKS = ["Drums", "Piano", "Guitar", "Bass", "Ensemble", "Reed", "Synth Lead", "Synth Pad"]


@pytest.fixture(scope="module")
def real_sets(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of 160 sounding four-bar phrases of real LPD songs (data, reference)."""
    picked: list[np.ndarray] = []
    for path in sorted((shared_data / "lpd" / "lpd_cleansed").rglob("*.npz")):
        bars = load_bmusegan8(path)
        starts = range(0, len(bars) - 3, 8)  # every other phrase: fewer near-repeats of a song
        picked += [bars[s : s + 4] for s in starts if bars[s : s + 4].any()][:6]
        if len(picked) >= 320:
            break
    phrases = np.stack(picked[:320])[np.random.default_rng(0).permutation(320)]
    return phrases[:160], phrases[160:]


@pytest.fixture(scope="module")
def judged(real_sets, params: Params):
    """``judge`` of a set beside the data's measures, by name."""
    data, reference = real_sets
    data_measures = learning.set_measures(data, reference, params.metrics, TRACKS)

    def of(phrases: np.ndarray) -> dict[str, bool]:
        measures = learning.set_measures(phrases, reference, params.metrics, TRACKS)
        return {v["measure"]: v["passed"] for v in learning.judge(measures, data_measures)}

    return of


def denser(phrases: np.ndarray, spread: int = 10) -> np.ndarray:
    """Every note also sounded on the ``spread - 1`` pitches above it: about ten times denser,
    with the rhythm (and so QN and EB) kept."""
    out = phrases.copy()
    for shift in range(1, spread):
        out[:, :, :, shift:, :] |= phrases[:, :, :, :-shift, :]
    return out


def test_the_training_data_passes(real_sets, judged) -> None:
    verdict = judged(real_sets[0])
    assert all(verdict.values()), verdict


def test_an_all_empty_set_fails(real_sets, judged) -> None:
    verdict = judged(np.zeros_like(real_sets[0]))
    assert not verdict["empty_bar_rate"] and not verdict["density_error"]
    assert not verdict["overlap_area"]


def test_random_cells_at_the_data_density_fail(real_sets, judged) -> None:
    data = real_sets[0]
    noise = np.random.default_rng(1).random(data.shape) < data.mean(axis=(0, 1, 2, 3))
    verdict = judged(noise)
    assert verdict["density_error"]  # the density is the data's ...
    assert not verdict["qualified_note_rate"] and not verdict["overlap_area"]  # ... nothing else


def test_a_set_ten_times_denser_fails_on_density(real_sets, judged) -> None:
    verdict = judged(denser(real_sets[0]))
    assert verdict["qualified_note_rate"] and verdict["empty_bar_rate"]  # the paper's pass ...
    assert not verdict["density_error"]  # ... the density does not


def test_one_phrase_repeated_fails(real_sets, judged) -> None:
    verdict = judged(np.repeat(real_sets[0][:1], 160, axis=0))
    assert not verdict["distinct"] and not verdict["diversity"]


def test_a_few_phrases_repeated_fail_even_when_slightly_varied(real_sets, judged) -> None:
    copies = np.tile(real_sets[0][:5], (32, 1, 1, 1, 1))
    assert not judged(copies)["distinct"] and not judged(copies)["diversity"]
    # near-copies: each copy loses a few random cells, so that no two phrases are equal
    rng = np.random.default_rng(2)
    varied = copies & (rng.random(copies.shape) > 0.02)
    verdict = judged(varied)
    assert verdict["distinct"]  # all different ...
    assert not verdict["diversity"]  # ... but each right next to another


def test_an_untrained_generator_fails(params: Params, judged) -> None:
    torch.manual_seed(0)
    g = build_generator("proposed", width=0.25).eval()
    with torch.no_grad():
        raw = g(torch.randn(160, 128))
    assert not any(judged((raw > 0.5).numpy()).values())  # hard-thresholded: all empty
    verdict = judged((torch.rand(raw.shape) < raw).numpy())  # sampled: half of all cells
    assert not verdict["density_error"] and not verdict["overlap_area"]


def test_density_error_counts_a_silent_track_as_a_thousand_times_too_sparse() -> None:
    data = np.array([0.01, 0.02])
    assert learning.density_error(np.array([0.01, 0.0]), data) == pytest.approx(math.log(1e3) / 2)
    assert learning.density_error(np.array([0.1, 0.2]), data) == pytest.approx(math.log(10))
    assert learning.density_error(data, data) == 0.0


def test_jaccard_distances_on_hand_built_phrases() -> None:
    x = np.zeros((3, 1, 2, 2, 1), dtype=bool)
    x[0, 0, 0, :, 0] = True  # cells {a, b}
    x[1, 0, 0, 0, 0] = True  # cells {a}
    d = learning.jaccard_distances(x)
    assert d[0, 1] == pytest.approx(0.5) and d[1, 0] == pytest.approx(0.5)
    assert d[0, 2] == 1.0 and d[2, 2] == 0.0  # empty vs non-empty: 1; two empty: 0
    assert learning.nearest_neighbour_distance(x) == pytest.approx(0.5)
    assert learning.distinct_fraction(np.concatenate([x, x[:1]])) == pytest.approx(2 / 4)
