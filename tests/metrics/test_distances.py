"""Yang & Lerch distances: the KDE, the overlapped area, the features, and the whole comparison
of real phrases with themselves, with pitch-shuffled and with random phrases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ModernMetrics
from pipeline.metrics import distances, modern
from pipeline.metrics.modern_eval import ModernAccumulator, distances_block, subsample
from tests.metrics.conftest import load_bmusegan8


def test_kde_equals_scipy_with_scotts_bandwidth():
    stats = pytest.importorskip("scipy.stats")
    samples = np.random.default_rng(1).gamma(2.0, size=3000)
    grid = np.linspace(-1, 12, 301)
    ours = distances.kde(samples, grid, distances.scott_bandwidth(samples))
    np.testing.assert_allclose(ours, stats.gaussian_kde(samples)(grid), rtol=1e-9, atol=1e-15)


def test_binned_kde_is_close_to_the_exact_sum():
    """What overlap() uses: within 1% of the density's peak at the grid spacing it uses."""
    samples = np.random.default_rng(4).gamma(2.0, size=5000)
    bandwidth = distances.scott_bandwidth(samples)
    grid = np.linspace(samples.min() - 1, samples.max() + 1, distances.GRID_POINTS)
    exact = distances.kde(samples, grid, bandwidth)
    binned = distances.binned_kde(samples, grid, bandwidth)
    assert np.abs(binned - exact).max() < 0.01 * exact.max()
    assert np.trapezoid(binned, grid) == pytest.approx(1.0, abs=1e-3)


