"""The Lakh MIDI route: LPD-cleansed files made from the Lakh MIDI files they came from
(docs/fetch.md).

LPD-cleansed has no direct download URL, but LPD was made from the Lakh MIDI Dataset, which has
one (``lmd_full.tar.gz``: every file as ``lmd_full/<md5[0]>/<md5>.mid``, named by the md5 of its
bytes, the md5 LPD names its ``.npz`` by). Stage fetch takes that route when no source gives the
LPD files (``pipeline.stages.fetch``); this module does the conversion:

* each needed MIDI file, already verified by its md5, is converted with the project's LPD-exact
  converter (``pipeline.data.midi.convert``, checked velocity for velocity against LPD);
* the result is written in LPD's own ``.npz`` format (``lpd_npz_bytes``: per track a CSC matrix of
  uint8 velocities, ``tempo``, ``downbeat``, ``info.json``), read back with the project's LPD
  reader and checked against the converted song, then renamed into place;
* its **song digest** (``song_digest``: a sha256 of what the training tensor reads from a song, its
  length and, per track in order, the program, the drum flag and the active cells) is compared
  with the digest of LPD's own file, which the manifest records for every song
  (``scripts/make_sources.py``). A song whose digest differs is reported, by md5.

The bytes of a converted ``.npz`` differ from LPD's (zip timestamps, compression), so the
manifest's sha256 cannot check them; the song digest does, for everything the tensor uses.

``compare_trees`` converts every MIDI file of an LMD tree whose md5 names a file of an LPD tree and
lists, per song, how the conversion differs from LPD's file (``python -m pipeline.fetch.lmd``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pipeline.data import lpd, midi
from pipeline.data.song import RESOLUTION, Song
from pipeline.io import write_json

log = logging.getLogger(__name__)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same song gives the same bytes


def midi_rel(md5: str) -> str:
    """A Lakh MIDI file's path under ``lmd_full/``: ``<md5[0]>/<md5>.mid``."""
    return f"{md5[0]}/{md5}.mid"


def song_digest(song: Song) -> str:
    """sha256 of what the training tensor reads from ``song``: its length, then per track in
    order its program, drum flag and active (time, pitch) cells, sorted. Track names, tempo,
    downbeats and velocities are left out."""
    digest = hashlib.sha256(f"length {song.length};".encode())
    for track in song.tracks:
        cells = np.unique(track.times.astype(np.int64) * 128 + track.pitches.astype(np.int64))
        digest.update(f"track {track.program} {int(track.is_drum)} {len(cells)};".encode())
        digest.update(cells.astype("<i8").tobytes())
    return digest.hexdigest()


def _csc(track: midi.VelocityTrack, length: int) -> dict[str, np.ndarray]:
    """A track's cells as the arrays of a SciPy CSC matrix (time x 128 pitches), as LPD stores
    them; an empty track as LPD's bool (0, 128) matrix."""
    if len(track.times) == 0:
        return {
            "data": np.zeros(0, dtype=bool),
            "indices": np.zeros(0, dtype=np.int32),
            "indptr": np.zeros(129, dtype=np.int32),
            "shape": np.array([0, 128], dtype=np.int64),
        }
    order = np.lexsort((track.times, track.pitches))  # by pitch, then time: column-major
    per_pitch = np.bincount(track.pitches, minlength=128)
    return {
        "data": track.velocities[order].astype(np.uint8),
        "indices": track.times[order].astype(np.int32),
        "indptr": np.concatenate([[0], np.cumsum(per_pitch)]).astype(np.int32),
        "shape": np.array([length, 128], dtype=np.int64),
    }


def lpd_npz_bytes(roll: midi.MidiPianoroll, name: str) -> bytes:
    """``roll`` as an ``.npz`` in LPD's format (the legacy pypianoroll layout, module docstring);
    ``name`` goes into ``info.json`` as LPD's does (the md5)."""
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, object] = {"name": name, "beat_resolution": RESOLUTION}
    for i, track in enumerate(roll.tracks):
        for part, array in _csc(track, roll.length).items():
            arrays[f"pianoroll_{i}_csc_{part}"] = array
        info[str(i)] = {"program": track.program, "is_drum": track.is_drum, "name": track.name}
    arrays["tempo"] = np.asarray(roll.tempo, dtype=np.float64)
    if roll.downbeat is not None:
        arrays["downbeat"] = np.asarray(roll.downbeat, dtype=bool)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            archive.writestr(_member(f"{key}.npy"), member.getvalue())
        archive.writestr(_member("info.json"), json.dumps(info))
    return out.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# A conversion task: (MIDI file, its md5, the .npz paths to write) and its result:
# (md5, song digest of what was written, or None, and the error when there is one).
Task = tuple[str, str, list[str]]
Result = tuple[str, str | None, str | None]


