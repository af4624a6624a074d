"""Mode ``modern``'s per-phrase measures on hand-built phrases with known values, and the
statistics pass against a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.metrics import modern

C4, E4, G4, A4 = 60 - 24, 64 - 24, 67 - 24, 69 - 24


def phrase() -> np.ndarray:
    return np.zeros((1, 4, 96, 84, 8), dtype=bool)


def measures(x: np.ndarray) -> dict[str, np.ndarray]:
    values = modern.phrase_measures(modern.phrase_statistics(x), drum_track=0)
    return {name: values[m] for m, name in enumerate(modern.MEASURES)}


def test_statistics_equal_a_direct_computation():
    x = np.random.default_rng(0).random((20, 4, 96, 84, 8)) < 0.05
    stats = modern.phrase_statistics(x, block=3)  # blocks that do not divide the batch
    flat = x.reshape(20, 384, 84, 8)
    onset = flat.copy()
    onset[:, 1:] &= ~flat[:, :-1]  # run starts across the whole phrase, bar lines included
    np.testing.assert_array_equal(stats.counts, flat.sum(axis=2))
    np.testing.assert_array_equal(stats.onsets, onset.sum(axis=2))
    np.testing.assert_array_equal(stats.notes, onset.sum(axis=1))


def test_triad_held_through_the_phrase():
    """Piano holds C-E-G for all 16 beats: one note each (held across the bar lines)."""
    x = phrase()
    x[0, :, :, [C4, E4, G4], 1] = True
    m = measures(x)
    assert m["pitch_class_entropy"][0, 1] == pytest.approx(math.log2(3))
    assert m["scale_consistency"][0, 1] == 1.0
    assert m["polyphony"][0, 1] == 3.0
    assert m["empty_beat_rate"][0, 1] == 0.0
    # onsets only at step 0 of bar 1: bars 1->2 differ in 1 of 96 steps, the rest agree
    assert m["groove_consistency"][0, 1] == pytest.approx(1 - 1 / (96 * 3))
    for name in modern.MEASURES:  # the other tracks are silent: undefined, but ...
        if name != "empty_beat_rate":
            assert np.isnan(m[name][0, 2])
    assert m["empty_beat_rate"][0, 2] == 1.0  # ... 16 of 16 beats are empty


def test_entropy_counts_notes_not_steps_and_scale_takes_the_best_key():
    """Four notes: C (long), C (short, later), E, A#: pitch classes {C: 2, E: 1, A#: 1}."""
    x = phrase()
    x[0, 0, 0:90, C4, 1] = True
    x[0, 1, 0:3, C4, 1] = True
    x[0, 2, 0:3, E4, 1] = True
    x[0, 3, 0:3, A4 + 1, 1] = True  # A#: in F major (and D minor), with C and E
    m = measures(x)
    expected = -(0.5 * math.log2(0.5) + 2 * 0.25 * math.log2(0.25))
    assert m["pitch_class_entropy"][0, 1] == pytest.approx(expected)
    assert m["scale_consistency"][0, 1] == 1.0  # C major would give 3/4
    x[0, 3, 0:3, A4 + 1, 1] = False
    x[0, 3, 0:3, A4 - 3, 1] = True  # F#: no major or minor scale holds C, E and F#... G major!
    assert measures(x)["scale_consistency"][0, 1] == 1.0
    x[0, 3, 10:13, 1 + C4, 1] = True  # and C#: at most 4 of 5 notes in one scale
    assert measures(x)["scale_consistency"][0, 1] == pytest.approx(4 / 5)


def test_polyphony_ignores_silent_steps_and_empty_beats_count_all_sixteen():
    x = phrase()
    x[0, 0, 0:24, [C4, E4], 1] = True  # two pitches in beat 1 of bar 1 only
    x[0, 0, 24:48, G4, 1] = True  # one pitch in beat 2
    m = measures(x)
    assert m["polyphony"][0, 1] == pytest.approx((24 * 2 + 24 * 1) / 48)
    assert m["empty_beat_rate"][0, 1] == pytest.approx(14 / 16)  # trailing silence counts
    x[0, 0, 47:49, G4, 1] = True  # one step into beat 3: it sounds
    assert measures(x)["empty_beat_rate"][0, 1] == pytest.approx(13 / 16)


def test_groove_consistency_of_drum_patterns():
    """The same 16th-note-free pattern in every bar scores 1; a bar with every onset moved
    scores by the Hamming distances to its neighbours."""
    x = phrase()
    x[0, :, 0:96:24, 0, 0] = True  # kick on every beat of every bar
    m = measures(x)
    assert m["groove_consistency"][0, 0] == 1.0
    assert np.isnan(m["pitch_class_entropy"][0, 0])  # pitch measures skip the drums
    assert np.isnan(m["polyphony"][0, 0])
    x[0, 2] = False
    x[0, 2, 12:96:24, 0, 0] = True  # bar 3 on the off-beats: 8 differences to bars 2 and 4
    assert measures(x)["groove_consistency"][0, 0] == pytest.approx(1 - 16 / (96 * 3))


def test_scale_masks_are_the_24_keys():
    masks = modern.scale_masks()
    assert masks.shape == (12, 24)
    assert (masks.sum(axis=0) == 7).all()
    # each natural minor scale holds the notes of its relative major: 12 distinct pitch sets
    assert len({tuple(col) for col in masks.T}) == 12
    assert len({tuple(col) for col in masks[:, :12].T}) == 12
    np.testing.assert_array_equal(masks[:, 0], modern.MAJOR)  # C major
    np.testing.assert_array_equal(masks[:, 12 + 9], np.roll(modern.MINOR, 9))  # A minor
    np.testing.assert_array_equal(masks[:, 12 + 9], masks[:, 0])  # A minor = C major's notes
