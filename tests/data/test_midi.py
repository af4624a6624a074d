"""The MIDI input path: LPD-cleansed time-signature rules and the 2018 converter's conventions."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pretty_midi
import pypianoroll
import pytest

from pipeline.data import midi
from tests.data.conftest import BMUSEGAN8_FAMILIES, build_cfg, filter_cfg, run_build, run_filter


def _expected_kept(data_paths) -> set[str]:
    """Files whose only time signature is 4/4 at tick 0, from the data's own MANIFEST.csv."""
    rows = csv.DictReader(open(data_paths.midi_manifest))
    return {r["path"] for r in rows if r["time_signatures"] == "4/4@0" and int(r["n_notes"]) > 0}


@pytest.fixture(scope="module")
def midi_run(params, data_paths, tmp_path_factory):
    out = tmp_path_factory.mktemp("midi")
    cfg = filter_cfg(params, source="midi", tag=None, workers=2)
    result = run_filter(cfg, data_paths, out)
    return out, result


def test_only_44_files_are_kept(midi_run, data_paths):
    out, result = midi_run
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    kept = {r["path"] for r in rows}
    assert kept == _expected_kept(data_paths)
    assert len(kept) == 12 and result.n_kept == 12
    for row in rows:
        assert row["source"] == "midi" and row["msd_id"] == ""
        assert row["md5"] == midi.file_md5(data_paths.midi_dir / row["path"])


def test_time_signature_reasons(midi_run):
    out, _ = midi_run
    rule = json.loads((out / "filter.json").read_text())["rules"]["time_signature"]
    files = rule["files"]
    assert "3565Hero.mid" in files["first_beat_not_at_zero"]  # 4/4 but at tick 5
    assert set(files["no_time_signature"]) == {
        "d6caebd1964d9e4a3c5ea59525230e2a.mid",
        "d8faddb8596fff7abb24d78666f73e4e.mid",
    }
    assert {
        "6354774_Macabre Waltz.mid",
        "fur-elise.mid",
        "pop909/022/022.mid",
        "pop909/191/191.mid",
    } == set(files["several_time_signatures"])
    assert {
        "empty.mid",
        "pop909/001/001.mid",
        "pop909/014/014.mid",
        "pop909/107/107.mid",
        "pop909/203/203.mid",
        "pop909/215/215.mid",
        "pop909/307/307.mid",
    } == set(files["not_4_4"])
    assert rule["removed"] == 14


def test_tag_rule_needs_a_listed_md5(params, data_paths, tmp_path):
    result = run_filter(filter_cfg(params, source="midi"), data_paths, tmp_path)
    report = json.loads((tmp_path / "filter.json").read_text())
    assert result.n_kept == 0
    assert report["rules"]["tag"]["removed"] == report["rules"]["tag"]["without_msd_id"] == 26
    # Now list one file's md5 in cleansed_ids under an MSD id that carries the tag.
    folder = tmp_path / "mid"
    folder.mkdir()
    for name in ("Aicha.mid", "Mr. Blue Sky.mid"):
        shutil.copy(data_paths.midi_dir / name, folder / name)
    md5 = midi.file_md5(folder / "Aicha.mid")
    (tmp_path / "ids.txt").write_text(f"{md5}    TRZZZZZ128F0000001\n")
    (tmp_path / "tags").mkdir()
    (tmp_path / "tags" / "id_list_alternative.txt").write_text("TRZZZZZ128F0000001\n")
    run_filter(
        filter_cfg(params, source="midi"),
        data_paths,
        tmp_path,
        midi_dir=folder,
        cleansed_ids=tmp_path / "ids.txt",
        lastfm_dir=tmp_path / "tags",
    )
    (row,) = list(csv.DictReader(open(tmp_path / "manifest.csv")))
    assert (row["path"], row["msd_id"], row["md5"], row["tags"]) == (
        "Aicha.mid",
        "TRZZZZZ128F0000001",
        md5,
        "alternative",
    )


