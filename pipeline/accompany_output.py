"""The accompanied song for ``pipeline.accompany``: its MIDI file and its audio.

The MIDI file holds the given part's instruments as they are in the input (notes, velocities,
controllers, pitch bends; the input's tempo map, resolution and time signatures) plus one
instrument per generated track, timed on the input's beats and cut at the input's end.

pretty_midi writes it, and three things of its output are then set right with mido:

* tempos: pretty_midi 0.2 writes ``int(6e7 / qpm)`` microseconds per beat, which truncates the
  input's 342857 to 342856 (Mr. Blue Sky): every time drifts and notes land on other steps.
  The input's own values are written back.
* a time signature: when the input's first one is later than time 0, pretty_midi adds a 4/4 at
  time 0, which would move the bars of the output; it is removed.
* channels: pretty_midi gives the n-th instrument channel ``n mod 15`` (skipping the drum
  channel), so with more than 15 instruments a generated track would share a channel, and
  with it the program, controllers and pitch bends, of one of the user's instruments. Each
  generated pitched track gets a channel of its own; the given instruments share the others.

The audio is that MIDI file played with the General MIDI SoundFont (``pipeline.export.audio``),
following its tempo map, melodic notes above C7 an octave or two lower as in every audio of the
project.
"""

from __future__ import annotations

import copy
import io
import logging
from typing import Any

import mido
import numpy as np
import pretty_midi
import symusic

from pipeline.accompany_input import LOWEST_PITCH, Part
from pipeline.data.midi import beat_times
from pipeline.data.phrase_file import TrackInfo
from pipeline.data.song import RESOLUTION
from pipeline.export.audio import VELOCITY, normalise, playable_pitches, synthesizer

log = logging.getLogger(__name__)

DRUM_CHANNEL = 9  # GM channel 10
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


def step_times(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Seconds of every step boundary of the song, on the file's own beats (the converter's)."""
    beats = beat_times(pm)
    ends = np.append(beats, 2 * beats[-1] - beats[-2])
    frac = np.arange(RESOLUTION) / RESOLUTION
    grid = (beats[:, None] + frac[None, :] * np.diff(ends)[:, None]).reshape(-1)
    return np.append(grid, ends[-1])


def track_notes(roll: np.ndarray, times: np.ndarray, end: float) -> list[pretty_midi.Note]:
    """Notes of a bool (steps, 84) roll at ``VELOCITY``: one per run of active steps, timed by
    the step boundaries ``times``. The song ends at ``end`` (inside its last beat): a note that
    would start there or later is dropped, one that would end later is cut there."""
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0).T  # (pitches, steps + 1): +1 at an onset, -1 after an offset
    on_pitch, on_step = np.nonzero(edges == 1)
    _, off_step = np.nonzero(edges == -1)  # the same (pitch, time) order as the onsets
    return [
        pretty_midi.Note(VELOCITY, int(p) + LOWEST_PITCH, times[a], min(times[b], end))
        for p, a, b in zip(on_pitch, on_step, off_step, strict=True)
        if times[a] < end
    ]


def assign_channels(is_drum: list[bool], generated: list[bool]) -> list[int]:
    """A MIDI channel for each instrument: drums on the drum channel; each generated melodic
    instrument a channel of its own, from the last; the given melodic ones the rest in turn."""
    n_own = sum(g and not d for d, g in zip(is_drum, generated, strict=True))
    own = MELODIC_CHANNELS[len(MELODIC_CHANNELS) - min(n_own, len(MELODIC_CHANNELS)) :]
    shared = MELODIC_CHANNELS[: len(MELODIC_CHANNELS) - len(own)] or MELODIC_CHANNELS
    channels, n_given, n_generated = [], 0, 0
    for drum, gen in zip(is_drum, generated, strict=True):
        if drum:
            channels.append(DRUM_CHANNEL)
        elif gen:
            channels.append(own[n_generated % len(own)])
            n_generated += 1
        else:
            channels.append(shared[n_given % len(shared)])
            n_given += 1
    if n_given > len(shared):
        log.warning("%d given instruments share %d MIDI channels", n_given, len(shared))
    return channels


def output_midi(
    pm: pretty_midi.PrettyMIDI, part: Part, song_roll: np.ndarray, info: TrackInfo, index: int
) -> pretty_midi.PrettyMIDI:
    """The given instruments as they are, plus one instrument per generated track.

    The result ends where the input ends (a text event "end" at that time; the input's other
    instruments, which set its end, are gone), so it has the input's beats and length: its given
    part converts back to the input's, cell for cell.
    """
    end = pm.get_end_time()
    times = step_times(pm)
    out = copy.copy(pm)  # the input's resolution, tempo map and time signatures, shared
    out.instruments = [pm.instruments[i] for i in part.instruments]
    for t, name in enumerate(info.names):
        if t != index:
            inst = pretty_midi.Instrument(info.programs[t], bool(info.is_drums[t]), name)
            inst.notes = track_notes(song_roll[..., t], times, end)
            out.instruments.append(inst)
    out.text_events = [*pm.text_events, pretty_midi.Text("end", end)]
    return out


def midi_bytes(out: pretty_midi.PrettyMIDI, pm: pretty_midi.PrettyMIDI, n_given: int) -> bytes:
    """``out`` as a MIDI file, its tempos, time signatures and channels set right (module doc);
    its first ``n_given`` instruments are the user's, the others generated."""
    buffer = io.BytesIO()
    out.write(buffer)
    midi = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    midi.tracks[0] = timing_track(midi.tracks[0], pm)
    generated = [i >= n_given for i in range(len(out.instruments))]
    channels = assign_channels([inst.is_drum for inst in out.instruments], generated)
    for track, channel in zip(midi.tracks[1:], channels, strict=True):
        for k, msg in enumerate(track):
            if not msg.is_meta:
                track[k] = msg.copy(channel=channel)
    result = io.BytesIO()
    midi.save(file=result)
    return result.getvalue()


