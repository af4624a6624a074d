"""Phrases to MIDI files, so users can listen to samples.

symusic writes the MIDI file (``write_midi``); each track keeps the GM program and drum flag that
the phrase file stores (for ``bmusegan8`` the first program of each family, as the original did).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypianoroll

from pipeline.data.phrase_file import TrackInfo
from pipeline.export.audio import phrase_score
from pipeline.io import atomic_path

DEFAULT_TEMPO = 100.0  # beats per minute; the tensor uses symbolic timing, so any tempo will do


def phrase_to_multitrack(
    phrase: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float = DEFAULT_TEMPO,
) -> pypianoroll.Multitrack:
    """One phrase (bars, steps, pitches, tracks) as a pypianoroll Multitrack over 128 pitches."""
    n_bars, n_steps, n_pitches, n_tracks = phrase.shape
    length = n_bars * n_steps
    out = []
    for t in range(n_tracks):
        roll = np.zeros((length, 128), dtype=bool)
        # (bars, steps, pitches) -> (bars * steps, pitches), placed at the stored lowest pitch
        roll[:, lowest_pitch : lowest_pitch + n_pitches] = phrase[..., t].reshape(length, n_pitches)
        out.append(
            pypianoroll.BinaryTrack(
                name=tracks.names[t],
                program=int(tracks.programs[t]),
                is_drum=bool(tracks.is_drums[t]),
                pianoroll=roll,
            )
        )
    return pypianoroll.Multitrack(resolution=resolution, tempo=np.full(length, tempo), tracks=out)


def write_midi(
    path: str | Path,
    phrase: np.ndarray,
    tracks: TrackInfo,
    lowest_pitch: int,
    resolution: int,
    tempo: float = DEFAULT_TEMPO,
) -> None:
    """Write one phrase as a MIDI file at ``path`` (atomically), at ``tempo`` bpm.

    symusic writes the file: the notes are the same as ``phrase_to_multitrack``'s (runs of
    active steps), but a dense phrase of an untrained model (about 10^5 notes) takes a fraction
    of a second instead of the ~45 s pypianoroll/pretty_midi needed on this machine (cProfile of
    the sample stage, issue 9).
    """
    score = phrase_score(phrase.astype(bool), tracks, lowest_pitch, resolution, tempo, False)
    with atomic_path(Path(path)) as tmp:
        score.dump_midi(str(tmp))
