"""LPD label files: ``cleansed_ids.txt`` and the Last.fm tag lists ``id_list_<tag>.txt``."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipeline.errors import DataError


def read_cleansed_ids(path: str | Path) -> dict[str, list[str]]:
    """``cleansed_ids.txt`` ("md5    MSD id" per line) as md5 -> sorted MSD ids."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: cleansed id list not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a text file (byte {error.start})") from None
    by_md5: dict[str, list[str]] = defaultdict(list)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(f"{path}:{number}: expected 'md5 MSD-id', got {line!r}")
        by_md5[fields[0]].append(fields[1])
    return {md5: sorted(ids) for md5, ids in by_md5.items()}


def tag_list_path(lastfm_dir: str | Path, tag: str) -> Path:
    """Where the id list of ``tag`` lives."""
    return Path(lastfm_dir) / f"id_list_{tag}.txt"


def read_tag_list(lastfm_dir: str | Path, tag: str) -> set[str]:
    """MSD ids carrying Last.fm ``tag``; a missing list is an error naming the file."""
    path = tag_list_path(lastfm_dir, tag)
    if not path.is_file():
        raise DataError(f"{path}: Last.fm tag list for tag {tag!r} not found")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def read_all_tags(lastfm_dir: str | Path) -> dict[str, list[str]]:
    """MSD id -> sorted Last.fm tags, from every ``id_list_*.txt`` in ``lastfm_dir``."""
    tags: dict[str, list[str]] = defaultdict(list)
    folder = Path(lastfm_dir)
    if not folder.is_dir():
        return {}
    for path in sorted(folder.glob("id_list_*.txt")):
        tag = path.stem[len("id_list_") :]
        for line in path.read_text().splitlines():
            if line.strip():
                tags[line.strip()].append(tag)
    return {msd: sorted(set(t)) for msd, t in tags.items()}
