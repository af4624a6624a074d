"""Benchmark of the data stages: filter + build_tensor against a naive single-process baseline.

Over the LPD-cleansed files of ``../shared/data/lpd_alternative/lpd_cleansed`` (the default run's
source: 2,076 files; no tag filter), prints songs per second of

* the baseline: per song ``pypianoroll.load``, merge into the eight BinaryMuseGAN tracks, binarize,
  crop to the 84 pitches (one process, no output written), and
* the pipeline: ``filter.run`` then ``build_tensor.run`` (all cores, HDF5 written),

each measured in a fresh subprocess, plus the peak resident memory (main process and largest
worker) for a small and the full song count, to show memory does not grow with the song count.

``--tree`` also times the pipeline on a tree as large as the whole LPD-cleansed release: one
entry per line of ``cleansed_ids.txt`` (21,425 files, 13,215 distinct md5s), each a link to one of
the bundled files (chosen by md5), with the tag rule off. Tree entries are hard links to private
copies of the bundled files, since the filter refuses links that lead out of its root.

    python benchmarks/bench_data.py [--lpd-root ../shared/data/lpd_alternative/lpd_cleansed]
                                    [--small 100] [--tree]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.cli import count, existing_dir, first_paragraph

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _files(root: Path, n: int | None) -> list[Path]:
    files = sorted(root.rglob("*.npz"))
    return files[:n] if n else files


def _baseline(root: Path, n: int | None) -> dict:
    import numpy as np
    import pypianoroll

    from pipeline.data.tracks import DROPPED, get_track_set

    track_set = get_track_set("bmusegan8")
    files = _files(root, n)
    start = time.perf_counter()
    for path in files:
        multitrack = pypianoroll.load(path)
        length = max(t.pianoroll.shape[0] for t in multitrack.tracks)
        merged = np.zeros((length, 128, track_set.n_tracks), dtype=bool)
        for track in multitrack.tracks:
            target = track_set.track_of(track.program, track.is_drum)
            if target != DROPPED and track.pianoroll.shape[0]:
                merged[: track.pianoroll.shape[0], :, target] |= track.pianoroll > 0
        _ = merged[:, 24:108]
    seconds = time.perf_counter() - start
    return {"songs": len(files), "seconds": seconds}


class _Store:
    """Private copies of bundled files, hard-linked into a benchmark tree.

    The filter refuses a link that leads out of its root (rule ``outside_root``), so a tree of
    symbolic links to ``../shared`` would be refused whole. Each bundled file is copied once into
    ``store`` (beside the tree, same file system) and every tree entry is a hard link to a copy:
    inside the root, and no more disk than the copies.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.copies: dict[Path, Path] = {}

    def link(self, link: Path, target: Path) -> None:
        copy = self.copies.get(target)
        if copy is None:
            copy = self.store / f"{len(self.copies)}.npz"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, copy)
            self.copies[target] = copy
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(copy, link)


def link_subset(root: Path, n: int | None, tree: Path, store: _Store) -> int:
    """A tree of links to the first ``n`` files of ``root``, so the filter sees exactly those."""
    files = _files(root, n)
    for path in files:
        store.link(tree / path.relative_to(root), path)
    return len(files)


def link_release(tree: Path, store: _Store) -> int:
    """A tree shaped like the whole LPD-cleansed release: every (md5, MSD id) of
    ``cleansed_ids.txt`` at its official path, linked to a bundled file chosen by the md5."""
    from pipeline.data.labels import read_cleansed_ids

    roots = [DATA / "lpd_alternative" / "lpd_cleansed", DATA / "lpd" / "lpd_cleansed"]
    bundled = {p.stem: p for r in roots for p in _files(r, None)}
    targets = [bundled[k] for k in sorted(bundled)]
    pairs = read_cleansed_ids(DATA / "lpd" / "cleansed_ids.txt")
    for md5, msd_ids in sorted(pairs.items()):
        target = bundled.get(md5) or targets[int(md5, 16) % len(targets)]
        for msd in msd_ids:
            store.link(tree / msd[2] / msd[3] / msd[4] / msd / f"{md5}.npz", target)
    return sum(len(ids) for ids in pairs.values())


