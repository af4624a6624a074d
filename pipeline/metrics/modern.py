"""Mode ``modern``: the per-phrase measures newer papers report, vectorised (docs/metrics.md).

The 2018 metrics are per bar; these are defined per **four-bar phrase** and per track:
pitch-class entropy, scale consistency and polyphony (non-drum tracks, as in muspy 0.5.0), and
empty-beat rate and groove consistency (every track, drums included). A **note** is a maximal
run of consecutive active steps of one pitch within the phrase: unlike the per-bar metrics
(:func:`pipeline.metrics.intra_track.note_onsets`), a note held across a bar line is one note,
as it is for muspy. Its onset is the run's first step; a drum hit is an onset too (the ``onset``
drum semantics of the 2018 modes; a held drum cell is one hit).

Everything follows from three small statistics of each phrase (:class:`PhraseStatistics`), found
in one streaming pass with the same SWAR trick as :mod:`pipeline.metrics.engine` (the 8 tracks of
one cell are 8 bytes of a ``uint64`` word, so a sum over pitches or steps is one NumPy reduction
for all tracks):

* ``counts[n, s, t]``: active pitches at step ``s`` of the phrase (``s`` < 384);
* ``onsets[n, s, t]``: notes starting at step ``s``;
* ``notes[n, p, t]``: notes of pitch ``p`` in the phrase (at most 192).

Undefined values are NaN: the measures of a track without a note in the phrase (but its
empty-beat rate, 1.0), and the pitch measures of the drum track. :func:`phrase_features` gives
the per-phrase features of the Yang & Lerch distances (:mod:`pipeline.metrics.distances`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.metrics.chroma import chroma_matrix
from pipeline.metrics.engine import pack_tracks, unpack_counts

BLOCK_PHRASES = 8  # phrases per block: 8 x 384 x 84 x 8 bytes = 2 MiB of temporaries
MEASURES = (
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
    "empty_beat_rate",
    "groove_consistency",
)
PITCHED_ONLY = ("pitch_class_entropy", "scale_consistency", "polyphony")
MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)  # natural minor


@dataclass(frozen=True)
class PhraseStatistics:
    """The sufficient statistics of a batch of phrases (see the module docstring)."""

    counts: NDArray[np.uint8]  # (n, steps, tracks): active pitches per step
    onsets: NDArray[np.uint8]  # (n, steps, tracks): notes starting per step
    notes: NDArray[np.uint8]  # (n, pitches, tracks): notes per pitch
    n_bars: int
    resolution: int  # steps per beat
    lowest_pitch: int  # MIDI number of pitch index 0

    @property
    def steps_per_bar(self) -> int:
        return int(self.counts.shape[1]) // self.n_bars


def phrase_statistics(
    phrases: NDArray, resolution: int = 24, lowest_pitch: int = 24, block: int = BLOCK_PHRASES
) -> PhraseStatistics:
    """Compute :class:`PhraseStatistics` of bool ``phrases`` (n, bars, steps, pitches, tracks).

    Any non-zero entry is active. The bars of a phrase are concatenated, so a run crossing a bar
    line is one note. Memory: about 2 bytes per (phrase, step, track) plus the note counts.
    """
    if phrases.ndim != 5:
        raise ValueError(f"phrases must be (n, bars, steps, pitches, tracks), got {phrases.shape}")
    n, n_bars, n_steps, n_pitches, _ = phrases.shape
    if n_bars * n_steps > 2 * 255:
        raise ValueError(f"a phrase of {n_bars * n_steps} steps overflows the note counts")
    words, n_tracks = pack_tracks(phrases.reshape(n, n_bars * n_steps, n_pitches, -1))
    length, n_words = words.shape[1], words.shape[3]
    counts = np.empty((n, length, n_words), np.uint64)
    onsets = np.empty((n, length, n_words), np.uint64)
    notes = np.empty((n, n_pitches, n_words), np.uint64)
    starts = np.empty((block, length, n_pitches, n_words), np.uint64)
    for first in range(0, n, block):
        x = words[first : first + block]  # (b, S, P, G), bytes 0 or 1
        b, part = x.shape[0], slice(first, first + x.shape[0])
        on = starts[:b]
        on[:, 0] = x[:, 0]
        np.invert(x[:, :-1], out=on[:, 1:])  # a byte 1 -> 0xFE, 0 -> 0xFF ...
        np.bitwise_and(on[:, 1:], x[:, 1:], out=on[:, 1:])  # ... so & x is 1 at a run start
        np.add.reduce(x, axis=2, out=counts[part])
        np.add.reduce(on, axis=2, out=onsets[part])
        np.add.reduce(on, axis=1, out=notes[part])
    return PhraseStatistics(
        counts=unpack_counts(counts, n_tracks),
        onsets=unpack_counts(onsets, n_tracks),
        notes=unpack_counts(notes, n_tracks),
        n_bars=n_bars,
        resolution=resolution,
        lowest_pitch=lowest_pitch,
    )


def _ratio(numerator: NDArray, denominator: NDArray) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def pitch_class_histogram(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Notes per pitch class (n, tracks, 12): each note counts once, whatever its length."""
    matrix = chroma_matrix(stats.notes.shape[1], "pitch_class", stats.lowest_pitch)
    notes = np.ascontiguousarray(stats.notes.transpose(0, 2, 1), dtype=np.float64)
    return notes @ matrix


