"""Hostile song files, built small on disk: huge claimed shapes, zip bombs, endless MIDI files."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_npz(path: Path, steps: int, claimed_steps: int | None = None, bomb: str = "") -> Path:
    """An LPD-format ``.npz`` with one piano track of ``steps`` steps (one note per bar).

    ``claimed_steps`` overrides the stored shape (a header that claims a huge array); ``bomb``
    names a member (``data`` or ``downbeat``) replaced by 50 MB of zeros that deflate to ~50 kB.
    """
    times = np.arange(0, steps, 96, dtype=np.int32)
    pitch = 60
    indptr = np.zeros(129, dtype=np.int32)
    indptr[pitch + 1 :] = len(times)
    members = {
        "pianoroll_0_csc_data.npy": _npy(np.full(len(times), 100, dtype=np.uint8)),
        "pianoroll_0_csc_indices.npy": _npy(times),
        "pianoroll_0_csc_indptr.npy": _npy(indptr),
        "pianoroll_0_csc_shape.npy": _npy(np.array([claimed_steps or steps, 128])),
        "downbeat.npy": _npy(np.eye(1, steps, dtype=bool)[0]),
        "tempo.npy": _npy(np.full(steps, 120.0)),
        "info.json": json.dumps(
            {"beat_resolution": 24, "0": {"program": 0, "is_drum": False, "name": "piano"}}
        ).encode(),
    }
    if bomb:
        key = {"data": "pianoroll_0_csc_data.npy", "downbeat": "downbeat.npy"}[bomb]
        members[key] = bytes(50 * 1024 * 1024)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, tpb: int, events: bytes) -> Path:
    """A format-0 MIDI file: 4/4 at time 0, then ``events`` (delta-time prefixed), end of track."""
    track = b"\x00\xff\x58\x04\x04\x02\x18\x08" + events + b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpb)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + track)
    return path


def midi_hours_long(path: Path, hours: float) -> Path:
    """One note at time 0 and a controller event ``hours`` later (120 bpm, 24 ticks per beat)."""
    late = int(hours * 3600 * 2 * 24)
    events = b"\x00\x90\x3c\x40" + b"\x18\x80\x3c\x00" + _vlq(late) + b"\xb0\x07\x64"
    return write_midi(path, 24, events)


def midi_fast_tempo(path: Path, beats: int) -> Path:
    """A tempo of one microsecond per beat: a 2-second file that is ``beats`` beats long."""
    events = b"\x00\xff\x51\x03\x00\x00\x01" + b"\x00\x90\x3c\x40" + _vlq(beats) + b"\x80\x3c\x00"
    return write_midi(path, 1, events)


def midi_many_notes(path: Path, n_notes: int) -> Path:
    """``n_notes`` one-tick notes in running status (6 bytes each)."""
    events = b"\x00\x90\x3c\x40" + b"\x01\x3c\x00\x00\x3c\x40" * (n_notes - 1) + b"\x01\x3c\x00"
    return write_midi(path, 96, events)
