"""Stage ``build_tensor``: merged, binarized four-bar phrases of the kept songs in one HDF5 file.

For every manifest row, in manifest order: read the song (LPD ``.npz`` with NumPy, or MIDI through
the LPD converter conventions of ``pipeline.data.midi``), OR-merge its tracks into the track set
(``build_tensor.track_set``), keep MIDI pitches ``lowest_pitch .. lowest_pitch + n_pitches - 1``
and draw ``phrases_per_song`` bar-aligned windows with the song's own RNG (seed + md5; rules in
``pipeline.data.phrases``). Songs are read on several processes, at most a few songs ahead of the
writer, and written in manifest order, so memory is bounded and the file does not depend on the
number of workers. Same params and inputs give a byte-identical file.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import BuildTensor, Filter, as_dict
from pipeline.data import limits, lpd, midi
from pipeline.data.manifest import OutsideRootError, read_manifest, source_path
from pipeline.data.npz import NpzReader
from pipeline.data.parallel import n_workers, ordered_map
from pipeline.data.phrase_file import EncodedBatch, encode_phrases, write_phrase_file
from pipeline.data.phrases import (
    active_bars,
    choose_starts,
    densify_windows,
    merge_cells,
    song_rng,
    valid_starts,
    window_scratch,
)
from pipeline.data.song import RESOLUTION, STEPS_PER_BAR, Song
from pipeline.data.tracks import DROPPED, get_track_set
from pipeline.errors import DataError
from pipeline.io import write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SongTask:
    root: str
    source: str
    msd_id: str
    md5: str
    path: str
    cfg: BuildTensor
    bounds: Filter | None = None  # filter.max_song_steps / max_midi_bytes, checked again here


@dataclass(frozen=True)
class SongPhrases:
    """What a worker sends back: the phrases of one song, or why it has none (not its task: the
    parent has it, and pickling its params back doubled the cost of each result message)."""

    starts: list[int]
    chunks: list[bytes] | None  # compressed phrases (compression runs in the worker)
    skipped: str | None  # reason category
    detail: str = ""


@dataclass(frozen=True)
class BuildResult:
    n_songs: int
    n_phrases: int
    n_skipped: int


def load_song(task: SongTask) -> Song:
    """Read one song, decompressing only the tracks and pitches the track set keeps."""
    cfg = task.cfg
    full = source_path(task.root, task.path)
    bounds = task.bounds
    if task.source == "midi":
        if bounds is not None:
            limits.check_midi_size(full, bounds.max_midi_bytes)
        pm = midi.read_midi(full)
        if bounds is not None:
            limits.check_midi_length(pm, bounds.max_song_steps)
        return midi.midi_to_song(pm)
    track_set = get_track_set(cfg.track_set)
    with NpzReader(full) as npz:  # opened once: bounds, header and cells
        if bounds is not None:
            limits.check_npz(npz, bounds.max_song_steps)
            limits.check_length(lpd.npz_header(npz).length, bounds.max_song_steps)
        return lpd.npz_song(
            npz,
            keep=lambda program, is_drum: track_set.track_of(program, is_drum) != DROPPED,
            pitch_range=(cfg.lowest_pitch, cfg.lowest_pitch + cfg.n_pitches),
        )


def song_phrases(task: SongTask) -> SongPhrases:
    """Load, merge and cut one song (runs in a worker process)."""
    cfg = task.cfg
    try:
        song = load_song(task)
    except OutsideRootError as error:
        return SongPhrases([], None, "outside_root", str(error))
    except limits.SongTooBig as error:
        return SongPhrases([], None, error.rule, str(error))
    except Exception as error:  # noqa: BLE001 - reported, never fatal
        text = f"{type(error).__name__}: {error}".replace(task.root, "<root>")
        return SongPhrases([], None, "unreadable", text)
    track_set = get_track_set(cfg.track_set)
    cells = merge_cells(song, track_set, cfg.lowest_pitch, cfg.n_pitches)
    valid = valid_starts(active_bars(cells), cfg.n_bars, cfg.allow_silent)
    starts = choose_starts(
        valid, cfg.phrases_per_song, cfg.n_bars, cfg.allow_overlap, song_rng(cfg.seed, task.md5)
    )
    if not starts or (len(starts) < cfg.phrases_per_song and not cfg.keep_short_songs):
        detail = (
            f"{len(starts)} {'disjoint ' if not cfg.allow_overlap else ''}"
            f"{'non-silent ' if not cfg.allow_silent else ''}windows of {cfg.n_bars} bars "
            f"(song has {song.n_bars} complete bars), {cfg.phrases_per_song} needed"
        )
        return SongPhrases([], None, "too_few_windows", detail)
    shape = (cfg.n_bars, cfg.n_pitches, track_set.n_tracks)
    scratch = window_scratch(cfg.phrases_per_song, *shape)
    phrases = densify_windows(cells, starts, *shape, scratch=scratch)
    return SongPhrases(starts, encode_phrases(phrases), None)  # bytes: scratch is free again


def _batches(
    tasks: list[SongTask], results: Iterator[SongPhrases], report: dict[str, Any]
) -> Iterator[EncodedBatch]:
    """The songs' phrases, a few hundred at a time (the writer resizes the dataset once per
    batch: once per song cost a fifth of its time), with skipped songs counted in ``report``."""
    batch = EncodedBatch([], [], [], [])
    for t, res in zip(tasks, results, strict=True):  # ordered_map keeps the tasks' order
        if res.chunks is None:
            report["skipped"].append(
                {
                    "path": t.path,
                    "md5": t.md5,
                    "msd_id": t.msd_id,
                    "reason": res.skipped,
                    "detail": res.detail,
                }
            )
            continue
        report["songs_used"] += 1
        k = len(res.starts)
        batch.chunks.extend(res.chunks)
        batch.msd_ids.extend([t.msd_id] * k)
        batch.md5s.extend([t.md5] * k)
        batch.start_bars.extend(res.starts)
        if len(batch.chunks) >= _WRITE_BATCH:
            yield batch
            batch = EncodedBatch([], [], [], [])
    yield batch


_WRITE_BATCH = 256  # phrases per write: about 400 kB of compressed chunks


def check_roots(rows: list[dict[str, str]], roots: dict[str, str], manifest: Path) -> None:
    """A root that is not a folder, or holds none of the manifest's songs, is a wrong option
    (a DataError), not a reason to skip every song as unreadable and write an empty file."""
    for source in sorted({r["source"] for r in rows}):
        if not Path(roots[source]).is_dir():
            raise DataError(f"{roots[source]}: not a folder (the {source} root of {manifest})")
    if rows and not any(Path(roots[r["source"]], r["path"]).is_file() for r in rows):
        where = " or ".join(sorted({roots[r["source"]] for r in rows}))
        raise DataError(f"{where}: holds none of the {len(rows)} songs of {manifest}")


def run(
    cfg: BuildTensor,
    manifest: Path,
    lpd_root: Path,
    midi_dir: Path,
    tensor: Path,
    report: Path,
    bounds: Filter | None = None,
) -> BuildResult:
    """Write the phrase file ``tensor`` and the JSON ``report`` from the ``manifest``'s songs.

    ``bounds`` (the filter's section) refuses songs over its size limits before they are read.
    """
    rows = read_manifest(manifest)
    track_set = get_track_set(cfg.track_set)
    roots = {"lpd": str(lpd_root), "midi": str(midi_dir)}
    check_roots(rows, roots, manifest)
    tasks = [
        SongTask(roots[r["source"]], r["source"], r["msd_id"], r["md5"], r["path"], cfg, bounds)
        for r in rows
    ]
    workers = n_workers(cfg.workers)
    log.info("building %s phrases from %d songs on %d processes", cfg.track_set, len(rows), workers)
    out: dict[str, Any] = {"songs_used": 0, "skipped": []}
    params = {k: v for k, v in as_dict(cfg).items() if k != "workers"}
    n = write_phrase_file(
        tensor,
        _batches(tasks, ordered_map(song_phrases, tasks, workers, batch=8), out),
        phrase_shape=(cfg.n_bars, STEPS_PER_BAR, cfg.n_pitches, track_set.n_tracks),
        tracks=track_set.info,
        lowest_pitch=cfg.lowest_pitch,
        resolution=RESOLUTION,
        params={"build_tensor": params},
        extra_attrs={"track_set": cfg.track_set},
    )
    reasons = Counter(s["reason"] for s in out["skipped"])
    write_json(
        report,
        {
            "params": params,
            "track_set": cfg.track_set,
            "n_songs_in_manifest": len(rows),
            "songs_used": out["songs_used"],
            "phrases": n,
            "songs_skipped": len(out["skipped"]),
            "skipped_by_reason": dict(sorted(reasons.items())),
            "skipped": out["skipped"],
        },
    )
    log.info(
        "%d phrases from %d songs; skipped %d songs %s",
        n,
        out["songs_used"],
        len(out["skipped"]),
        dict(reasons),
    )
    return BuildResult(out["songs_used"], n, len(out["skipped"]))


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    for name, what in (
        ("manifest", "the song manifest that stage filter wrote"),
        ("lpd-root", "the LPD tree the manifest's paths are relative to (paths.lpd_root)"),
        ("midi-dir", "the MIDI folder, for a manifest of MIDI files (paths.midi_dir)"),
        ("tensor", "the phrase file to write (HDF5)"),
        ("report", "the report to write (JSON: songs used and skipped, and why)"),
    ):
        parser.add_argument(f"--{name}", required=True, type=Path, help=f"{what}; required")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(DataError, FileNotFoundError):
        run(
            params.build_tensor,
            args.manifest,
            args.lpd_root,
            args.midi_dir,
            args.tensor,
            args.report,
            params.filter,
        )


if __name__ == "__main__":
    main()
