"""What travels to a lent GPU machine and what comes back (``python -m benchmarks.gpu``).

The carry folder (``python -m benchmarks.gpu --build-carry gpu_carry``), one ignored folder
sent with the working tree (limit 64 MiB)::

    phrases.h5          the default training tensor, built by the pipeline's own ``filter`` and
                        ``build_tensor`` stages from ``paths.lpd_root`` with the default params
    plugin/libh5zstd.so hdf5plugin's Zstandard filter alone, stripped of its symbols (HDF5 loads it
                        through ``HDF5_PLUGIN_PATH`` where hdf5plugin is not installed)
    reference_runs/     the original runs' training-progress curves (``paths.reference_runs``)
    round1/             (``--round1 DIR``) what a first call returned and a second call continues:
                        its summary.json and the proposed-D stage-one export
    carry.json          every file and its size

What comes back (``--out``): at most ``MAX_FILES`` files of at most ``MAX_BYTES`` each
(``pack_results``).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Params
from pipeline.data.phrase_file import (
    ZSTD_LIBRARY,
    PhraseBatch,
    TrackInfo,
    plugin_dirs,
    read_attrs,
    read_phrases,
    read_track_info,
    write_phrase_file,
)
from pipeline.io import write_json

MAX_FILES = 8  # files that come back from a lent machine
MAX_BYTES = 16 * 2**20  # bytes per file that comes back
MAX_CARRY = 64 * 2**20  # bytes that travel with the working tree
TENSOR = "phrases.h5"
PLUGIN = "plugin"
REFERENCE = "reference_runs"
ROUND1 = "round1"
# Small result files packed into results.tar.gz (checkpoints and phrase files stay out).
PACKED_SUFFIXES = (".csv", ".json", ".log", ".png", ".txt")


def build_tensor(params: Params, work: Path, tensor: Path) -> dict[str, Any]:
    """The default tensor, made by the ``filter`` and ``build_tensor`` stages' own ``run``."""
    from pipeline.stages import build_tensor as build_stage
    from pipeline.stages import filter as filter_stage

    p = params.paths
    manifest, report = work / "manifest.csv", work / "filter.json"
    filter_stage.run(
        params.filter,
        Path(p.lpd_root),
        Path(p.cleansed_ids),
        Path(p.lastfm_dir),
        Path(p.midi_dir),
        manifest,
        report,
    )
    result = build_stage.run(
        params.build_tensor,
        manifest,
        Path(p.lpd_root),
        Path(p.midi_dir),
        tensor,
        work / "build_tensor.json",
        params.filter,
    )
    return {"songs": result.n_songs, "phrases": result.n_phrases}


def copy_plugin(dest: Path) -> Path:
    """hdf5plugin's Zstandard filter library alone, stripped (about 0.75 MB instead of 9.8)."""
    found = [d / ZSTD_LIBRARY for d in plugin_dirs() if (d / ZSTD_LIBRARY).is_file()]
    if not found:
        raise FileNotFoundError(f"{ZSTD_LIBRARY} not found (is hdf5plugin installed?)")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / ZSTD_LIBRARY
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-unneeded", "-o", str(target), str(found[0])], check=True)
    else:
        shutil.copyfile(found[0], target)
    return target


def folder_size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def build_carry(params: Params, carry: Path, round1: Path | None = None) -> dict[str, Any]:
    """Fill the carry folder (module docstring); return what it holds. Over 64 MiB is an error."""
    carry.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    if not (carry / TENSOR).is_file():
        with tempfile.TemporaryDirectory() as tmp:
            info["tensor"] = build_tensor(params, Path(tmp), carry / TENSOR)
    copy_plugin(carry / PLUGIN)
    ref = carry / REFERENCE
    ref.mkdir(exist_ok=True)
    for npz in sorted(Path(params.paths.reference_runs).glob("*.npz")):
        shutil.copyfile(npz, ref / npz.name)
    if round1 is not None:
        dest = carry / ROUND1
        dest.mkdir(exist_ok=True)
        for name in ("summary.json", "pretrain_proposed.weights.pt"):
            if (round1 / name).is_file():
                shutil.copyfile(round1 / name, dest / name)
    files = {
        f.relative_to(carry).as_posix(): f.stat().st_size
        for f in sorted(carry.rglob("*"))
        if f.is_file() and f.name != "carry.json"
    }
    total = sum(files.values())
    info.update({"files": files, "total_bytes": total, "limit_bytes": MAX_CARRY})
    write_json(carry / "carry.json", info)
    if total > MAX_CARRY:
        raise ValueError(f"{carry}: {total / 2**20:.1f} MiB, over the 64 MiB carry limit")
    return info


TINY_TRACKS = 3  # Drums, Piano, Guitar: the drum track and the tonal-distance pair of the metrics


def tiny_tensor(source: Path | None, dest: Path, n: int, tracks: int | None = None) -> Path:
    """A phrase file of the first ``n`` phrases of ``source`` (and its first ``tracks`` tracks).

    Without a source (CI has no carry folder), ``n`` random sparse phrases (2 % of cells on)
    with the first ``tracks`` bmusegan8 tracks: the check exercises the code, not the music.
    """
    if source is not None and source.is_file():
        phrases = read_phrases(source, 0, n)
        info, attrs = read_track_info(source), read_attrs(source)
        lowest, resolution = int(attrs["lowest_pitch"]), int(attrs["resolution"])
    else:
        from pipeline.data.tracks import get_track_set

        info = get_track_set("bmusegan8").info
        phrases = np.random.default_rng(0).random((n, 4, 96, 84, len(info.names))) < 0.02
        lowest, resolution = 24, 24
    k = tracks or len(info.names)
    phrases = np.ascontiguousarray(phrases[..., :k])
    info = TrackInfo(info.names[:k], info.programs[:k], info.is_drums[:k])
    batch = PhraseBatch(phrases, [""] * len(phrases), [""] * len(phrases), [-1] * len(phrases))
    write_phrase_file(
        dest, [batch], phrases.shape[1:], info, lowest, resolution, {"gpu_check": "subset"}
    )
    return dest


def pack_results(work: Path, out: Path, exports: list[Path]) -> dict[str, Any]:
    """``results.tar.gz`` of the small files under ``work``, plus the exports, into ``out``.

    Returns the files written with their sizes and whether the limits hold (at most MAX_FILES
    files with summary.json, each at most MAX_BYTES). Exports beyond the limits are left out
    and named.
    """
    out.mkdir(parents=True, exist_ok=True)
    tar = out / "results.tar.gz"
    with tarfile.open(tar, "w:gz") as archive:
        for f in sorted(work.rglob("*")):
            if f.is_file() and f.suffix in PACKED_SUFFIXES:
                archive.add(f, arcname=f.relative_to(work).as_posix())
    written, left_out = [tar], []
    for export in exports:
        size = export.stat().st_size
        if size > MAX_BYTES or len(written) + 1 >= MAX_FILES:  # + 1: summary.json
            left_out.append(f"{export.name} ({size} bytes)")
            continue
        shutil.copyfile(export, out / export.name)
        written.append(out / export.name)
    sizes = {f.name: f.stat().st_size for f in written}
    return {
        "files": sizes,
        "left_out": left_out,
        "limits_hold": len(sizes) + 1 <= MAX_FILES and max(sizes.values()) <= MAX_BYTES,
    }


def unpack_results(results: Path, dest: Path) -> Path:
    """Extract a returned ``results.tar.gz`` (for plotting on the CPU); return ``dest``."""
    with tarfile.open(results / "results.tar.gz") as archive:
        archive.extractall(dest, filter="data")
    return dest
