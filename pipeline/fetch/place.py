"""Putting verified files into place: from a local folder (hard link or copy) or out of a tarball.

Every file is written beside its destination under a temporary name, checked against its size and
sha256 from the manifest, and only then renamed onto the destination (DESIGN.md convention 4): a
killed fetch leaves complete, verified files or none.

Extraction opens the tarball as a stream (one pass over a release of 21,425 files), takes only the
members the manifest lists, matched by the end of their path (``lpd_cleansed/A/B/C/...`` or
``A/B/C/...`` both give ``A/B/C/...``), and extracts each with tarfile's ``data`` filter: no
links, no device files, no absolute path and nothing outside the staging folder. A member the
filter refuses, or that differs from the manifest, fails the archive as a source, naming it.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.fetch.http import SourceFailed, file_sha256
from pipeline.fetch.manifest import FileSpec

log = logging.getLogger(__name__)

# What a fetch still needs: path under the entry's dest -> (spec, destination path)
Needed = dict[str, tuple[FileSpec, Path]]


@contextmanager
def _temp_beside(dest: Path) -> Iterator[Path]:
    """A temporary path in ``dest``'s folder (the same file system, so the rename is atomic);
    removed unless it was renamed away."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".fetch", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def differs(path: Path, spec: FileSpec) -> str | None:
    """Why the file at ``path`` is not ``spec`` (None when it is)."""
    size = path.stat().st_size
    if size != spec.size:
        return f"size {size:,}, the manifest says {spec.size:,}"
    if file_sha256(path) != spec.sha256:
        return "sha256 differs from the manifest"
    return None


def _move_verified(tmp: Path, spec: FileSpec, dest: Path, what: str) -> None:
    why = differs(tmp, spec)
    if why is not None:
        raise SourceFailed(f"{what}: {why}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def copy_local(src: Path, spec: FileSpec, dest: Path) -> str:
    """Hard-link (same file system) or copy ``src`` onto ``dest``, verified; return which."""
    with _temp_beside(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
            how = "linked"
            why = differs(tmp, spec)
            if why is not None:
                raise SourceFailed(f"{src}: {why}")
            os.replace(tmp, dest)  # a link keeps the source's mode: never chmod a shared file
            return how
        except OSError:  # another file system, or not allowed (protected_hardlinks)
            tmp.unlink(missing_ok=True)
        shutil.copyfile(src, tmp)
        _move_verified(tmp, spec, dest, str(src))
        return "copied"


def _member_key(name: str, needed: Needed) -> str | None:
    """The needed path that member ``name`` ends with, if any."""
    parts = name.split("/")
    for i in range(len(parts)):
        key = "/".join(parts[i:])
        if key in needed:
            return key
    return None


def extract(archive: Path, needed: Needed, source: str) -> int:
    """Extract the members of ``archive`` that ``needed`` lists, verified, into place; remove
    them from ``needed``; return how many. Raises SourceFailed naming a bad member."""
    done = 0
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                key = _member_key(member.name, needed)
                if key is None:
                    continue
                spec, dest = needed[key]
                _extract_one(tar, member, spec, dest, f"{source}: member {member.name}")
                del needed[key]
                done += 1
                if not needed:
                    break
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise SourceFailed(f"{source}: not a readable tar.gz ({error})") from None
    return done


def _extract_one(
    tar: tarfile.TarFile, member: tarfile.TarInfo, spec: FileSpec, dest: Path, what: str
) -> None:
    """Extract one member with the ``data`` filter into a staging folder beside ``dest``,
    verify it and rename it onto ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".fetch", dir=dest.parent))
    try:
        try:
            tar.extract(member, staging, filter="data")
        except tarfile.FilterError as error:
            raise SourceFailed(f"{what}: refused ({error})") from None
        out = staging / member.name
        if not member.isfile() or not out.is_file():
            raise SourceFailed(f"{what}: not a regular file")
        _move_verified(out, spec, dest, what)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
