"""Hand-built bars whose expected values tell the right implementation from plausible wrong ones.

Every test runs on the three implementations (fast engine, pure functions, per-bar loop). Track
indices: 0 drums, 1 piano, 2 guitar. Pitch index i is MIDI 24 + i, so index 0 = C1, 12 = C2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.metrics import evaluate_phrases, intra_track
from pipeline.metrics.aggregate import METRICS
from pipeline.metrics.chroma import chroma_bins, to_chroma
from tests.metrics.conftest import TRACKS, empty_bars

QN, PP, IS, DP, NCU = (
    METRICS.index(m)
    for m in (
        "qualified_note_rate",
        "polyphonicity",
        "in_scale_rate",
        "drum_pattern_rate",
        "n_chroma_used",
    )
)
PIANO, GUITAR = 1, 2


def test_qualified_note_rate_two_step_note_is_qualified_only_in_paper_mode(impl, cfg):
    bars = empty_bars()
    bars[0, 0:1, 40, PIANO] = True  # 1 step
    bars[0, 10:12, 41, PIANO] = True  # 2 steps: qualified in paper (>= 2), not in musical (>= 3)
    bars[0, 20:23, 42, PIANO] = True  # 3 steps
    bars[0, 94:96, 43, PIANO] = True  # 2 steps ending at the bar line
    paper, _ = impl(bars, cfg.paper, cfg)
    musical, _ = impl(bars, cfg.musical, cfg)
    assert paper[QN, PIANO, 0] == pytest.approx(3 / 4)  # "> 2" would give 1/4
    assert musical[QN, PIANO, 0] == pytest.approx(1 / 4)


def test_qualified_note_rate_counts_runs_per_pitch_within_the_bar(impl, cfg):
    bars = empty_bars(2)
    bars[0, 0:5, 40, PIANO] = bars[0, 0:5, 41, PIANO] = True  # two 5-step notes, two pitches
    bars[0, 6, 40, PIANO] = True  # a separate 1-step note after a one-step gap
    bars[0, 95, 50, PIANO] = bars[1, 0, 50, PIANO] = True  # a note split by the bar line
    paper, _ = impl(bars, cfg.paper, cfg)
    assert paper[QN, PIANO, 0] == pytest.approx(2 / 4)
    assert paper[QN, PIANO, 1] == 0.0  # one 1-step half of the split note


def test_polyphonicity_exactly_two_pitches(impl, cfg):
    bars = empty_bars()
    bars[0, 0:12, [40, 44], PIANO] = True  # 12 steps with exactly 2 pitches
    bars[0, 12:18, [40, 44, 47], PIANO] = True  # 6 steps with 3 pitches
    bars[0, 18:30, 40, PIANO] = True  # monophonic; steps 30..95 silent (in the denominator)
    paper, _ = impl(bars, cfg.paper, cfg)
    musical, _ = impl(bars, cfg.musical, cfg)
    assert paper[PP, PIANO, 0] == pytest.approx(18 / 96)  # not 18 / 30 (silent steps count)
    assert musical[PP, PIANO, 0] == pytest.approx(6 / 96)


def test_chroma_bands_versus_pitch_classes():
    c1, c2, c3 = 0, 12, 24
    band8 = chroma_bins(84, "band8")
    assert [band8[c1], band8[c2], band8[c3]] == [0, 1, 3]
    assert set(band8) == set(range(11))  # bin 11 is never used
    pitch_class = chroma_bins(84, "pitch_class", lowest_pitch=24)
    assert [pitch_class[c1], pitch_class[c2], pitch_class[c3]] == [0, 0, 0]
    assert pitch_class[7] == 7  # G1
    roll = np.zeros((1, 84), dtype=bool)
    roll[0, [c1, c2]] = True
    assert to_chroma(roll, "band8")[0].tolist() == [1, 1] + [0] * 10
    assert to_chroma(roll, "pitch_class")[0].tolist() == [2] + [0] * 11


def test_c1_and_c2_in_chroma_metrics(impl, cfg):
    bars = empty_bars()
    bars[0, 0:48, 0, PIANO] = True  # C1 for two beats
    bars[0, 48:96, 12, PIANO] = True  # C2 for two beats
    paper, _ = impl(bars, cfg.paper, cfg)
    musical, _ = impl(bars, cfg.musical, cfg)
    assert paper[NCU, PIANO, 0] == 2  # bands 0 and 1
    assert musical[NCU, PIANO, 0] == 1  # both are C
    assert paper[IS, PIANO, 0] == pytest.approx(0.5)  # band 1 is outside the C-major mask
    assert musical[IS, PIANO, 0] == pytest.approx(1.0)


def test_tonal_distance_same_pitch_class_in_two_octaves(impl, cfg):
    bars = empty_bars()
    bars[0, :, 0, PIANO] = True  # C1 throughout
    bars[0, :, 12, GUITAR] = True  # C2 throughout
    _, paper = impl(bars, cfg.paper, cfg)
    _, musical = impl(bars, cfg.musical, cfg)
    assert musical[0] == pytest.approx(0.0, abs=1e-12)
    # bands 0 and 1: the centroids of bins 0 and 1 of the tonal matrix
    k = np.arange(2)
    rows = [
        r * f(k * step * np.pi)
        for r, step in ((1.0, 7 / 6), (1.0, 3 / 2), (0.5, 2 / 3))
        for f in (np.sin, np.cos)
    ]
    centroids = np.array(rows)
    assert paper[0] == pytest.approx(np.linalg.norm(centroids[:, 0] - centroids[:, 1]))


def test_tonal_distance_bar_with_a_silent_beat_drops_out(cfg):
    bars = empty_bars(2)
    bars[:, :, 0, PIANO] = True  # C1 in both bars
    bars[0, 0:72, 7, GUITAR] = True  # bar 0: G1 in beats 1-3, guitar silent in beat 4
    bars[1, :, 4, GUITAR] = True  # bar 1: E1 in every beat
    phrases = np.zeros((1, 4, 96, 84, 8), dtype=bool)
    phrases[0, :2] = bars
    from tests.metrics.conftest import IMPLEMENTATIONS

    for name, impl in IMPLEMENTATIONS.items():
        _, td = impl(bars, cfg.musical, cfg)
        assert math.isnan(td[0]), name  # not the mean of the three sounding beats
        assert np.isfinite(td[1]), name
    _, td = IMPLEMENTATIONS["loop"](bars, cfg.musical, cfg)
    result = evaluate_phrases(phrases, cfg, "musical", TRACKS)
    # the mean over defined bars only: bar 1 (bars 2, 3 are empty and undefined too)
    assert result["aggregate"]["tonal_distance"] == pytest.approx(td[1])


def _grid_hits(offsets: list[int]) -> np.ndarray:
    bars = empty_bars()
    for i in range(16):
        bars[0, 6 * i + offsets[i % len(offsets)], 2, 0] = True  # isolated 1-step kick hits
    return bars


def test_drum_pattern_on_grid_bool_versus_float(cfg):
    drums = _grid_hits([0])[..., 0]  # (1, 96, 84) bool, every hit on the 16th grid
    assert intra_track.drum_pattern_rate(drums, cfg.drum_filter, "onset")[0] == 1.0
    # the original with a bool array: NumPy diff is XOR, offsets count as hits
    assert intra_track.drum_pattern_rate(drums, cfg.drum_filter, "dtype")[0] == pytest.approx(0.55)
    assert intra_track.drum_pattern_rate(drums.astype(np.float32), cfg.drum_filter, "dtype")[
        0
    ] == pytest.approx(1.0)
    assert intra_track.drum_pattern_rate(drums, cfg.drum_filter, "xor")[0] == pytest.approx(0.55)


def test_drum_pattern_dtype_quirk_in_the_loop_oracle(cfg):
    from pipeline.metrics.loop_reference import loop_bar_scores

    bars = _grid_hits([0])
    as_bool, _ = loop_bar_scores(bars, cfg.paper, cfg, drum_semantics="dtype")
    as_float, _ = loop_bar_scores(bars.astype(np.float64), cfg.paper, cfg, drum_semantics="dtype")
    assert as_bool[DP, 0, 0] == pytest.approx(0.55)
    assert as_float[DP, 0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("offsets", "onset", "xor"),
    [
        ([0], 1.0, 0.55),  # on the grid
        ([3], 1.0, 0.55),  # consistently shifted by 3: the best circular shift finds it
        ([0, 3], 0.5, 0.275),  # half off the grid
        ([0, 1], 0.55, 0.55),  # half one step late: weight 0.1
    ],
)
def test_drum_pattern_on_and_off_grid(impl, cfg, offsets, onset, xor):
    import dataclasses

    bars = _grid_hits(offsets)
    scores, _ = impl(bars, cfg.paper, cfg)
    assert scores[DP, 0, 0] == pytest.approx(onset)
    xor_mode = dataclasses.replace(cfg.paper, drum_semantics="xor")
    scores, _ = impl(bars, xor_mode, cfg)
    assert scores[DP, 0, 0] == pytest.approx(xor)
    assert np.isnan(scores[DP, PIANO:, 0]).all()  # DP is a drums-only metric


def test_empty_bar_is_excluded_from_every_metric_but_eb(impl, cfg):
    bars = empty_bars(2)
    bars[1, 0:2, [40, 43, 47], PIANO] = True  # bar 1: three pitches, bar 0 empty
    scores, td = impl(bars, cfg.paper, cfg)
    assert scores[0, PIANO].tolist() == [1.0, 0.0]
    assert np.isnan(scores[1:, PIANO, 0]).all()
    assert scores[1, PIANO, 1] == 3
    assert np.isnan(td).all()  # guitar never plays


def test_aggregation_skips_empty_bars_and_silent_tracks(cfg):
    phrases = np.zeros((1, 4, 96, 84, 8), dtype=bool)
    phrases[0, 1, 0:2, [40, 43, 47], PIANO] = True  # piano: 3 pitches in bar 1 only, 2-step notes
    phrases[0, :, 0:1, 50, GUITAR] = True  # guitar: one 1-step note per bar
    for mode in ("paper", "musical"):
        result = evaluate_phrases(phrases, cfg, mode, TRACKS)
        piano, guitar = result["per_track"]["piano"], result["per_track"]["guitar"]
        assert piano["empty_bar_rate"] == 0.75
        assert piano["n_pitches_used"] == 3.0  # mean over the non-empty bar, not 3 / 4
        assert guitar["qualified_note_rate"] == 0.0
        bass = result["per_track"]["bass"]  # a track that never plays
        assert bass["empty_bar_rate"] == 1.0
        assert all(bass[m] is None for m in METRICS[1:])
        assert result["per_track"]["drums"]["qualified_note_rate"] is None
        expected_qn = {"paper": 0.5, "musical": 0.0}[mode]  # mean of piano and guitar only
        assert result["aggregate"]["qualified_note_rate"] == pytest.approx(expected_qn)
        assert result["aggregate"]["empty_bar_rate"] == pytest.approx((1 + 0.75 + 0 + 5) / 8)
        assert result["aggregate"]["drum_pattern_rate"] is None
        assert result["aggregate"]["tonal_distance"] is None  # piano silent in beats 2-4
        assert result["n_phrases"] == 1 and result["n_bars"] == 4
