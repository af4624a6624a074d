"""Where a run comes from: git commit, a digest of the params, data counts, stage timings.

Wall times come from the stages' own log files (``logs/**.log``: first to last timestamp, the
format of ``pipeline.cli``); the device from the training runs' ``timing.json``. Both are
machine facts, not results, so the logs are read but not declared as inputs of the stage.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime
from pathlib import Path

STAMP = "%Y-%m-%d %H:%M:%S"


def git_commit(repo: Path) -> str:
    """The checked-out commit (with ``+dirty`` when tracked files changed), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def params_file_sha256(path: Path) -> str:
    """SHA-256 of the params file's bytes (first 16 hex digits)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_json(path: Path) -> dict:
    """A stage report; a missing or broken file is an error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the stage report ({error.strerror})") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{path}: not a JSON stage report ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON stage report (expected a mapping)")
    return data


def data_counts(filter_report: Path, build_report: Path) -> dict[str, object]:
    """Songs scanned and kept by ``filter``, songs and phrases of ``build_tensor``."""
    f, b = read_json(filter_report), read_json(build_report)
    return {
        "files scanned (filter)": f.get("n_files"),
        "songs kept (filter)": f.get("n_kept"),
        "songs used (build_tensor)": b.get("songs_used"),
        "phrases (build_tensor)": b.get("phrases"),
        "track set": b.get("track_set"),
    }


def log_wall_time(path: Path) -> float | None:
    """Seconds from the first to the last timestamped line of a stage log."""
    stamps = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            stamps.append(datetime.strptime(line[:19], STAMP))
        except ValueError:
            continue
    return (stamps[-1] - stamps[0]).total_seconds() if stamps else None


def stage_timings(logs_dir: Path, runs_dir: Path) -> list[tuple[str, float | None, str]]:
    """(stage instance, wall seconds, device) for every log under ``logs_dir``."""
    rows = []
    for log in sorted(logs_dir.rglob("*.log")):
        name = log.relative_to(logs_dir).with_suffix("").as_posix()
        timing = runs_dir / name / "timing.json"
        device = json.loads(timing.read_text()).get("device", "–") if timing.is_file() else "–"
        rows.append((name.replace("/", "@"), log_wall_time(log), str(device)))
    return rows
