"""The fast engine, the pure functions and the per-bar loop agree on random and on real bars."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.metrics import PhraseEvaluator, evaluate_phrases
from pipeline.metrics.aggregate import Accumulator, mode_block
from pipeline.metrics.engine import bar_statistics, byte_totals
from tests.metrics.conftest import IMPLEMENTATIONS, TRACKS


def random_bars(seed: int, n: int = 24, n_tracks: int = 8) -> np.ndarray:
    """Bars with a mix of densities per (bar, track), isolated cells and runs of any length."""
    rng = np.random.default_rng(seed)
    density = rng.choice([0.0, 0.002, 0.01, 0.05, 0.3], size=(n, 1, 1, n_tracks))
    onsets = rng.random((n, 96, 84, n_tracks)) < density
    bars = onsets.copy()
    lengths = rng.integers(1, 6, size=onsets.shape)
    for lag in range(1, 5):  # extend each onset into a note of its drawn length
        bars[:, lag:] |= onsets[:, :-lag] & (lengths[:, :-lag] > lag)
    return bars


def assert_blocks_close(got: object, want: object, path: str = "") -> None:
    """Nested dicts equal, floats to 1e-12 relative, None where None."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), path
        for key in want:
            assert_blocks_close(got[key], want[key], f"{path}/{key}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), path
    else:
        assert got == want, path


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mode_name", ["paper", "musical"])
@pytest.mark.parametrize("name", ["engine", "pure"])
def test_vectorised_equals_loop_on_random_bars(cfg, seed, mode_name, name):
    bars = random_bars(seed)
    mode = getattr(cfg, mode_name)
    assert_same(IMPLEMENTATIONS[name](bars, mode, cfg), IMPLEMENTATIONS["loop"](bars, mode, cfg))


@pytest.mark.parametrize("mode_name", ["paper", "musical"])
def test_vectorised_equals_loop_on_real_bars(cfg, real_bars, mode_name):
    mode = getattr(cfg, mode_name)
    want = IMPLEMENTATIONS["loop"](real_bars, mode, cfg)
    assert np.isfinite(want[1]).sum() >= 5  # some bars where TD is defined
    assert np.isfinite(want[0]).sum() >= 300
    for name in ("engine", "pure"):
        assert_same(IMPLEMENTATIONS[name](real_bars, mode, cfg), want)


def test_xor_semantics_agree(cfg):
    bars = random_bars(3)
    mode = dataclasses.replace(cfg.paper, drum_semantics="xor")
    want = IMPLEMENTATIONS["loop"](bars, mode, cfg)
    for name in ("engine", "pure"):
        assert_same(IMPLEMENTATIONS[name](bars, mode, cfg), want)


@pytest.mark.parametrize("n_tracks", [5, 17])
def test_engine_handles_track_counts_that_are_not_multiples_of_8(cfg, n_tracks):
    bars = random_bars(4, n=6, n_tracks=n_tracks)
    for mode in (cfg.paper, cfg.musical):
        assert_same(
            IMPLEMENTATIONS["engine"](bars, mode, cfg), IMPLEMENTATIONS["loop"](bars, mode, cfg)
        )


def test_threads_give_identical_statistics(cfg):
    bars = random_bars(5, n=40)
    one = bar_statistics(bars, max_window=4, block=4, threads=1)
    two = bar_statistics(bars, max_window=4, block=4, threads=2)
    for name in ("counts", "pairs", "beat_pitch", "bar_pitch"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    for a, b in zip(one.windows, two.windows, strict=True):
        np.testing.assert_array_equal(a, b)


def test_byte_totals_fast_path_equals_plain_sum():
    x = np.random.default_rng(0).integers(0, 256, size=(5, 96, 16), dtype=np.uint8)
    np.testing.assert_array_equal(byte_totals(x), x.sum(axis=1))
    np.testing.assert_array_equal(byte_totals(x[..., :5]), x[..., :5].sum(axis=1))


def test_engine_counts_saturate_no_byte(cfg):
    bars = np.ones((2, 96, 84, 8), dtype=bool)  # every cell active: the largest byte counts
    stats = bar_statistics(bars, max_window=4)
    assert (stats.counts == 84).all() and (stats.bar_pitch == 96).all()
    assert (stats.windows[0] == 96 * 84).all() and (stats.windows[3] == 93 * 84).all()
    assert_same(
        IMPLEMENTATIONS["engine"](bars, cfg.paper, cfg),
        IMPLEMENTATIONS["loop"](bars, cfg.paper, cfg),
    )


def test_streaming_in_chunks_equals_one_batch(cfg, real_bars):
    phrases = real_bars.reshape(-1, 4, 96, 84, 8)  # 12 phrases
    evaluator = PhraseEvaluator(cfg, ["paper", "musical"], 8)
    for start in range(0, len(phrases), 5):
        evaluator.add(phrases[start : start + 5])
    chunked = evaluator.result(TRACKS)
    for mode in ("paper", "musical"):
        whole = evaluate_phrases(phrases, cfg, mode, TRACKS)
        assert_blocks_close(chunked[mode], whole)
        # and the per-track means are those of the loop oracle over all bars
        scores, tonal = IMPLEMENTATIONS["loop"](real_bars, getattr(cfg, mode), cfg)
        acc = Accumulator(8)
        acc.add(scores, tonal)
        assert_blocks_close(mode_block(acc, mode, len(phrases), TRACKS), whole)


def test_torch_input_and_table_numbers(cfg, real_bars):
    torch = pytest.importorskip("torch")
    from pipeline.metrics import phrase_table_numbers

    phrases = real_bars.reshape(-1, 4, 96, 84, 8)
    numbers = phrase_table_numbers(torch.from_numpy(phrases), cfg, "paper")
    block = evaluate_phrases(phrases, cfg, "paper", TRACKS)["aggregate"]
    assert numbers == pytest.approx(
        {
            "QN": block["qualified_note_rate"],
            "PP": block["polyphonicity"],
            "TD": block["tonal_distance"],
        }
    )