def test_truncated_and_duplicate_and_empty_midi(params, data_paths, tmp_path):
    folder = tmp_path / "mid"
    folder.mkdir()
    shutil.copy(data_paths.midi_dir / "Aicha.mid", folder / "Aicha.mid")
    shutil.copy(data_paths.midi_dir / "Aicha.mid", folder / "copy of Aicha.mid")
    data = (data_paths.midi_dir / "Mr. Blue Sky.mid").read_bytes()
    (folder / "truncated.mid").write_bytes(data[: len(data) // 3])
    shutil.copy(data_paths.midi_dir / "empty.mid", folder / "empty.mid")
    silent = pretty_midi.PrettyMIDI()
    silent.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    silent.write(str(folder / "silent44.mid"))
    result = run_filter(
        filter_cfg(params, source="midi", tag=None), data_paths, tmp_path, midi_dir=folder
    )
    report = json.loads((tmp_path / "filter.json").read_text())
    (bad,) = report["unreadable"]
    assert bad["path"] == "truncated.mid" and bad["error"]
    assert report["rules"]["duplicate_md5"]["removed"] == 1
    assert report["rules"]["time_signature"]["files"] == {"not_4_4": ["empty.mid"]}
    assert report["rules"]["min_bars"]["removed"] == 1  # the 4/4 file without notes
    assert result.n_kept == 1
    with pytest.raises(ValueError, match="fewer than two beats"):
        midi.midi_to_song(midi.read_midi(folder / "silent44.mid"))


# ---------------------------------------------------------------------------------------------
# Converter conventions on hand-built files (120 bpm: one beat = 0.5 s = 24 steps)
# ---------------------------------------------------------------------------------------------


def _pm(notes: list[tuple[int, float, float]], drum: bool = False, beats: int = 8):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=0, is_drum=drum)
    for pitch, start, end in notes:
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=end))
    inst.notes.append(
        pretty_midi.Note(velocity=90, pitch=20, start=beats * 0.5 - 0.1, end=beats * 0.5)
    )  # fixes the song length
    pm.instruments.append(inst)
    return pm


def _roll(pm, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "x.mid"
    pm.write(str(path))  # through a file, as real input arrives
    song = midi.midi_to_song(midi.read_midi(path))
    return song.dense_track(0)


def test_drums_are_single_step_onsets(tmp_path):
    roll = _roll(_pm([(36, 0.0, 0.5), (38, 0.25, 0.75)], drum=True), tmp_path)
    assert list(np.flatnonzero(roll[:, 36])) == [0]
    assert list(np.flatnonzero(roll[:, 38])) == [12]


def test_repeated_pitch_gets_a_one_step_gap(tmp_path):
    roll = _roll(_pm([(60, 0.0, 0.5), (60, 0.5, 1.0)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 60])) == list(range(23)) + list(range(24, 48))


def test_start_rounds_and_end_truncates(tmp_path):
    # start at 11.6 steps -> 12 (rounded); end at 35.7 steps -> 35 (truncated): steps 12..34.
    step = 0.5 / 24
    roll = _roll(_pm([(64, 11.6 * step, 35.7 * step)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 64])) == list(range(12, 35))
    # start at 11.4 steps -> 11; end at 35.2 -> 35.
    roll = _roll(_pm([(64, 11.4 * step, 35.2 * step)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 64])) == list(range(11, 35))


def test_song_length_is_24_steps_per_beat(tmp_path):
    path = tmp_path / "x.mid"
    _pm([(60, 0.0, 0.5)], beats=10).write(str(path))
    pm = midi.read_midi(path)
    assert midi.midi_to_song(pm).length == 24 * len(pm.get_beats()) == 240


def test_converter_agrees_with_pypianoroll_on_real_44_files(data_paths):
    """pypianoroll 1.0.4's read shares the 2018 converter's rules; on real files they agree."""
    for rel in sorted(_expected_kept(data_paths))[:6]:
        path = data_paths.midi_dir / rel
        song = midi.midi_to_song(midi.read_midi(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pypianoroll.read(path)
        assert len(song.tracks) == len(ref.tracks)
        for k, track in enumerate(ref.tracks):
            assert np.array_equal(song.dense_track(k), track.pianoroll > 0), (rel, k)


def test_build_from_midi_matches_an_independent_merge(params, data_paths, midi_run, tmp_path):
    out, _ = midi_run
    rows = list(csv.DictReader(open(out / "manifest.csv")))[:3]
    with open(tmp_path / "few.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_build(build_cfg(params), data_paths, tmp_path, manifest=tmp_path / "few.csv")
    assert result.n_songs >= 2
    by_md5 = {r["md5"]: r["path"] for r in rows}
    merged_songs: dict[bytes, np.ndarray] = {}
    with h5py.File(tmp_path / "phrases.h5", "r") as f:
        for i, (md5, bar) in enumerate(zip(f["md5"][:], f["start_bar"][:], strict=True)):
            if md5 not in merged_songs:
                merged_songs[md5] = _oracle_midi(data_paths.midi_dir / by_md5[md5.decode()])
            merged = merged_songs[md5]
            window = merged[bar * 96 : (bar + 4) * 96, 24:108]
            assert np.array_equal(f["phrases"][i].reshape(384, 84, 8), window)


def _oracle_midi(path: Path) -> np.ndarray:
    """pypianoroll.read, OR by GM family into the eight tracks, binarized: (T, 128, 8)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pypianoroll.read(path)
    merged = np.zeros((ref.tracks[0].pianoroll.shape[0], 128, 8), dtype=bool)
    for track in ref.tracks:
        k = 0 if track.is_drum else BMUSEGAN8_FAMILIES.get(track.program // 8)
        if k is not None:
            merged[:, :, k] |= track.pianoroll > 0
    return merged
