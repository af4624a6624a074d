"""Phrases to MIDI files, so users can listen to samples.

symusic writes the MIDI file (``write_midi``); each track keeps the GM program and drum flag that
the phrase file stores (for ``bmusegan8`` the first program of each family, as the original did).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.phrase_file import TrackInfo
from pipeline.export.audio import phrase_score
from pipeline.io import atomic_path

DEFAULT_TEMPO = 100.0  # beats per minute; the tensor uses symbolic timing, so any tempo will do


def write_midi(
    path: str | Path,
    phrase: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float = DEFAULT_TEMPO,
) -> None:
    """Write one phrase as a MIDI file at ``path`` (atomically), at ``tempo`` bpm.

    symusic writes the file: each run of active steps is one note, as pypianoroll would write
    it, but a dense phrase of an untrained model (about 10^5 notes) takes a fraction of a second,
    where pypianoroll and pretty_midi build a Python object per note and take tens of seconds.
    Not importing pypianoroll also keeps the sample stage's start-up short.
    """
    score = phrase_score(phrase.astype(bool), tracks, lowest_pitch, resolution, tempo, False)
    with atomic_path(Path(path)) as tmp:
        score.dump_midi(str(tmp))
