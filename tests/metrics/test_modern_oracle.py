"""Mode ``modern`` against muspy 0.5.0 (the oracle, a dev-only dependency) on real LPD phrases.

Each real phrase track becomes a muspy ``Music`` (resolution 24, one note per run of active steps
of one pitch across the whole phrase, pitch = index + 24, drums marked ``is_drum``), and muspy's
metric of it is compared with ours. Pitch-class entropy, scale consistency and polyphony must be
equal outright. Empty-beat rate and groove consistency differ from muspy by definition, in its
handling of a phrase's length (its issue 73) and of a note's end; the tests undo exactly those
differences (docs/metrics.md, "Differences from muspy") and then ask for equality, and show that
the raw values do differ on real phrases, so the adjustment is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.metrics import modern
from tests.metrics.conftest import load_bmusegan8

muspy = pytest.importorskip("muspy", minversion="0.5.0")

RESOLUTION = 24
STEPS_PER_BAR = 96
N_PHRASES = 36


@pytest.fixture(scope="module")
def real_phrases(shared_data: Path) -> np.ndarray:
    """Bool (36, 4, 96, 84, 8): three 4-bar phrases from each of 12 real LPD songs."""
    picked = []
    for path in sorted((shared_data / "lpd" / "lpd_cleansed").rglob("*.npz")):
        bars = load_bmusegan8(path)
        starts = [s for s in range(0, len(bars) - 3, 4) if bars[s : s + 4].any()]
        for start in starts[len(starts) // 4 :: max(1, len(starts) // 3)][:3]:
            picked.append(bars[start : start + 4])
        if len(picked) >= N_PHRASES:
            break
    assert len(picked) >= N_PHRASES
    return np.stack(picked[:N_PHRASES])


def runs(track: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, pitch index, length) of every run of active steps of ``track`` (steps, pitches)."""
    padded = np.zeros((track.shape[0] + 2, track.shape[1]), dtype=np.int8)
    padded[1:-1] = track
    edges = np.diff(padded, axis=0)
    out = []
    for pitch in range(track.shape[1]):
        starts = np.flatnonzero(edges[:, pitch] == 1)
        ends = np.flatnonzero(edges[:, pitch] == -1)
        out += [(int(s), pitch, int(e - s)) for s, e in zip(starts, ends, strict=True)]
    return out


def music(track: np.ndarray, is_drum: bool, duration=lambda length: length) -> muspy.Music:
    """One phrase track (steps, pitches) as a muspy Music; ``duration`` maps run lengths."""
    notes = [
        muspy.Note(time=start, pitch=pitch + 24, duration=duration(length), velocity=64)
        for start, pitch, length in runs(track)
    ]
    return muspy.Music(
        resolution=RESOLUTION, tracks=[muspy.Track(program=0, is_drum=is_drum, notes=notes)]
    )


def tracks_of(phrases: np.ndarray):
    """Every sounding (phrase, track) as (i, t, (384, 84) bool roll)."""
    flat = phrases.reshape(len(phrases), -1, *phrases.shape[3:])  # (n, 384, 84, 8)
    for i in range(len(flat)):
        for t in range(flat.shape[-1]):
            if flat[i, ..., t].any():
                yield i, t, flat[i, ..., t]


@pytest.fixture(scope="module")
def ours(real_phrases: np.ndarray) -> np.ndarray:
    """Our five measures (5, n, 8), drums marked NaN for the pitch measures."""
    return modern.phrase_measures(modern.phrase_statistics(real_phrases), drum_track=0)


def index(name: str) -> int:
    return modern.MEASURES.index(name)


@pytest.mark.parametrize("name", ["pitch_class_entropy", "scale_consistency", "polyphony"])
def test_pitch_measures_equal_muspy(real_phrases, ours, name):
    oracle = getattr(muspy, name)
    checked = 0
    for i, t, roll in tracks_of(real_phrases):
        if t == 0:
            continue  # muspy ignores drum tracks for these; ours are NaN there
        assert ours[index(name), i, t] == pytest.approx(oracle(music(roll, False)), abs=1e-12)
        checked += 1
    assert checked >= 2 * N_PHRASES


def test_empty_beat_rate_equals_muspy_up_to_length_and_note_end(real_phrases, ours):
    """muspy treats a note's end as inclusive (a note filling beat 0 ends at step 24 and marks
    beat 1 as sounding), so notes are passed one step shorter; and it counts the beats up to the
    last note's end, so its count of sounding beats is rescaled to all 16 of the phrase."""
    differ = 0
    for i, t, roll in tracks_of(real_phrases):
        raw = muspy.empty_beat_rate(music(roll, t == 0))
        adjusted = music(roll, t == 0, duration=lambda length: length - 1)
        n_beats = adjusted.get_end_time() // RESOLUTION + 1  # muspy's own count
        sounding = (1 - muspy.empty_beat_rate(adjusted)) * n_beats
        expected = 1 - sounding / 16
        assert ours[index("empty_beat_rate"), i, t] == pytest.approx(expected, abs=1e-12)
        differ += not np.isclose(raw, ours[index("empty_beat_rate"), i, t])
    assert differ > 0, "the raw muspy values should differ on some real phrases"


def test_groove_consistency_equals_muspy_over_the_phrase_bars(real_phrases, ours):
    """muspy takes the number of bars from the last note's end (one bar too many when it ends on
    a bar line, fewer when the last bars are silent). Groove reads onsets only, so notes are
    passed with no length; muspy then sees the bars up to the last onset's, and the bars after
    it, without onsets, add the last one's onsets once to the Hamming sum over our 4 bars."""
    differ = 0
    for i, t, roll in tracks_of(real_phrases):
        raw = muspy.groove_consistency(music(roll, t == 0), STEPS_PER_BAR)
        onsets_only = music(roll, t == 0, duration=lambda length: 0)
        n_bars = onsets_only.get_end_time() // STEPS_PER_BAR + 1
        starts = [start for start, _, _ in runs(roll)]
        if n_bars == 1:
            hamming = 0.0
        else:
            value = muspy.groove_consistency(onsets_only, STEPS_PER_BAR)
            hamming = (1 - value) * STEPS_PER_BAR * (n_bars - 1)
        if n_bars < 4:  # the last bar with onsets against the silent bar after it
            hamming += len({s for s in starts if s // STEPS_PER_BAR == n_bars - 1})
        expected = 1 - hamming / (STEPS_PER_BAR * 3)
        assert ours[index("groove_consistency"), i, t] == pytest.approx(expected, abs=1e-12)
        differ += not np.isclose(raw, ours[index("groove_consistency"), i, t])
    assert differ > 0, "the raw muspy values should differ on some real phrases"


def test_real_phrases_cover_the_cases(real_phrases):
    """The fixture exercises what the adjustments are about: drums, tracks silent in the last
    bar, and notes held across a bar line (one note for muspy and for us)."""
    flat = real_phrases.reshape(len(real_phrases), -1, 84, 8)
    assert flat[..., 0].any()
    silent_last_bar = ~real_phrases[:, 3].any(axis=(1, 2)) & real_phrases.any(axis=(1, 2, 3))
    assert silent_last_bar.any()
    held = real_phrases[:, :-1, -1] & real_phrases[:, 1:, 0]  # (n, 3, 84, 8)
    assert held.any()
