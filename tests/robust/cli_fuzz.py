"""Command-line fuzz: every input path of a stage's command line replaced by a user's mistake.

A case is one stage, one input option and one mistake; the other options stay valid, so the
mistake reaches the code that reads that input. The mistakes are what a user types or leaves
behind: a path that does not exist, a folder given for a file (or a file for a folder), an empty
file, an empty folder and a file of random bytes. (Unreadable files cannot be made for a test run
as root; the readers turn every OSError into the same one-line message as a missing file.)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE_MISTAKES = ("missing", "a folder", "empty", "random bytes")
DIR_MISTAKES = ("missing", "a file", "empty folder")


@dataclass(frozen=True)
class Option:
    """One input option of a command line: ``kind`` is ``file`` or ``dir``."""

    name: str
    kind: str


def mistake(tmp: Path, kind: str, what: str) -> Path:
    """Make the mistaken path ``what`` for an input of ``kind`` in ``tmp`` (a fresh folder)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"bad_{kind}"
    if what == "missing":
        return path
    if what in ("a folder", "empty folder"):
        path.mkdir()
        return path
    if what == "a file" or what == "empty":
        path.write_bytes(b"")
        return path
    if what == "random bytes":
        path.write_bytes(np.random.default_rng(7).integers(0, 256, 3000, np.uint8).tobytes())
        return path
    raise ValueError(what)


def cases(options: dict[str, list[Option]]) -> list[tuple[str, str, str]]:
    """Every (command, option, mistake) triple, in a stable order."""
    out = []
    for command, opts in options.items():
        for opt in opts:
            for what in FILE_MISTAKES if opt.kind == "file" else DIR_MISTAKES:
                out.append((command, opt.name, what))
    return out


def replace_option(argv: list[str], name: str, value: str) -> list[str]:
    """``argv`` with the value of ``--name`` replaced."""
    out = list(argv)
    out[out.index(f"--{name}") + 1] = value
    return out


def lpd_tree(root: Path, shared: Path) -> dict[str, Path]:
    """A one-song LPD tree with its cleansed-id list and Last.fm list: valid filter inputs."""
    msd, md5 = "TRAAAGR128F425B14B", "b97c529ab9ef783a849b896816001748"
    src = shared / "data" / "lpd" / "lpd_cleansed" / "A/A/A" / msd / f"{md5}.npz"
    song = root / "lpd" / "A/A/A" / msd / f"{md5}.npz"
    song.parent.mkdir(parents=True)
    shutil.copyfile(src, song)
    (root / "lastfm").mkdir()
    (root / "lastfm" / "id_list_alternative.txt").write_text(f"{msd}\n")
    (root / "ids.txt").write_text(f"{md5}    {msd}\n")
    (root / "midi").mkdir()
    return {
        "lpd-root": root / "lpd",
        "cleansed-ids": root / "ids.txt",
        "lastfm-dir": root / "lastfm",
        "midi-dir": root / "midi",
    }


def argv_of(values: dict[str, Path | str]) -> list[str]:
    """``--key value`` pairs of a mapping, in its order."""
    return [part for key, value in values.items() for part in (f"--{key}", str(value))]


Main = Callable[[list[str]], object]
