"""Benchmark of the data stages: filter + build_tensor against a naive single-process baseline.

Over the LPD-cleansed files of ``../shared/data/lpd/lpd_cleansed`` (no tag filter), prints songs per
second of

* the baseline: per song ``pypianoroll.load``, merge into the eight BinaryMuseGAN tracks, binarize,
  crop to the 84 pitches (one process, no output written), and
* the pipeline: ``filter.run`` then ``build_tensor.run`` (all cores, HDF5 written),

each measured in a fresh subprocess, plus the peak resident memory (main process and largest
worker) for a small and the full song count, to show memory does not grow with the song count.

    python benchmarks/bench_data.py [--lpd-root ../shared/data/lpd/lpd_cleansed] [--small 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def _pipeline(root: Path, n: int | None) -> dict:
    from pipeline.config import load_params
    from pipeline.stages import build_tensor, filter

    params = load_params(REPO / "params.yaml")
    cfg_filter = dataclasses.replace(params.filter, tag=None, source="lpd", workers=0)
    files = _files(root, n)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "lpd"
        for path in files:  # a tree of links, so that the filter sees exactly n songs
            link = tree / path.relative_to(root)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
        out = Path(tmp) / "out"
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
        "songs": len(files),
        "unique_songs": kept.n_kept,
        "songs_used": built.n_songs,
        "phrases": built.n_phrases,
        "seconds": seconds,
    }


def _measure(kind: str, root: Path, n: int | None) -> dict:
    """Run one measurement in a fresh interpreter so that its peak memory is its own."""
    cmd = [sys.executable, __file__, "--one", kind, "--lpd-root", str(root)]
    if n:
        cmd += ["--n", str(n)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _one(kind: str, root: Path, n: int | None) -> None:
    result = _baseline(root, n) if kind == "baseline" else _pipeline(root, n)
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.update(peak_rss_main_mb=self_kb / 1024, peak_rss_worker_mb=child_kb / 1024)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lpd-root", type=Path, default=DATA / "lpd" / "lpd_cleansed")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--one", choices=["baseline", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.one:
        _one(args.one, args.lpd_root.resolve(), args.n)
        return
    root = args.lpd_root.resolve()
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
        f"phrases) in {full['seconds']:.2f} s = {rate_full:.1f} songs/s "
        f"({full['unique_songs'] / full['seconds']:.1f} unique songs/s); "
        f"speed-up {rate_full / rate_base:.2f}x"
    )
    for r in (small, full):
        print(
            f"peak RSS with {r['songs']:4d} songs: main {r['peak_rss_main_mb']:.0f} MB, "
            f"largest worker {r['peak_rss_worker_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