def test_identical_samples_overlap_fully_and_diverge_by_nothing():
    samples = np.random.default_rng(2).exponential(size=4000)
    result = distances.overlap(samples, samples)
    assert result["overlap_area"] == pytest.approx(1.0, abs=1e-3)
    assert result["kl_divergence"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_two_gaussians_overlap_as_the_normal_cdf_says(shift):
    """N(0, 1) and N(d, 1) overlap in 2 * Phi(-d / 2); large samples, so the KDE is close."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=20000), rng.normal(shift, 1.0, size=20000)
    expected = 1 + math.erf(-shift / 2 / math.sqrt(2))  # 2 * Phi(-d/2)
    assert distances.overlap(a, b)["overlap_area"] == pytest.approx(expected, abs=0.02)
    kl = distances.overlap(a, b)["kl_divergence"]
    assert kl == pytest.approx(shift**2 / 2, rel=0.15)  # KL(N(0,1) || N(d,1)) = d^2 / 2


def test_disjoint_and_degenerate_samples():
    far = distances.overlap(np.array([0.0, 0.5, 1.0]), np.array([10.0, 10.5, 11.0]))
    assert far["overlap_area"] < 1e-6
    assert far["kl_divergence"] > 10
    same_point = distances.overlap(np.zeros(50), np.zeros(80))  # zero spread: floor bandwidth
    assert same_point["overlap_area"] == pytest.approx(1.0, abs=1e-3)
    apart = distances.overlap(np.zeros(50), np.ones(80))
    assert apart["overlap_area"] < 1e-3
    too_few = distances.overlap(np.zeros(1), np.zeros(5))  # no density on one side
    assert too_few["overlap_area"] == 0.0 and math.isnan(too_few["kl_divergence"])


def test_an_undefined_feature_counts_as_no_overlap():
    rng = np.random.default_rng(3)
    intra, inter = rng.normal(size=3000), rng.normal(size=3000)
    full = distances.overlap(intra, inter)["overlap_area"]
    assert full > 0.95
    # a set whose phrases never have the feature: only the undefined outcomes could overlap,
    # and the reference has none
    never = distances.overlap(intra, inter[:0], 1.0, 0.0)
    assert never["overlap_area"] == 0.0
    # half of the set's pairs undefined: the densities overlap on half their mass at most
    half = distances.overlap(intra, inter[:1500], 1.0, 0.5)["overlap_area"]
    assert half == pytest.approx(0.5 * full, abs=0.03)
    # both sides undefined equally often: that shared outcome overlaps too
    both = distances.overlap(intra[:1500], inter[:1500], 0.5, 0.5)["overlap_area"]
    assert both == pytest.approx(0.5 + 0.5 * full, abs=0.03)


def test_an_all_empty_set_is_far_from_real_data(many_real_phrases):
    """With undefined features counted as no overlap, silence does not look like music (a mean
    over the defined features only gave an all-empty set a higher OA than a noisy one)."""
    cfg = ModernMetrics(n_phrases=300, n_pairs=20000, seed=0)
    reference = subsample(accumulate(many_real_phrases).all_features(), cfg.n_phrases, cfg.seed)
    silent = distances_block(accumulate(np.zeros_like(many_real_phrases[:300])), cfg, reference)
    noise = distances_block(accumulate(random_like(many_real_phrases, 2)), cfg, reference)
    for undefined in ("pitch_range", "pitch_class_histogram", "inter_onset_interval"):
        assert silent["features"][undefined]["overlap_area"] < 0.05
    assert silent["mean_overlap_area"] < 0.3
    assert silent["mean_overlap_area"] < noise["mean_overlap_area"]


def test_pairs_never_pair_a_phrase_with_itself_and_are_seeded():
    i, j = distances.draw_pairs(5, None, 10000, np.random.default_rng(0))
    assert (i != j).all() and set(i) == set(j) == set(range(5))
    again = distances.draw_pairs(5, None, 10000, np.random.default_rng(0))
    assert (again[0] == i).all() and (again[1] == j).all()
    a = np.array([[0.0], [3.0], [np.nan]])
    b = np.array([[1.0], [1.0]])
    d = distances.pair_distances(a, b, np.array([0, 1, 2]), np.array([0, 1, 0]))
    np.testing.assert_array_equal(d, [1.0, 2.0])  # the NaN row's pair is left out


def test_features_of_a_hand_built_phrase():
    """Piano: C4 held across bars 1-2 (one note), E4 and G4 once; bass: C2 on every beat;
    drums on every step (ignored by these features)."""
    phrase = np.zeros((1, 4, 96, 84, 8), dtype=bool)
    flat = phrase.reshape(1, 384, 84, 8)
    c4, e4, g4, c2 = 60 - 24, 64 - 24, 67 - 24, 36 - 24
    flat[0, 90:110, c4, 1] = True  # crosses the bar line at step 96: one note
    flat[0, 200:210, e4, 1] = True
    flat[0, 300:301, g4, 1] = True
    flat[0, 0:384:24, c2, 3] = True  # 16 one-step notes, one per beat
    flat[0, :, 0, 0] = True  # drums: one long hit, left out
    feats = distances.phrase_features(modern.phrase_statistics(phrase), drum_track=0)
    assert feats["note_count"][0, 0] == 19
    assert feats["pitch_count"][0, 0] == 4
    assert feats["pitch_range"][0, 0] == g4 - c2
    hist = np.zeros(12)
    hist[[0, 4, 7]] = [17, 1, 1]
    np.testing.assert_allclose(feats["pitch_class_histogram"][0], hist / 19)
    # onset steps 0, 24, ..., 360 plus 90, 200, 300: 19 steps from 0 to 360
    assert feats["inter_onset_interval"][0, 0] == pytest.approx(360 / 18 / 24)
    silent = distances.phrase_features(
        modern.phrase_statistics(np.zeros((1, 4, 96, 84, 8), dtype=bool)), drum_track=0
    )
    assert silent["note_count"][0, 0] == 0
    assert np.isnan(silent["pitch_range"][0, 0])
    assert np.isnan(silent["pitch_class_histogram"][0]).all()


@pytest.fixture(scope="module")
def many_real_phrases(shared_data: Path) -> np.ndarray:
    """Bool (600, 4, 96, 84, 8): non-overlapping sounding 4-bar phrases of real LPD songs."""
    picked: list[np.ndarray] = []
    for path in sorted((shared_data / "lpd" / "lpd_cleansed").rglob("*.npz")):
        bars = load_bmusegan8(path)
        picked += [bars[s : s + 4] for s in range(0, len(bars) - 3, 4) if bars[s : s + 4].any()]
        if len(picked) >= 600:
            break
    return np.stack(picked[:600])


def accumulate(phrases: np.ndarray) -> ModernAccumulator:
    acc = ModernAccumulator(8, drum_track=0)
    for start in range(0, len(phrases), 128):
        acc.add(modern.phrase_statistics(phrases[start : start + 128]))
    return acc


def shuffle_pitches(phrases: np.ndarray, seed: int) -> np.ndarray:
    """Each phrase with its 84 pitch rows permuted at random (rhythm kept, harmony destroyed)."""
    rng = np.random.default_rng(seed)
    return np.stack([p[:, :, rng.permutation(p.shape[2])] for p in phrases])


def random_like(phrases: np.ndarray, seed: int) -> np.ndarray:
    """Independent cells with the phrases' overall density per track."""
    density = phrases.mean(axis=(0, 1, 2, 3))
    return np.random.default_rng(seed).random(phrases.shape) < density


def test_real_data_against_itself_is_near_one_and_others_lower(many_real_phrases):
    cfg = ModernMetrics(n_phrases=300, n_pairs=20000, seed=0)
    real = accumulate(many_real_phrases)
    reference = subsample(real.all_features(), cfg.n_phrases, cfg.seed)
    itself = distances_block(real, cfg, None)
    assert itself["reference"] == "self" and itself["n_phrases"] == 300
    self_oa = {k: v["overlap_area"] for k, v in itself["features"].items()}
    assert min(self_oa.values()) > 0.85, self_oa
    assert itself["mean_overlap_area"] > 0.9

    shuffled = distances_block(accumulate(shuffle_pitches(many_real_phrases, 1)), cfg, reference)
    shuffled_oa = {k: v["overlap_area"] for k, v in shuffled["features"].items()}
    print("OA self", self_oa, "shuffled", shuffled_oa)
    # the pitch features depart; note count and onsets are untouched by a pitch permutation
    for name in ("pitch_range", "pitch_class_histogram"):
        assert shuffled_oa[name] < self_oa[name] - 0.1, (name, shuffled_oa, self_oa)
    assert shuffled_oa["note_count"] == pytest.approx(self_oa["note_count"], abs=0.1)

    noise = distances_block(accumulate(random_like(many_real_phrases, 2)), cfg, reference)
    assert noise["reference"] == "training_data"
    print("OA random", {k: v["overlap_area"] for k, v in noise["features"].items()})
    assert noise["mean_overlap_area"] < itself["mean_overlap_area"] - 0.3
    for name, value in noise["features"].items():
        assert value["overlap_area"] < self_oa[name], name
