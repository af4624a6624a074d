"""Reading LPD files and merging tracks: checked against LPD-5 / LPD-17 and pypianoroll."""

from __future__ import annotations

import json

import numpy as np
import pypianoroll
import pytest

from pipeline.data import lpd
from pipeline.data.phrases import dense_song, merge_cells
from pipeline.data.tracks import DROPPED, get_track_set


def _lpd5_twin(data_paths, rel: str):
    return data_paths.lpd5_root / rel


def _binary_stack(multitrack, length: int) -> np.ndarray:
    """pypianoroll tracks as bool (length, 128, n_tracks); empty (0, 128) tracks padded."""
    out = np.zeros((length, 128, len(multitrack.tracks)), dtype=bool)
    for k, track in enumerate(multitrack.tracks):
        roll = track.pianoroll > 0
        out[: roll.shape[0], :, k] = roll
    return out


def test_merge_lpd5_equals_every_lpd5_file(data_paths):
    """Every lpd_cleansed song merged with track set lpd5 is exactly its lpd_5_cleansed file."""
    track_set = get_track_set("lpd5")
    files = sorted(lpd.find_npz_files(data_paths.lpd_root))
    assert len(files) == 497
    for rel in files:
        cells = merge_cells(lpd.read_npz(data_paths.lpd_root / rel), track_set, 0, 128)
        with np.load(_lpd5_twin(data_paths, rel)) as twin:
            info = json.loads(twin["info.json"])
            assert [info[str(k)]["name"] for k in range(5)] == track_set.info.names
            for k in range(5):
                mine = np.zeros(cells.length * 128, dtype=bool)
                mine[cells.times[cells.tracks == k] * 128 + cells.pitches[cells.tracks == k]] = 1
                expected = np.zeros_like(mine)
                expected[_csc_cells(twin, k)] = True
                assert np.array_equal(mine, expected), (rel, k)


def _csc_cells(npz, k: int) -> np.ndarray:
    """time * 128 + pitch of the non-zero cells of CSC track ``k`` (read with np.load)."""
    indptr = npz[f"pianoroll_{k}_csc_indptr"]
    data = npz[f"pianoroll_{k}_csc_data"]
    if len(indptr) == 0 or len(data) == 0:
        return np.zeros(0, dtype=np.int64)
    pitches = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    times = npz[f"pianoroll_{k}_csc_indices"].astype(np.int64)
    return (times * 128 + pitches)[data > 0]


def test_merge_lpd17_equals_the_lpd17_file(data_paths):
    track_set = get_track_set("lpd17")
    (path17,) = sorted(data_paths.lpd17_root.rglob("*.npz"))
    rel = path17.relative_to(data_paths.lpd17_root).as_posix()
    mine = dense_song(lpd.read_npz(data_paths.lpd_root / rel), track_set)
    twin = pypianoroll.load(path17)
    assert [t.name for t in twin.tracks] == track_set.info.names
    assert [t.program for t in twin.tracks] == track_set.info.programs
    expected = _binary_stack(twin, mine.shape[0])
    assert expected.any(axis=(0, 1)).sum() >= 5  # several families really present
    assert np.array_equal(mine, expected)


def test_read_npz_matches_pypianoroll_on_pitch_slice(data_paths):
    """The NumPy reader gives pypianoroll's binarized cells, also for a pitch sub-range."""
    for rel in sorted(lpd.find_npz_files(data_paths.lpd_root))[:20]:
        song = lpd.read_npz(data_paths.lpd_root / rel, pitch_range=(24, 108))
        ref = pypianoroll.load(data_paths.lpd_root / rel)
        assert len(song.tracks) == len(ref.tracks)
        for mine, theirs in zip(song.tracks, ref.tracks, strict=True):
            assert (mine.program, mine.is_drum) == (theirs.program, theirs.is_drum)
            roll = np.zeros_like(theirs.pianoroll, dtype=bool)
            roll[mine.times, mine.pitches] = True
            expected = theirs.pianoroll > 0
            expected[:, :24] = expected[:, 108:] = False
            assert np.array_equal(roll, expected)
        assert song.length == ref.tracks[0].pianoroll.shape[0]


@pytest.mark.parametrize(
    ("program", "is_drum", "bmusegan8", "lpd5", "lpd17"),
    [
        (0, True, 0, 0, 0),  # any drum track -> Drums, whatever its program
        (5, False, 1, 1, 1),  # Piano
        (12, False, DROPPED, 4, 2),  # Chromatic Percussion: dropped / Strings / own family
        (19, False, DROPPED, 4, 3),  # Organ
        (29, False, 2, 2, 4),  # Guitar
        (33, False, 3, 3, 5),  # Bass
        (41, False, DROPPED, 4, 6),  # Strings are dropped by BinaryMuseGAN
        (50, False, 4, 4, 7),  # Ensemble
        (66, False, 5, 4, 9),  # Reed
        (81, False, 6, 4, 11),  # Synth Lead
        (90, False, 7, 4, 12),  # Synth Pad
        (100, False, DROPPED, DROPPED, 13),  # Synth Effects
        (105, False, DROPPED, 4, 14),  # Ethnic: LPD-5 counts it as Strings
        (115, False, DROPPED, DROPPED, 15),  # Percussive
    ],
)
def test_track_sets_map_programs(program, is_drum, bmusegan8, lpd5, lpd17):
    for name, expected in (("bmusegan8", bmusegan8), ("lpd5", lpd5), ("lpd17", lpd17)):
        assert get_track_set(name).track_of(program, is_drum) == expected, name


def test_bmusegan8_track_info():
    info = get_track_set("bmusegan8").info
    assert info.names == [
        "Drums",
        "Piano",
        "Guitar",
        "Bass",
        "Ensemble",
        "Reed",
        "Synth Lead",
        "Synth Pad",
    ]
    assert info.programs == [0, 0, 24, 32, 48, 64, 80, 88]
    assert info.is_drums == [True, False, False, False, False, False, False, False]
    with pytest.raises(ValueError, match="unknown track set 'foo'"):
        get_track_set("foo")


def test_empty_tracks_shape_zero_are_padded(data_paths):
    """LPD-5 stores empty tracks as (0, 128); the reader gives no cells, full song length."""
    for path in sorted(data_paths.lpd5_root.rglob("*.npz"))[:40]:
        header = lpd.read_npz_header(path)
        song = lpd.read_npz(path)
        ref = pypianoroll.load(path)
        empty = [t.pianoroll.shape[0] == 0 for t in ref.tracks]
        if any(empty):
            assert song.length == header.length == max(t.pianoroll.shape[0] for t in ref.tracks)
            for track, is_empty in zip(song.tracks, empty, strict=True):
                if is_empty:
                    assert len(track.times) == 0
            return
    pytest.fail("no LPD-5 file with an empty track among the first 40")
