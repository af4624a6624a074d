"""Condition-following: hand-built chords whose distances differ by mode and pairing.

Condition-following is described in docs/accompany.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.metrics.condition import (
    ConditionFollowing,
    bar_distances,
    derangement,
    follow,
    follow_shuffled,
)

NAMES, DRUMS = ["Drums", "Piano", "Guitar", "Bass"], [True, False, False, False]
C_MAJOR, F_SHARP_MAJOR = (0, 4, 7), (6, 10, 13)  # pitch indices above MIDI 24 (C1)


def _phrase(chord: tuple[int, ...], octave_up: int) -> np.ndarray:
    """One phrase: Piano holds ``chord``; Guitar the same chord ``octave_up`` octaves higher;
    Bass silent in bar 3; a drum hit every beat."""
    x = np.zeros((4, 96, 84, 4), dtype=bool)
    x[:, ::24, 10, 0] = True
    for p in chord:
        x[..., p, 1] = True
        x[..., p + 12 * octave_up, 2] = True
        x[:3, :, p, 3] = True
    return x


def test_same_chord_an_octave_apart_is_distance_zero_in_pitch_classes() -> None:
    x = _phrase(C_MAJOR, octave_up=2)[None]
    d = bar_distances(x[..., 1], x[..., 2])
    assert d.shape == (1, 4)
    assert np.allclose(d, 0.0)  # the original's 8-semitone bands would not give 0 here


def test_real_pairs_beat_shuffled_pairs() -> None:
    phrases = np.stack([_phrase(C_MAJOR, 1), _phrase(F_SHARP_MAJOR, 1)])
    real = follow([phrases], ConditionFollowing(1, NAMES, DRUMS))
    shuffled = follow_shuffled([phrases], ConditionFollowing(1, NAMES, DRUMS), seed=0)
    assert list(real["tracks"]) == ["Guitar", "Bass"]  # drums are skipped
    assert real["td"] == pytest.approx(0.0, abs=1e-12)
    # Bass is silent in the last bar: 3 defined bars per phrase, Guitar 4
    assert real["tracks"]["Bass"]["n_bars"] == 6 and real["tracks"]["Guitar"]["n_bars"] == 8
    # C major against F# major (a tritone apart): far on every circle of the tonal centroid
    expected = bar_distances(phrases[:1, ..., 1], phrases[1:, ..., 2])[0, 0]
    assert expected > 1.0
    assert shuffled["tracks"]["Guitar"]["td"] == pytest.approx(expected)
    assert shuffled["mode"] == "musical" and shuffled["given_track"] == "Piano"


def test_derangement_has_no_fixed_point() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 3, 7, 50):
        perm = derangement(n, rng)
        assert sorted(perm.tolist()) == list(range(n))
        assert not (perm == np.arange(n)).any()


def test_drum_track_cannot_be_the_given_track() -> None:
    with pytest.raises(ValueError, match="drum track"):
        ConditionFollowing(0, NAMES, DRUMS)
