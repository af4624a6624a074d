"""MIDI files become exactly the piano-roll LPD holds for them (../shared/data/lmd_to_lpd).

20 Lakh MIDI files beside the LPD-cleansed ``.npz`` the LPD authors made from each (26 MSD ids:
six md5s have two). The reference side is read with pypianoroll.load (velocities, tempo,
downbeat, track metadata) and with our own LPD reader (binarized cells), never with the converter.
"""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pypianoroll
import pytest

from pipeline.data import lpd, midi
from tests.data.conftest import build_cfg, filter_cfg, run_build, run_filter


@pytest.fixture(scope="module")
def lmd_to_lpd(shared_data: Path) -> Path:
    return shared_data / "lmd_to_lpd"


@pytest.fixture(scope="module")
def rows(lmd_to_lpd: Path) -> list[dict[str, str]]:
    with open(lmd_to_lpd / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))


def _reference_roll(track: pypianoroll.Track, length: int) -> np.ndarray:
    """LPD stores an empty track as shape (0, 128): pad it to the song length."""
    if track.pianoroll.shape[0] == 0:
        return np.zeros((length, 128), dtype=np.uint8)
    return track.pianoroll


def _mismatches(converted: midi.MidiPianoroll, npz: Path) -> list[str]:
    """Every way the converted file differs from the LPD file (empty when they are equal)."""
    ref = pypianoroll.load(npz)
    ours = lpd.read_npz(npz)  # the project's reader: length and binarized cells
    song = converted.to_song()
    found = []
    if converted.length != ours.length or converted.length != len(ref.downbeat):
        found.append(f"length {converted.length} vs {ours.length}")
    if not np.array_equal(converted.tempo, ref.tempo.ravel()):
        found.append("tempo")
    if converted.downbeat is None or not np.array_equal(converted.downbeat, ref.downbeat):
        found.append("downbeat")
    meta = [(t.program, t.is_drum, t.name) for t in converted.tracks]
    if meta != [(t.program, t.is_drum, t.name) for t in ref.tracks]:
        found.append("track count, order, programs, drum flags or names")
        return found
    for k, track in enumerate(ref.tracks):
        if not np.array_equal(converted.dense_track(k), _reference_roll(track, converted.length)):
            found.append(f"track {k} velocities")
        if not np.array_equal(song.dense_track(k), ours.dense_track(k)):
            found.append(f"track {k} cells")
    return found


def test_every_file_converts_to_its_lpd_npz(lmd_to_lpd, rows):
    assert len(rows) == 26 and len({r["md5"] for r in rows}) == 20
    converted: dict[str, midi.MidiPianoroll] = {}
    mismatched = {}
    for row in rows:
        if row["md5"] not in converted:
            converted[row["md5"]] = midi.convert(midi.read_midi(lmd_to_lpd / row["midi"]))
        problems = _mismatches(converted[row["md5"]], lmd_to_lpd / row["npz"])
        if problems:
            mismatched[row["npz"]] = problems
    assert mismatched == {}
    # The checks had something to check: velocities other than one value, tempo changes (where
    # the old converter's tiled tempo layout differs from a per-beat repeat), overlapping notes.
    values = np.concatenate([t.velocities for c in converted.values() for t in c.tracks])
    assert len(np.unique(values)) > 20
    varying = [c for c in converted.values() if np.ptp(c.tempo) > 1.0]
    assert varying
    for c in varying:  # tiled: the first n_beats entries are the per-beat tempi
        assert not np.array_equal(c.tempo, np.repeat(c.tempo[: c.length // 24], 24))


def test_build_tensor_from_midi_equals_build_tensor_from_lpd(
    params, data_paths, lmd_to_lpd, tmp_path
):
    """Same songs, same phrases, byte for byte (phrases are drawn per song from seed and md5)."""
    midi_root, lpd_root = lmd_to_lpd / "lmd_full", lmd_to_lpd / "lpd_cleansed"
    for source, root in (("midi", midi_root), ("lpd", lpd_root)):
        out = tmp_path / source
        out.mkdir()
        cfg = filter_cfg(params, source=source, tag=None)
        run_filter(cfg, data_paths, out, lpd_root=root, midi_dir=root)
        run_build(build_cfg(params), data_paths, out, lpd_root=root, midi_dir=root)
    manifests = {}
    for source in ("midi", "lpd"):
        with open(tmp_path / source / "manifest.csv", newline="") as f:
            manifests[source] = [
                {k: v for k, v in row.items() if k not in ("path", "source")}
                for row in csv.DictReader(f)
            ]
    assert len(manifests["lpd"]) == 20
    assert manifests["midi"] == manifests["lpd"]  # md5, MSD ids, lengths, tags, order
    with (
        h5py.File(tmp_path / "midi" / "phrases.h5") as a,
        h5py.File(tmp_path / "lpd" / "phrases.h5") as b,
    ):
        assert len(a["phrases"]) == 6 * 19  # one song is too short for six phrases
        for name in ("phrases", "msd_id", "md5", "start_bar"):
            assert np.array_equal(a[name][:], b[name][:]), name
    midi_bytes = (tmp_path / "midi" / "phrases.h5").read_bytes()
    assert midi_bytes == (tmp_path / "lpd" / "phrases.h5").read_bytes()