def timing_track(track: mido.MidiTrack, pm: pretty_midi.PrettyMIDI) -> mido.MidiTrack:
    """pretty_midi's first track with ``pm``'s exact tempos and without the 4/4 at time 0 that
    pretty_midi adds when ``pm``'s first time signature comes later."""
    exact = [round(60e6 / qpm) for qpm in pm.get_tempo_changes()[1]]
    added_4_4 = min(ts.time for ts in pm.time_signature_changes) > 0
    events, tick, n_tempos = [], 0, 0
    for msg in track:
        tick += msg.time
        if msg.type == "time_signature" and tick == 0 and added_4_4:
            added_4_4 = False
            continue
        if msg.type == "set_tempo":
            if n_tempos == len(exact):
                raise RuntimeError(f"pretty_midi wrote more tempo events than {len(exact)}")
            msg = msg.copy(tempo=exact[n_tempos])
            n_tempos += 1
        events.append((tick, msg))
    if n_tempos != len(exact):
        raise RuntimeError(f"pretty_midi wrote {n_tempos} tempo events for {len(exact)}")
    result, previous = mido.MidiTrack(), 0
    for tick, msg in events:
        result.append(msg.copy(time=tick - previous))
        previous = tick
    return result


def render_midi(data: bytes) -> np.ndarray:
    """Mono float32 audio of a MIDI file's bytes, peak-normalised (``pipeline.export.audio``)."""
    # in ticks (the default); symusic's stubs type it as any of its three time units
    score: Any = symusic.Score.from_midi(data)
    for track in score.tracks:
        if not track.is_drum and len(track.notes):
            notes = track.notes.numpy()
            notes["pitch"] = playable_pitches(notes["pitch"].astype(np.int64)).astype(np.int8)
            track.notes = symusic.Note.from_numpy(**notes)
    stereo = np.asarray(synthesizer().render(score, stereo=True))
    return normalise(stereo.mean(axis=0))
