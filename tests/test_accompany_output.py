"""``pipeline.accompany_output``: generated notes, channels and the written MIDI file."""

from __future__ import annotations

import io
import logging

import mido
import numpy as np
import pretty_midi

from pipeline.accompany_input import N_PITCHES, Part
from pipeline.accompany_output import (
    DRUM_CHANNEL,
    assign_channels,
    midi_bytes,
    output_midi,
    track_notes,
)
from pipeline.data.midi import convert
from pipeline.data.tracks import get_track_set

BMUSEGAN8 = get_track_set("bmusegan8")
PIANO = BMUSEGAN8.info.names.index("Piano")


def test_generated_notes_are_runs_of_steps() -> None:
    roll = np.zeros((10, 84), dtype=bool)
    roll[2:5, 36] = True  # MIDI 60, steps 2-4
    roll[6:7, 36] = True  # MIDI 60 again, step 6
    roll[8:10, 0] = True  # MIDI 24, the last two steps: cut at the song's end
    roll[9, 1] = True  # MIDI 25, the last step: starts after the song's end, dropped
    times = np.arange(11) * 0.1  # step boundaries in seconds
    notes = track_notes(roll, times, end=0.85)
    got = sorted((n.pitch, round(n.start, 6), round(n.end, 6), n.velocity) for n in notes)
    assert got == [(24, 0.8, 0.85, 100), (60, 0.2, 0.5, 100), (60, 0.6, 0.7, 100)]


def _one_note_song(seconds: float, ts_time: float = 0.0) -> pretty_midi.PrettyMIDI:
    """A piano note from ``ts_time`` to ``seconds`` at 120 bpm, 4/4 at ``ts_time``, reread."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, ts_time))
    piano = pretty_midi.Instrument(0, name="Piano")
    piano.notes.append(pretty_midi.Note(90, 60, ts_time, seconds))
    pm.instruments.append(piano)
    buffer = io.BytesIO()
    pm.write(buffer)
    return pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))


def _every_step(length: int) -> np.ndarray:
    """A song roll (length, 84, 8) whose tracks start a one-step note on every step."""
    roll = np.zeros((length, N_PITCHES, 8), dtype=bool)
    roll[0::2, 36] = True
    roll[1::2, 38] = True
    return roll


def test_song_ending_inside_its_last_beat() -> None:
    """One piano note 0-1.9 s at 120 bpm: the song has four beats (0-2 s), so generated notes
    would start at 1.92 s and later, after the song's end; they are dropped, none cut short
    runs backwards, and the file converts back with the input's length."""
    pm = _one_note_song(1.9)
    song = convert(pm)
    assert song.length == 96  # four beats of 24 steps, the last one ending at 2.0 s
    part = Part([0], np.zeros((song.length, N_PITCHES), dtype=bool), song.length)
    out = output_midi(pm, part, _every_step(song.length), BMUSEGAN8.info, PIANO)
    generated = [n for inst in out.instruments[1:] for n in inst.notes]
    assert generated and all(n.start < n.end <= 1.9 for n in generated)
    assert max(n.start for n in generated) > 1.85  # notes up to the end are kept
    again = _reread(midi_bytes(out, pm, 1))
    assert again.get_end_time() == 1.9
    assert convert(again).length == song.length


def _events(data: bytes, kind: str) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) of every ``kind`` event of the first track."""
    tick, found = 0, []
    for msg in mido.MidiFile(file=io.BytesIO(data)).tracks[0]:
        tick += msg.time
        if msg.type == kind:
            found.append((tick, msg))
    return found


def test_time_signature_and_tempo_as_in_the_input() -> None:
    """A 4/4 at tick 120 stays the only time signature (pretty_midi adds one at 0), and a tempo
    of 342857 us per beat is written as it is (pretty_midi truncates it to 342856)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=342857, time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=120))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480 * 8))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    pm = _reread(buffer.getvalue())
    plain = _write(pm)
    assert [(t, m.numerator) for t, m in _events(plain, "time_signature")] == [(0, 4), (120, 4)]
    assert [m.tempo for _, m in _events(plain, "set_tempo")] == [342856]
    song = convert(pm)
    part = Part([0], np.zeros((song.length, N_PITCHES), dtype=bool), song.length)
    out = output_midi(pm, part, _every_step(song.length), BMUSEGAN8.info, PIANO)
    data = midi_bytes(out, pm, 1)
    assert [(t, m.numerator) for t, m in _events(data, "time_signature")] == [(120, 4)]
    assert [m.tempo for _, m in _events(data, "set_tempo")] == [342857]
    again = convert(_reread(data))
    assert again.length == song.length
    assert np.array_equal(again.dense_track(0), song.dense_track(0))


def _reread(data: bytes) -> pretty_midi.PrettyMIDI:
    """A MIDI file's bytes parsed by pretty_midi."""
    return pretty_midi.PrettyMIDI(io.BytesIO(data))


def _write(pm: pretty_midi.PrettyMIDI) -> bytes:
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def test_generated_tracks_have_channels_of_their_own(caplog) -> None:
    """16 given pianos and the 7 generated tracks of bmusegan8 (Drums and 6 melodic ones)."""
    is_drum = [False] * 16 + [True] + [False] * 6
    generated = [False] * 16 + [True] * 7
    with caplog.at_level(logging.WARNING):
        channels = assign_channels(is_drum, generated)
    given, drums, own = channels[:16], channels[16], channels[17:]
    assert drums == DRUM_CHANNEL
    assert len(set(own)) == 6 and not set(own) & set(given) and DRUM_CHANNEL not in own
    assert set(given) == set(range(9))  # the nine channels left, shared in turn
    assert "16 given instruments share 9 MIDI channels" in caplog.text


def test_few_instruments_keep_distinct_channels() -> None:
    channels = assign_channels([False, False, True, False], [False, True, True, True])
    assert channels == [0, 14, DRUM_CHANNEL, 15]


def test_given_drums_stay_on_the_drum_channel() -> None:
    channels = assign_channels([True] + [False] * 7, [False] + [True] * 7)
    assert channels[0] == DRUM_CHANNEL and len(set(channels[1:])) == 7
    assert DRUM_CHANNEL not in channels[1:]
