"""``pipeline.accompany_input``: bounds, meter and the given part of real and hand-built files."""

from __future__ import annotations

import time
from pathlib import Path

import mido
import pytest

from pipeline.accompany_input import (
    AccompanyError,
    Limits,
    check_start,
    first_beat,
    instrument_table,
    read_song,
    select_part,
)
from pipeline.data.tracks import get_track_set
from tests.conftest import DATA

BMUSEGAN8 = get_track_set("bmusegan8")
PIANO, DRUMS = BMUSEGAN8.info.names.index("Piano"), BMUSEGAN8.info.names.index("Drums")
MIDI = DATA / "midi"
# 0 'bass' (34), 1 'Drums' and 2 'Drums' (drums), 3 'Gt1' (30), 4 'Gt2' (30), 5 'Lead' (29),
# 6 'Lead P/Shift' (29), 7 'Synth' (28), 8 'Clean' (27), 9 'MIDI by' (29), 10 (29), ...: no piano
IN_TOO_DEEP = MIDI / "In Too Deep.mid"


@pytest.fixture(scope="module")
def in_too_deep():
    return read_song(IN_TOO_DEEP, Limits())


@pytest.mark.parametrize(
    ("parts", "want"),
    [
        (["5"], [5]),  # by index, whatever the instrument's GM family (a guitar)
        (["lead"], [5]),  # by name, case ignored
        ([" LEAD P/SHIFT "], [6]),
        (["program:29"], [5, 6, 9, 10]),  # by program: every pitched instrument of it
        (["8", "program:30"], [3, 4, 8]),  # repeated: the union, in file order
    ],
)
def test_part_by_index_name_or_program(in_too_deep, parts, want) -> None:
    assert select_part(in_too_deep, parts, BMUSEGAN8, PIANO, IN_TOO_DEEP) == want


def test_default_part_is_the_models_track(in_too_deep) -> None:
    song = read_song(MIDI / "Mr. Blue Sky.mid", Limits())
    assert select_part(song, [], BMUSEGAN8, PIANO, Path("x")) == [1]  # 'Piano', program 0
    assert select_part(in_too_deep, [], BMUSEGAN8, DRUMS, IN_TOO_DEEP) == [1, 2]
    with pytest.raises(AccompanyError, match=r"no Piano track \(no instrument of GM programs 0-7"):
        select_part(in_too_deep, [], BMUSEGAN8, PIANO, IN_TOO_DEEP)


@pytest.mark.parametrize(
    ("parts", "track", "message"),
    [
        (["13"], PIANO, "no instrument '13' among its 13"),
        (["Vocals"], PIANO, "no instrument 'Vocals'"),
        (["program:1"], PIANO, "no instrument 'program:1'"),
        (["program:128"], PIANO, "a GM program is a number from 0 to 127"),
        (["1"], PIANO, "1 'Drums' (drums) is a drum part, but the model's given track Piano"),
        (["drums"], PIANO, "is a drum part"),
        (
            ["5"],
            DRUMS,
            "5 'Lead' (program 29, Guitar) is pitched, but the model's given track Drums",
        ),
    ],
)
def test_part_refused(in_too_deep, parts, track, message) -> None:
    with pytest.raises(AccompanyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        select_part(in_too_deep, parts, BMUSEGAN8, track, IN_TOO_DEEP)


def test_instrument_table_numbers_as_part_does(in_too_deep) -> None:
    table = instrument_table(in_too_deep)
    assert len(table) == 13
    assert table[1].startswith("1 'Drums' (drums)")
    assert table[5].startswith("5 'Lead' (program 29, Guitar)")
    assert table[5].split()[-4:-2] == ["362", "notes"]


def test_time_signature_before_the_first_note() -> None:
    """3565Hero.mid: its 4/4 event is at tick 5 (0.0065 s), its first note at 7.7 s."""
    path = MIDI / "3565Hero.mid"
    pm = read_song(path, Limits())
    assert first_beat(pm) == pytest.approx(5 / 384 * 0.5, rel=0.01)  # 120 bpm at the start
    check_start(pm, select_part(pm, [], BMUSEGAN8, PIANO, path), path)  # accepted


def _pickup(path: Path) -> Path:
    """At 120 bpm, a piano note at beat 1 (0.5 s) and the only time signature at beat 2 (1 s).

    Written with mido: pretty_midi would add a 4/4 at time 0 before the later one."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("note_on", note=60, velocity=90, time=480))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=480))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480 * 8))
    mid.save(path)
    return path


def test_part_before_the_time_signature_is_refused(tmp_path) -> None:
    path = _pickup(tmp_path / "pickup.mid")
    pm = read_song(path, Limits())
    with pytest.raises(AccompanyError, match=r"begins at 0.5 s, before the 4/4 .* at 1 s"):
        check_start(pm, [0], path)


def test_no_time_signature_is_4_4_from_the_start() -> None:
    path = MIDI / "d6caebd1964d9e4a3c5ea59525230e2a.mid"  # format 0, no time-signature event
    pm = read_song(path, Limits())
    assert [(t.numerator, t.denominator, t.time) for t in pm.time_signature_changes] == [
        (4, 4, 0.0)
    ]


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("6354774_Macabre Waltz.mid", "3/4 at 0 s, 4/4 at 69.8 s"),
        ("pop909/022/022.mid", "4/4 at 0 s, 1/4 at 0 s"),  # a spurious 1/4 beside the 4/4
    ],
)
def test_other_meters_are_refused(name, events) -> None:
    path = MIDI / name
    with pytest.raises(AccompanyError, match=f"{events}.*the model writes 4/4 bars only"):
        read_song(path, Limits())


def test_size_is_checked_before_parsing(tmp_path) -> None:
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"MThd" + bytes(2000))  # not readable, but refused for its size first
    with pytest.raises(AccompanyError, match=r"2004 bytes, over the limit --max-bytes 1000"):
        read_song(junk, Limits(max_bytes=1000))
    with pytest.raises(AccompanyError, match="not a readable MIDI file"):
        read_song(junk, Limits())


def test_duration_limit() -> None:
    with pytest.raises(AccompanyError, match=r"3.8 minutes long, over the limit --max-minutes 3"):
        read_song(MIDI / "Mr. Blue Sky.mid", Limits(max_minutes=3))


def test_hostile_tempo_map_is_refused_before_beats_are_computed(tmp_path) -> None:
    """One microsecond per beat: a note of 2 s spans 2,000,000 beats (500,000 bars), which
    pretty_midi would compute one by one before any converter sees them (one tick a beat keeps
    the file under pretty_midi's own bound of 10,000,000 ticks)."""
    path = tmp_path / "fast.mid"
    mid = mido.MidiFile(ticks_per_beat=1)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=1, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=2_000_000))
    mid.save(path)
    started = time.process_time()
    with pytest.raises(AccompanyError, match=r"about 500000 bars, over the limit --max-bars 1000"):
        read_song(path, Limits())
    assert time.process_time() - started < 5