def _pipeline(root: Path, n: int | None, release: bool = False) -> dict:
    from pipeline.config import load_params
    from pipeline.stages import build_tensor, filter

    params = load_params(REPO / "params.yaml")
    cfg_filter = dataclasses.replace(params.filter, tag=None, source="lpd", workers=0)
    with tempfile.TemporaryDirectory() as tmp:
        tree, store = Path(tmp) / "lpd", _Store(Path(tmp) / "store")
        n_files = link_release(tree, store) if release else link_subset(root, n, tree, store)
        out = Path(tmp) / "out"
        os.sync()  # the tree's own writes are flushed now, not during the timed stages
        start = time.perf_counter()
        kept = filter.run(
            cfg_filter,
            tree,
            DATA / "lpd" / "cleansed_ids.txt",
            DATA / "labels" / "lastfm",
            DATA / "midi",
            out / "manifest.csv",
            out / "filter.json",
        )
        filtered = time.perf_counter()
        built = build_tensor.run(
            dataclasses.replace(params.build_tensor, workers=0),
            out / "manifest.csv",
            tree,
            DATA / "midi",
            out / "phrases.h5",
            out / "build.json",
        )
        seconds = time.perf_counter() - start
    return {
        "songs": n_files,
        "unique_songs": kept.n_kept,
        "songs_used": built.n_songs,
        "phrases": built.n_phrases,
        "seconds": seconds,
        "filter_seconds": filtered - start,
    }


def _measure(kind: str, root: Path, n: int | None) -> dict:
    """Run one measurement in a fresh interpreter so that its peak memory is its own."""
    cmd = [sys.executable, __file__, "--one", kind, "--lpd-root", str(root)]
    if n:
        cmd += ["--n", str(n)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _one(kind: str, root: Path, n: int | None) -> None:
    if kind == "baseline":
        result = _baseline(root, n)
    else:
        result = _pipeline(root, n, release=kind == "release")
        if result["phrases"] == 0:  # a rate over nothing would look like a record
            raise SystemExit(f"bench_data: the {kind} run kept no phrases: {result}")
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.update(peak_rss_main_mb=self_kb / 1024, peak_rss_worker_mb=child_kb / 1024)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument(
        "--lpd-root",
        type=existing_dir,
        default=str(DATA / "lpd_alternative" / "lpd_cleansed"),
        help="the LPD-cleansed tree to read (default: the bundled lpd_alternative tree)",
    )
    parser.add_argument(
        "--small",
        type=count,
        default=100,
        help="songs of the small run, to compare peak memory with the full run (default: 100)",
    )
    parser.add_argument(
        "--tree",
        action="store_true",
        help="also time a link tree as large as the whole LPD-cleansed release (21,425 files)",
    )
    parser.add_argument(
        "--tree-only", action="store_true", help="time only that release-sized tree"
    )
    parser.add_argument(
        "--one", choices=["baseline", "pipeline", "release"], help=argparse.SUPPRESS
    )
    parser.add_argument("--n", type=count, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.one:
        _one(args.one, args.lpd_root.resolve(), args.n)
        return
    root = args.lpd_root.resolve()
    if args.tree_only:
        print(json.dumps(_measure("release", root, None)))
        return
    base = _measure("baseline", root, None)
    full = _measure("pipeline", root, None)
    small = _measure("pipeline", root, args.small)
    rate_base = base["songs"] / base["seconds"]
    rate_full = full["songs"] / full["seconds"]
    print(
        f"baseline (pypianoroll.load + merge + binarize + crop, 1 process): "
        f"{base['songs']} songs in {base['seconds']:.2f} s = {rate_base:.1f} songs/s, "
        f"peak RSS {base['peak_rss_main_mb']:.0f} MB"
    )
    print(
        f"pipeline (filter + build_tensor, all cores): {full['songs']} songs "
        f"({full['unique_songs']} unique md5, {full['songs_used']} used, {full['phrases']} "
        f"phrases) in {full['seconds']:.2f} s (filter {full['filter_seconds']:.2f} s) = "
        f"{rate_full:.1f} songs/s "
        f"({full['unique_songs'] / full['seconds']:.1f} unique songs/s); "
        f"speed-up {rate_full / rate_base:.2f}x"
    )
    runs = [small, full]
    if args.tree:
        tree = _measure("release", root, None)
        runs.append(tree)
        print(
            f"release-sized tree (filter + build_tensor, all cores): {tree['songs']} files "
            f"({tree['unique_songs']} unique md5, {tree['songs_used']} used, {tree['phrases']} "
            f"phrases) in {tree['seconds']:.2f} s (filter {tree['filter_seconds']:.2f} s) = "
            f"{tree['unique_songs'] / tree['seconds']:.1f} unique songs/s"
        )
    for r in runs:
        print(
            f"peak RSS with {r['songs']:5d} files: main {r['peak_rss_main_mb']:.0f} MB, "
            f"largest worker {r['peak_rss_worker_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
