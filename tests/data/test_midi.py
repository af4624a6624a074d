"""The MIDI input path: LPD-cleansed time-signature rules, LPD's converter on hand-built notes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pretty_midi
import pytest

from pipeline.data import midi
from pipeline.io import file_digest
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
        assert row["md5"] == file_digest(data_paths.midi_dir / row["path"], "md5")


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
    md5 = file_digest(folder / "Aicha.mid", "md5")
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


def _with_signatures(*events: tuple[int, int, float]) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    for numerator, denominator, time in events:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, time))
    return pm


def test_time_signature_rule_accepts_repeated_44_at_zero_only():
    problem = midi.time_signature_problem
    assert problem(_with_signatures(*[(4, 4, 0.0)] * 8)) is None  # one event per track
    assert problem(_with_signatures((4, 4, 0.0))) is None
    assert problem(_with_signatures((4, 4, 0.0), (1, 4, 0.0))) == "several_time_signatures"
    assert problem(_with_signatures((4, 4, 0.0), (4, 4, 10.0))) == "several_time_signatures"
    assert problem(_with_signatures((4, 4, 0.0), (3, 4, 10.0))) == "several_time_signatures"
    assert problem(_with_signatures((4, 4, 0.5), (4, 4, 0.5))) == "first_beat_not_at_zero"
    assert problem(_with_signatures((3, 4, 0.0), (3, 4, 0.0))) == "not_4_4"
    assert problem(_with_signatures()) == "no_time_signature"


def test_data_byte_out_of_range_is_reported_and_skipped(params, data_paths, tmp_path):
    folder = tmp_path / "mid"
    folder.mkdir()
    shutil.copy(data_paths.midi_dir / "Aicha.mid", folder / "Aicha.mid")
    pm = _pm([(60, 0.0, 0.5)])
    pm.write(str(folder / "bad.mid"))
    data = bytearray((folder / "bad.mid").read_bytes())
    velocity_at = data.index(bytes([0x90, 60])) + 2  # the first note-on's velocity byte
    data[velocity_at] = 200
    (folder / "bad.mid").write_bytes(bytes(data))
    result = run_filter(
        filter_cfg(params, source="midi", tag=None), data_paths, tmp_path, midi_dir=folder
    )
    (bad,) = json.loads((tmp_path / "filter.json").read_text())["unreadable"]
    assert bad["path"] == "bad.mid" and bad["error"].startswith("OSError: data byte")
    assert result.n_kept == 1


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
    # Ends are inclusive: the first note covers 0..24, the second 24..48; the second clears
    # step 23, the step before its start, and overwrites step 24 (a one-step gap at 23).
    roll = _roll(_pm([(60, 0.0, 0.5), (60, 0.5, 1.0)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 60])) == list(range(23)) + list(range(24, 49))


def test_start_and_end_truncate_and_the_end_step_is_covered(tmp_path):
    # start at 11.6 steps -> 11 (truncated, not rounded to 12); end at 35.7 -> 35, inclusive.
    step = 0.5 / 24
    roll = _roll(_pm([(64, 11.6 * step, 35.7 * step)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 64])) == list(range(11, 36))
    # start at 11.4 steps -> 11; end at 35.2 -> 35.
    roll = _roll(_pm([(64, 11.4 * step, 35.2 * step)]), tmp_path)
    assert list(np.flatnonzero(roll[:, 64])) == list(range(11, 36))


def test_zero_length_note_covers_one_step():
    step = 0.5 / 24
    pm = _pm([])
    pm.instruments[0].notes.append(pretty_midi.Note(90, 70, 30.5 * step, 30.5 * step))
    roll = midi.convert(pm).dense_track(0)
    assert list(np.flatnonzero(roll[:, 70])) == [30]


def test_note_stops_before_a_note_already_written_after_it():
    # In memory (a file read by pretty_midi lists notes by note-off, so this order cannot arise
    # within one track): a note at steps 30..40 comes first, then an earlier one.
    step = 0.5 / 24
    pm = _pm([(62, 30.5 * step, 40.5 * step), (62, 10.5 * step, 28.5 * step)])
    roll = midi.convert(pm).dense_track(0)
    # end 28: step 29 after it is free, so the note keeps 10..28 (checking two steps ahead
    # would have stopped it at 27)
    assert list(np.flatnonzero(roll[:, 62])) == list(range(10, 29)) + list(range(30, 41))
    pm = _pm([(62, 30.5 * step, 40.5 * step), (62, 10.5 * step, 29.5 * step)])
    roll = midi.convert(pm).dense_track(0)
    # end 29: step 30 after it is on, so the note stops at 28
    assert list(np.flatnonzero(roll[:, 62])) == list(range(10, 29)) + list(range(30, 41))


def test_velocities_max_on_overlap_and_velocity_zero_skipped():
    step = 0.5 / 24
    pm = _pm([])
    notes = pm.instruments[0].notes
    notes.append(pretty_midi.Note(40, 65, 0.0, 20.5 * step))  # steps 0..20
    notes.append(pretty_midi.Note(100, 65, 10.5 * step, 15.5 * step))  # 10..15
    notes.append(pretty_midi.Note(20, 65, 12.5 * step, 30.5 * step))  # 12..30
    notes.append(pretty_midi.Note(0, 66, 0.0, 20.5 * step))  # velocity 0: no cells
    roll = midi.convert(pm).dense_track(0)
    # second note: clears step 9 (gap) and stops at 14 (step 16 after its end is on);
    # third: clears step 11, keeps the larger velocity where cells are on.
    expected = [40] * 9 + [0, 100, 0] + [100] * 3 + [40] * 6 + [20] * 10
    assert roll[:31, 65].tolist() == expected
    assert not roll[31:, 65].any() and not roll[:, 66].any()


def test_notes_ending_at_the_first_beat_are_dropped():
    pm = _pm([])
    pm.time_signature_changes[0].time = 1.0  # first beat at 1 s (LPD-cleansed rejects this)
    notes = pm.instruments[0].notes
    notes.append(pretty_midi.Note(90, 50, 0.2, 1.0))  # ends on the first beat: dropped
    notes.append(pretty_midi.Note(90, 51, 1.0, 1.0 + 12.5 / 48))  # on the first beat: kept
    converted = midi.convert(pm)
    roll = converted.dense_track(0)
    assert not roll[:, 50].any()
    assert list(np.flatnonzero(roll[:, 51])) == list(range(13))
    assert converted.length == 24 * len(pm.get_beats(1.0))


def test_song_length_is_24_steps_per_beat(tmp_path):
    path = tmp_path / "x.mid"
    _pm([(60, 0.0, 0.5)], beats=10).write(str(path))
    pm = midi.read_midi(path)
    assert midi.midi_to_song(pm).length == 24 * len(pm.get_beats()) == 240


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
    """The converter's tracks (checked against LPD in test_midi_lpd), OR by GM family: (T, 128, 8).

    The merge is the test's own, so this checks build_tensor's merging and cutting of MIDI songs.
    """
    converted = midi.convert(midi.read_midi(path))
    merged = np.zeros((converted.length, 128, 8), dtype=bool)
    for k, track in enumerate(converted.tracks):
        family = 0 if track.is_drum else BMUSEGAN8_FAMILIES.get(track.program // 8)
        if family is not None:
            merged[:, :, family] |= converted.dense_track(k) > 0
    return merged