def convert_task(task: Task) -> Result:
    """Convert one verified MIDI file and write its ``.npz`` to every path of ``task``
    (atomically, read back and checked first); a top-level function, for worker processes.
    Any error is returned, not raised: one song's failure does not stop the others."""
    source, md5, dests = task
    try:
        roll = midi.convert(midi.read_midi(source))
        expected = song_digest(roll.to_song())
        data = lpd_npz_bytes(roll, md5)
        for dest in dests:
            _write_checked(Path(dest), data, expected)
        return md5, expected, None
    except Exception as error:  # noqa: BLE001 - reported per song by the caller
        return md5, None, f"{type(error).__name__}: {error}"


def _write_checked(dest: Path, data: bytes, expected: str) -> None:
    """Write ``data`` beside ``dest``, check that the project's LPD reader gives the song with
    digest ``expected`` from it, and rename it onto ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".fetch", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        written = song_digest(lpd.read_npz(tmp))
        if written != expected:
            raise ValueError("the written .npz reads back as another song")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def npz_song_digest(path: Path) -> str | None:
    """The song digest of the LPD ``.npz`` at ``path``, or None when it cannot be read."""
    try:
        return song_digest(lpd.read_npz(path))
    except Exception:  # noqa: BLE001 - an unreadable file simply has no digest
        return None


# --------------------------------------------------------------------------------------------
# Both trees: how each conversion differs from LPD's file
# --------------------------------------------------------------------------------------------


def song_differences(ours: Song, theirs: Song) -> list[str]:
    """How song ``ours`` (converted) differs from ``theirs`` (LPD's), in what the training
    tensor reads (empty when it does not)."""
    found = []
    if ours.length != theirs.length:
        found.append(f"length {ours.length} steps, LPD's {theirs.length}")
    meta = [(t.program, t.is_drum) for t in ours.tracks]
    if meta != [(t.program, t.is_drum) for t in theirs.tracks]:
        found.append(f"tracks (program, drum) {meta}, LPD's differ")
        return found
    for k, (a, b) in enumerate(zip(ours.tracks, theirs.tracks, strict=True)):
        cells_a = set(zip(a.times.tolist(), a.pitches.tolist(), strict=True))
        cells_b = set(zip(b.times.tolist(), b.pitches.tolist(), strict=True))
        if cells_a != cells_b:
            found.append(f"track {k}: {len(cells_a ^ cells_b)} cell(s) differ")
    return found


def compare_trees(lmd_root: Path, lpd_root: Path) -> dict:
    """Convert every MIDI file under ``lmd_root`` (``<md5[0]>/<md5>.mid``) whose md5 names a file
    of the LPD tree ``lpd_root``, and compare each with that file. Returns the counts and, per
    LPD file whose conversion differs or fails, the differences."""
    differs: dict[str, list[str]] = {}
    converted: dict[str, Song | str] = {}  # md5 -> converted song, or the error
    compared = missing = 0
    for rel in lpd.find_npz_files(lpd_root):
        if lpd.layout_error(rel) is not None:
            continue
        md5 = lpd.parse_lpd_path(rel).md5
        source = lmd_root / midi_rel(md5)
        if not source.is_file():
            missing += 1
            continue
        if md5 not in converted:
            try:
                converted[md5] = midi.convert(midi.read_midi(source)).to_song()
            except Exception as error:  # noqa: BLE001 - reported per song
                converted[md5] = f"cannot convert {source}: {type(error).__name__}: {error}"
        compared += 1
        ours = converted[md5]
        if isinstance(ours, str):
            problems = [ours]
        else:
            try:
                problems = song_differences(ours, lpd.read_npz(lpd_root / rel))
            except Exception as error:  # noqa: BLE001 - reported per song
                problems = [f"cannot read the LPD file: {type(error).__name__}: {error}"]
        if problems:
            differs[rel] = problems
    return {"compared": compared, "no_midi_file": missing, "differs": differs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.fetch.lmd",
        description="Convert the Lakh MIDI files of an LMD tree with the LPD-exact converter and "
        "list, per song, any whose piano-roll differs from the LPD file named by its md5. Exit "
        "status 0 when none differs, 1 when some do, 2 for bad input.",
    )
    parser.add_argument("--lmd-root", type=Path, required=True, help="<md5[0]>/<md5>.mid files")
    parser.add_argument("--lpd-root", type=Path, required=True, help="an LPD-cleansed tree")
    parser.add_argument("--report", type=Path, help="also write the result here as JSON")
    args = parser.parse_args(argv)
    for option, folder in (("--lmd-root", args.lmd_root), ("--lpd-root", args.lpd_root)):
        if not folder.is_dir():
            print(f"{option} {folder}: not a folder", file=sys.stderr)
            raise SystemExit(2)
    result = compare_trees(args.lmd_root, args.lpd_root)
    for rel, problems in sorted(result["differs"].items()):
        print(f"{rel}: {'; '.join(problems)}")
    print(
        f"{result['compared']} LPD file(s) compared, {len(result['differs'])} differ, "
        f"{result['no_midi_file']} without a MIDI file under {args.lmd_root}"
    )
    if args.report is not None:
        write_json(args.report, result)
    raise SystemExit(1 if result["differs"] else 0)


if __name__ == "__main__":
    main()
