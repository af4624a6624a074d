"""Hostile input: huge claimed shapes, zip bombs, endless MIDI files and paths out of the root.

Each hostile file is built small on disk in the test's folder beside one real song. The filter
(run as the command DVC and Snakemake run) refuses each under its own rule of the report, reading
no more than the zip directory or the tempo map, and completes in bounded time and memory with the
real song kept; build_tensor refuses the same files when a manifest names them directly.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.dag.dag_tools import REPO, SHARED, env
from tests.robust.hostile import midi_fast_tempo, midi_hours_long, midi_many_notes, write_npz

LPD = SHARED / "data" / "lpd" / "lpd_cleansed"
REAL_LPD = LPD / "A/A/A/TRAAAGR128F425B14B/b97c529ab9ef783a849b896816001748.npz"
REAL_MIDI = next((SHARED / "data" / "lmd_to_lpd" / "lmd_full").rglob("*.mid"))
MAX_WALL_S = 120  # generous for a busy 2-core machine; the hostile files alone take < 5 s
# Measured: about 90 MB. Parsing the million-note file would need about 1.4 GB (288 MB measured
# for 200,000 notes).
MAX_RSS_MB = 400


def _msd(i: int) -> str:
    return f"TRHOS{i:013d}"


def _lpd_path(root: Path, msd: str, md5: str) -> Path:
    return root / msd[2] / msd[3] / msd[4] / msd / f"{md5}.npz"


def _params(tmp: Path, source: str, phrases_per_song: int = 1) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["filter"].update(source=source, tag=None, workers=1)
    params["build_tensor"].update(workers=1, phrases_per_song=phrases_per_song)
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


# Runs a command and prints its peak RSS (kB) last. The launcher is a fresh, small process: a child
# of pytest itself would report pytest's own peak as its ru_maxrss (Linux keeps it across exec).
_LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0);"
    " print(u.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(s))"
)


def _run_measured(module: str, args: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m module args``; return the process, wall seconds and peak RSS in MB."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
    )
    rss_kb = int(proc.stderr.strip().splitlines()[-1])
    return proc, time.monotonic() - start, rss_kb / 1024


def _filter(tmp: Path, source: str, root: Path, ids: dict[str, str]) -> tuple[dict, list[dict]]:
    """Run the filter stage on ``root``; return its report and manifest rows."""
    (tmp / "ids.txt").write_text("".join(f"{md5}    {msd}\n" for md5, msd in ids.items()))
    (tmp / "lastfm").mkdir(exist_ok=True)
    args = [
        *("--params", str(_params(tmp, source)), "--lpd-root", str(root)),
        *("--cleansed-ids", str(tmp / "ids.txt"), "--lastfm-dir", str(tmp / "lastfm")),
        *("--midi-dir", str(root), "--manifest", str(tmp / "manifest.csv")),
        *("--report", str(tmp / "report.json")),
    ]
    proc, wall, rss = _run_measured("pipeline.stages.filter", args)
    print(f"filter on {source}: {wall:.1f} s, peak RSS {rss:.0f} MB")  # pytest -s: README figures
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wall < MAX_WALL_S and rss < MAX_RSS_MB, (wall, rss)
    with open(tmp / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return json.loads((tmp / "report.json").read_text()), rows


def _refused(report: dict, rule: str) -> list[str]:
    files = report["rules"][rule]["files"]
    assert report["rules"][rule]["removed"] == len(files)
    return sorted(f["path"] for f in files)


@pytest.fixture
def lpd_tree(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, Path]]:
    """A real song plus a huge claimed shape, two zip bombs and a link out of the root."""
    root = tmp_path / "lpd"
    ids = {REAL_LPD.stem: "TRAAAGR128F425B14B"}
    good = _lpd_path(root, "TRAAAGR128F425B14B", REAL_LPD.stem)
    good.parent.mkdir(parents=True)
    shutil.copyfile(REAL_LPD, good)
    hostile = {}
    cases = {"huge_shape": {"claimed_steps": 10**12}, "bomb_data": {"bomb": "data"}}
    cases["bomb_downbeat"] = {"bomb": "downbeat"}
    cases["link_out"] = {}
    for i, (name, kwargs) in enumerate(sorted(cases.items())):
        md5 = f"{i:032x}"
        ids[md5] = _msd(i)
        path = _lpd_path(root, _msd(i), md5)
        if name == "link_out":
            outside = write_npz(tmp_path / "outside" / "song.npz", 960)
            path.parent.mkdir(parents=True)
            path.symlink_to(outside)
        else:
            write_npz(path, 960, **kwargs)
        hostile[name] = path
    return root, ids, hostile


def test_filter_refuses_hostile_lpd_files(tmp_path, lpd_tree):
    root, ids, hostile = lpd_tree
    report, rows = _filter(tmp_path, "lpd", root, ids)
    rel = {name: p.relative_to(root).as_posix() for name, p in hostile.items()}
    assert _refused(report, "too_long") == [rel["huge_shape"]]
    assert _refused(report, "too_large") == sorted([rel["bomb_data"], rel["bomb_downbeat"]])
    assert _refused(report, "outside_root") == [rel["link_out"]]
    assert [r["md5"] for r in rows] == [REAL_LPD.stem]  # the run completes with the real song


def test_build_tensor_refuses_them_from_a_manifest(tmp_path, lpd_tree):
    """A manifest written by hand (not by the filter) naming the hostile files: each skipped and
    reported under its rule, the real song used."""
    root, ids, hostile = lpd_tree
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["msd_id", "md5", "source", "path"])
        for md5, msd in ids.items():
            writer.writerow(
                [msd, md5, "lpd", _lpd_path(root, msd, md5).relative_to(root).as_posix()]
            )
    args = [
        *("--params", str(_params(tmp_path, "lpd")), "--manifest", str(manifest)),
        *("--lpd-root", str(root), "--midi-dir", str(root)),
        *("--tensor", str(tmp_path / "t.h5"), "--report", str(tmp_path / "r.json")),
    ]
    proc, wall, rss = _run_measured("pipeline.stages.build_tensor", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wall < MAX_WALL_S and rss < MAX_RSS_MB, (wall, rss)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["songs_used"] == 1 and (tmp_path / "t.h5").is_file()
    assert report["skipped_by_reason"] == {"outside_root": 1, "too_large": 2, "too_long": 1}


def test_filter_refuses_hostile_midi_files(tmp_path):
    root = tmp_path / "midi"
    root.mkdir()
    shutil.copyfile(REAL_MIDI, root / REAL_MIDI.name)
    midi_hours_long(root / "hours.mid", hours=10)  # 1.7 million steps
    midi_fast_tempo(root / "tempo.mid", beats=2_000_000)  # 48 million steps in 2 seconds
    midi_many_notes(root / "notes.mid", n_notes=1_000_000)  # 6 MB
    (root / "zero.mid").symlink_to("/dev/zero")  # hashing it would never end
    report, rows = _filter(tmp_path, "midi", root, {})
    assert _refused(report, "too_long") == ["hours.mid", "tempo.mid"]
    assert _refused(report, "too_large") == ["notes.mid"]
    assert _refused(report, "outside_root") == ["zero.mid"]
    assert [r["path"] for r in rows] == [REAL_MIDI.name]