def note_count(stats: PhraseStatistics) -> NDArray[np.int64]:
    """Notes in the phrase (n, tracks)."""
    return stats.notes.sum(axis=1, dtype=np.int64)


def pitch_class_entropy(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Pitch-class entropy (n, tracks), in bits (Wu & Yang 2020; muspy ``pitch_class_entropy``).

    The Shannon entropy (base 2) of the phrase's normalised pitch-class histogram of notes:
    0 when every note has one pitch class, log2(12) = 3.585 when the 12 are equally used.
    NaN for a track without a note.
    """
    hist = pitch_class_histogram(stats)
    total = hist.sum(axis=-1, keepdims=True)
    prob = _ratio(hist, total)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(prob > 0, -prob * np.log2(np.where(prob > 0, prob, 1.0)), 0.0)
    return np.where(total[..., 0] > 0, terms.sum(axis=-1), np.nan)


def scale_masks() -> NDArray[np.float64]:
    """The 24 major and natural-minor scales as a (12, 24) 0/1 matrix (roots C..B, major first)."""
    return np.stack([np.roll(s, root) for s in (MAJOR, MINOR) for root in range(12)], axis=1) * 1.0


def scale_consistency(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Scale consistency (n, tracks) (Mogren 2016; muspy ``scale_consistency``).

    The largest fraction of the phrase's notes that lie in one scale, over the 12 major and the
    12 natural-minor scales. Counts notes, not steps. NaN for a track without a note.
    """
    hist = pitch_class_histogram(stats)
    in_scale = (hist @ scale_masks()).max(axis=-1)
    return _ratio(in_scale, hist.sum(axis=-1))


def polyphony(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Polyphony (n, tracks) (muspy ``polyphony``).

    The mean number of pitches sounding at the steps where at least one sounds. Unlike the 2018
    polyphonicity (a rate over all steps with a threshold), silent steps are left out and there
    is no threshold: a monophonic line scores 1. NaN for a silent track.
    """
    counts = stats.counts
    return _ratio(counts.sum(axis=1, dtype=np.int64), np.count_nonzero(counts, axis=1))


def empty_beat_rate(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Empty-beat rate (n, tracks) (Dong et al. 2018, Pypianoroll; muspy ``empty_beat_rate``).

    The fraction of the phrase's beats (16 in four 4/4 bars) in which the track sounds at no
    step. All beats of the phrase count, trailing silent ones included (muspy counts beats up to
    the last note only, and one beat too many: docs/metrics.md). A silent track has 16 empty
    beats of 16, so its rate is 1.0: a phrase of fixed length defines it (muspy has no beats to
    count without a note), and a model whose tracks fall silent must not drop out of the mean.
    """
    n, length, n_tracks = stats.counts.shape
    n_beats = length // stats.resolution
    beats = stats.counts[:, : n_beats * stats.resolution].reshape(
        n, n_beats, stats.resolution, n_tracks
    )
    sounding = beats.any(axis=2).sum(axis=1)  # (n, tracks)
    return 1.0 - sounding / n_beats


def groove_consistency(stats: PhraseStatistics) -> NDArray[np.float64]:
    """Groove consistency (n, tracks) (Wu & Yang 2020; muspy ``groove_consistency``).

    Each bar's groove is its binary onset pattern (a step is 1 if a note starts there);
    consistency = 1 - the mean over the phrase's successive bar pairs of their Hamming distance
    divided by the steps per bar. Always over the phrase's own bars (muspy derives the number of
    bars from the last note's end, adding an empty bar when it ends on a bar line:
    docs/metrics.md). NaN for a track without a note or a phrase of one bar.
    """
    n, length, n_tracks = stats.onsets.shape
    patterns = (stats.onsets > 0).reshape(n, stats.n_bars, stats.steps_per_bar, n_tracks)
    hamming = np.count_nonzero(patterns[:, 1:] != patterns[:, :-1], axis=(1, 2))
    pairs = stats.steps_per_bar * (stats.n_bars - 1)
    defined = (note_count(stats) > 0) & (pairs > 0)
    return np.where(defined, 1.0 - hamming / max(pairs, 1), np.nan)


def phrase_measures(stats: PhraseStatistics, drum_track: int) -> NDArray[np.float64]:
    """All :data:`MEASURES` (5, n, tracks), NaN where undefined or not applicable (drums)."""
    values = np.stack(
        [
            pitch_class_entropy(stats),
            scale_consistency(stats),
            polyphony(stats),
            empty_beat_rate(stats),
            groove_consistency(stats),
        ]
    )
    for m, name in enumerate(MEASURES):
        if name in PITCHED_ONLY and 0 <= drum_track < values.shape[-1]:
            values[m, :, drum_track] = np.nan
    return values
