"""The user's MIDI file for ``pipeline.accompany``: its bounds, its meter and the given part.

A file is checked in an order that keeps hostile files cheap: its size before it is parsed
(pretty_midi holds every note as a Python object), then its duration and its length in bars
from the tempo map alone (``pipeline.data.limits.estimated_midi_steps``) before any beat is
computed, since a hostile tempo map makes pretty_midi's beat computation unbounded. Only then
is it converted, with the project's LPD-exact converter (``pipeline.data.midi``).

Meter: every time-signature event must be 4/4, the model's bar; bars are counted from the
first one, which must not come after the given part's first note. A file without any
time-signature event is 4/4 from time 0, as the MIDI standard says.

The given part is one or more of the file's instruments, chosen with ``--part`` (an index as
``--list`` prints it, a name, or ``program:N``) or, by default, every instrument that the
model's track set puts on its given track (``pipeline.data.tracks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from pipeline.data.limits import estimated_midi_steps
from pipeline.data.midi import MidiPianoroll, convert, read_midi
from pipeline.data.song import STEPS_PER_BAR
from pipeline.data.tracks import GM_FAMILIES, TrackSet
from pipeline.errors import DataError

LOWEST_PITCH, N_PITCHES = 24, 84  # build_tensor's defaults: the pitches the networks see


class AccompanyError(DataError):
    """A bad input of ``accompany``; the message names the file and the problem."""


@dataclass(frozen=True)
class Limits:
    """Bounds on the user's file (``--max-bytes``, ``--max-minutes``, ``--max-bars``)."""

    max_bytes: int = 4_000_000  # as filter.max_midi_bytes: about 650,000 notes
    max_minutes: float = 20.0  # bounds the audio, rendered in memory: about 20 MB a minute
    max_bars: int = 1000  # bounds the piano-rolls and the generation: about 0.1 MB a bar


@dataclass(frozen=True)
class Part:
    """The given part: the chosen instruments and their merged, binarized piano-roll."""

    instruments: list[int]  # indices into the PrettyMIDI's instruments, in file order
    roll: np.ndarray  # bool (length, N_PITCHES), pitches LOWEST_PITCH ..
    length: int  # steps of the song


