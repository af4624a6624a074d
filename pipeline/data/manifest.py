"""Reading the filter's manifest, and resolving its paths, without trusting either.

The manifest (``outputs/filter/manifest.csv``) may be truncated or garbled, or written by hand.
``read_manifest`` checks every row before any song is read and raises a ``DataError`` naming the
file, the line and the problem. Song paths are relative to a source root and must stay inside it:
``source_path`` refuses ``..``, absolute paths and links that lead out of the root.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import stat
from pathlib import Path

from pipeline.errors import DataError

REQUIRED_COLUMNS = ("msd_id", "md5", "source", "path")
NON_EMPTY = ("md5", "source", "path")  # msd_id is empty for a MIDI file without an MSD id
SOURCES = ("lpd", "midi")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


class OutsideRootError(DataError):
    """A song path that leads outside its source root."""


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Rows of the filter's manifest; a missing, damaged or hostile file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (run stage filter first)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: manifest lacks column(s) {missing}")
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV manifest ({error})") from None
    for number, row in enumerate(rows, 2):
        problem = row_problem(row)
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
    return rows


def row_problem(row: dict[str, str | None]) -> str | None:
    """Why a manifest row cannot be used (a cut-off line, a bad field); None if it can."""
    if None in row:  # DictReader files surplus fields under the key None
        return "more fields than columns"
    short = [c for c in REQUIRED_COLUMNS if row.get(c) is None]
    if short:
        return f"fields {short} missing (truncated line?)"
    empty = [c for c in NON_EMPTY if not row[c]]
    if empty:
        return f"empty field(s) {empty}"
    if row["source"] not in SOURCES:
        return f"unknown source {row['source']!r}"
    if not _MD5.match(str(row["md5"])):
        return f"md5 {row['md5']!r} is not 32 hex digits"
    return relative_path_problem(str(row["path"]))


def relative_path_problem(rel: str) -> str | None:
    """Why ``rel`` is not a plain path inside a root (absolute, ``..``); None if it is."""
    # Plain string tests, as PurePosixPath decides them (asked about every song several times):
    # absolute means a leading "/", and ".." is a component that no normalization removes.
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        return f"path {rel!r} is absolute; it must be relative to the source root"
    if ".." in rel.split("/"):
        return f"path {rel!r} leads outside the source root"
    if "\0" in rel:
        return f"path {rel!r} holds a NUL byte"
    return None


def source_path(root: str | Path, rel: str) -> Path:
    """``root / rel``, refusing any path (links included) that resolves outside ``root``."""
    problem = relative_path_problem(rel)
    if problem:
        raise OutsideRootError(problem)
    full = Path(root) / rel
    inside = _resolved_root(str(root))
    if _plain_below(inside, rel):
        return full
    resolved = os.path.realpath(full)
    if resolved != inside and not resolved.startswith(inside.rstrip(os.sep) + os.sep):
        raise OutsideRootError(f"path {rel!r} is a link that leads outside the source root")
    return full


def _plain_below(resolved_root: str, rel: str) -> bool:
    """Whether every component of ``rel`` (no ``..``) below ``resolved_root`` exists and none is
    a link: then ``rel`` resolves inside the root as it stands. Half the lstat calls of
    ``os.path.realpath``, which starts again at "/" for each of the release's 21,425 files, and
    half its time; anything else (a link, a missing component) is left to ``realpath``."""
    path = resolved_root
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        path = f"{path}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return True


@functools.lru_cache(maxsize=8)
def _resolved_root(root: str) -> str:
    """``root`` with every link resolved; the stages ask once per file (21,425 in LPD), so the
    root's own resolution is kept."""
    return os.path.realpath(root)