def read_song(path: Path, limits: Limits) -> pretty_midi.PrettyMIDI:
    """Parse ``path`` within ``limits`` and check its meter (module doc); nothing converted yet."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise AccompanyError(f"{path}: {size} bytes, over the limit --max-bytes {limits.max_bytes}")
    try:
        pm = read_midi(path)
    except Exception as error:  # pretty_midi/mido raise many types on a damaged file
        raise AccompanyError(f"{path}: not a readable MIDI file ({error})") from None
    if not any(inst.notes for inst in pm.instruments):
        raise AccompanyError(f"{path}: the file has no notes")
    check_meter(pm, path)
    minutes = pm.get_end_time() / 60
    if minutes > limits.max_minutes:
        raise AccompanyError(
            f"{path}: {minutes:.1f} minutes long, over the limit "
            f"--max-minutes {limits.max_minutes:g}"
        )
    bars = estimated_midi_steps(pm) / STEPS_PER_BAR
    if bars > limits.max_bars:
        raise AccompanyError(
            f"{path}: its tempo map gives about {bars:.0f} bars, over the limit "
            f"--max-bars {limits.max_bars}"
        )
    return pm


def check_meter(pm: pretty_midi.PrettyMIDI, path: Path) -> None:
    """Refuse a meter other than 4/4; give a file without time signature 4/4 at time 0."""
    changes = pm.time_signature_changes
    if not changes:
        changes.append(pretty_midi.TimeSignature(4, 4, 0.0))  # the MIDI standard's default
        return
    if any((ts.numerator, ts.denominator) != (4, 4) for ts in changes):
        events = ", ".join(f"{ts.numerator}/{ts.denominator} at {ts.time:.3g} s" for ts in changes)
        raise AccompanyError(f"{path}: time signature {events}; the model writes 4/4 bars only")


def first_beat(pm: pretty_midi.PrettyMIDI) -> float:
    """Where the bars begin: the first time-signature event (``check_meter`` ensures one)."""
    return min(ts.time for ts in pm.time_signature_changes)


def describe(pm: pretty_midi.PrettyMIDI, index: int) -> str:
    """``1 'Piano' (program 0, Piano)``: an instrument as ``--list`` and the messages name it."""
    inst = pm.instruments[index]
    kind = "drums" if inst.is_drum else f"program {inst.program}, {GM_FAMILIES[inst.program // 8]}"
    return f"{index} {inst.name.strip()!r} ({kind})"


def instrument_table(pm: pretty_midi.PrettyMIDI) -> list[str]:
    """One line per instrument: index, name, program or drums, number of notes, pitch range."""
    lines = []
    for i, inst in enumerate(pm.instruments):
        pitches = [note.pitch for note in inst.notes]
        span = f"MIDI {min(pitches)}-{max(pitches)}" if pitches else ""
        lines.append(f"{describe(pm, i):<48} {len(pitches):>6} notes  {span}")
    return lines


def parse_part(text: str) -> tuple[str, int | str]:
    """A ``--part`` value as ("index", n), ("program", n) or ("name", its lower-case name)."""
    text = text.strip()
    if text.isdigit():
        return "index", int(text)
    if text.lower().startswith("program:"):
        number = text.partition(":")[2].strip()
        if not number.isdigit() or int(number) > 127:
            raise AccompanyError(f"--part {text}: a GM program is a number from 0 to 127")
        return "program", int(number)
    return "name", text.lower()


def _matches(pm: pretty_midi.PrettyMIDI, part: str, path: Path) -> list[int]:
    """The instruments one ``--part`` value names; refused if it names none."""
    how, key = parse_part(part)
    count = len(pm.instruments)
    if how == "index":
        found = [key] if isinstance(key, int) and key < count else []
    elif how == "program":
        found = [i for i, t in enumerate(pm.instruments) if not t.is_drum and t.program == key]
    else:
        found = [i for i, t in enumerate(pm.instruments) if t.name.strip().lower() == key]
    if not found:
        raise AccompanyError(
            f"{path}: no instrument {part!r} among its {count} (--list shows them)"
        )
    return found


def _programs_on(tracks: TrackSet, index: int) -> str:
    """The GM programs the track set puts on track ``index``, as ranges: ``programs 0-7``."""
    programs = [p for p in range(128) if tracks.program_track[p] == index]
    ranges: list[list[int]] = []
    for p in programs:
        if ranges and ranges[-1][1] == p - 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    return "programs " + ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges)


def select_part(
    pm: pretty_midi.PrettyMIDI, parts: list[str], tracks: TrackSet, index: int, path: Path
) -> list[int]:
    """The instruments of the given part: those ``parts`` name, by default those of track
    ``index`` of ``tracks``. Drum instruments go with a drum track only, pitched with pitched."""
    name = tracks.info.names[index]
    drums = bool(tracks.info.is_drums[index])
    if parts:
        chosen = sorted({i for part in parts for i in _matches(pm, part, path)})
    else:
        chosen = [
            i
            for i, t in enumerate(pm.instruments)
            if tracks.track_of(t.program, t.is_drum) == index
        ]
        if not chosen:
            programs = _programs_on(tracks, index)
            which = "drum instrument" if drums else f"instrument of GM {programs}"
            raise AccompanyError(
                f"{path}: no {name} track (no {which}); choose the given part with --part "
                f"(--list shows the file's {len(pm.instruments)} instruments)"
            )
    for i in chosen:
        if pm.instruments[i].is_drum != drums:
            kind, want = ("a drum part", "pitched") if not drums else ("pitched", "a drum track")
            raise AccompanyError(
                f"{path}: instrument {describe(pm, i)} is {kind}, but the model's given track "
                f"{name} is {want}"
            )
    return chosen


def check_start(pm: pretty_midi.PrettyMIDI, chosen: list[int], path: Path) -> None:
    """Refuse a given part that begins before the bars do (before the first time signature)."""
    starts = [note.start for i in chosen for note in pm.instruments[i].notes]
    if not starts:
        raise AccompanyError(f"{path}: the given part is empty (no notes)")
    start, bars = min(starts), first_beat(pm)
    if start < bars:
        raise AccompanyError(
            f"{path}: the given part begins at {start:.3g} s, before the 4/4 time signature at "
            f"{bars:.3g} s where the bars begin"
        )


def convert_song(pm: pretty_midi.PrettyMIDI, path: Path) -> MidiPianoroll:
    """``pipeline.data.midi.convert``, its refusals named by the file."""
    try:
        return convert(pm)
    except ValueError as error:
        raise AccompanyError(f"{path}: {error}") from None


def part_roll(song: MidiPianoroll, chosen: list[int], path: Path) -> Part:
    """The chosen instruments of ``song`` merged and binarized, in the model's pitch range."""
    roll = np.zeros((song.length, 128), dtype=bool)
    for i in chosen:
        roll[song.tracks[i].times, song.tracks[i].pitches] = True
    if not roll.any():
        raise AccompanyError(f"{path}: the given part is empty (no notes)")
    inside = roll[:, LOWEST_PITCH : LOWEST_PITCH + N_PITCHES]
    if not inside.any():
        raise AccompanyError(
            f"{path}: the given part is empty in the model's pitch range, MIDI "
            f"{LOWEST_PITCH}-{LOWEST_PITCH + N_PITCHES - 1} (all its notes lie outside it)"
        )
    return Part(chosen, inside, song.length)
