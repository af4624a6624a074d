"""Putting verified files into place: from a local folder (hard link or copy) or out of a tarball.

Every file is written beside its destination under a temporary name, checked against its size and
sha256 from the manifest, and only then renamed onto the destination: a
killed fetch leaves complete, verified files or none.

Extraction opens the tarball as a stream (one pass over a release of 21,425 files) and takes only
the members the manifest lists, matched by the end of their path (``lpd_cleansed/A/B/C/...`` or
``A/B/C/...`` both give ``A/B/C/...``). A member is refused, naming it, when its name is absolute
or holds ``..``, when tarfile's ``data`` filter refuses it (links, device files), when it is not
a regular file, or when its size differs from the manifest's (checked before a byte is read).
Its content is then streamed into a temporary file beside the destination, whose path this
module chooses: nothing is written, checked or moved anywhere a member's name points.

A read or write error (an unreadable source, a full disk) fails that source with the error, not
the run: ``SourceFailed`` names the file and the system's message.
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
from pathlib import Path, PurePosixPath

from pipeline.fetch.http import CHUNK, SourceFailed
from pipeline.fetch.sources import FileSpec
from pipeline.io import file_digest

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
    """Why the file at ``path`` is not ``spec`` (None when it is): its size (when known), then
    its digest."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"size {size:,}, the manifest says {spec.size:,}"
    if file_digest(path, spec.algorithm) != spec.digest:
        return f"{spec.algorithm} differs from the manifest"
    return None


def _move_verified(tmp: Path, spec: FileSpec, dest: Path, what: str) -> None:
    why = differs(tmp, spec)
    if why is not None:
        raise SourceFailed(f"{what}: {why}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def copy_local(src: Path, spec: FileSpec, dest: Path) -> str:
    """Hard-link (same file system) or copy ``src`` onto ``dest``, verified; return which.

    Raises SourceFailed naming ``src`` when it differs or cannot be read or written.
    """
    try:
        with _temp_beside(dest) as tmp:
            tmp.unlink()
            try:
                os.link(src, tmp)
                how = "linked"
            except OSError:  # another file system, or not allowed (protected_hardlinks)
                shutil.copyfile(src, tmp)
                how = "copied"
            why = differs(tmp, spec)
            if why is not None:
                raise SourceFailed(f"{src}: {why}")
            if how == "copied":  # a link keeps the source's mode: never chmod a shared file
                os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            return how
    except OSError as error:
        raise SourceFailed(f"{src}: cannot copy ({error.strerror or error})") from None


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
    them from ``needed``; return how many. Raises SourceFailed naming a bad member, or the
    archive when it cannot be read or a member cannot be written."""
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
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise SourceFailed(f"{source}: cannot extract{where}: {error.strerror or error}") from None
    return done


def member_problem(member: tarfile.TarInfo, size: int | None, folder: Path) -> str | None:
    """Why ``member`` may not be extracted into ``folder`` (None when it may): an absolute name
    or ``..``, a refusal of tarfile's ``data`` filter, not a regular file, or not ``size``
    bytes (checked from the member's header, before its content is read)."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        return "refused (an absolute name or '..': it would point outside the destination)"
    try:
        tarfile.data_filter(member, str(folder))  # links, device files, modes
    except tarfile.FilterError as error:
        return f"refused ({error})"
    if not member.isfile():
        return "not a regular file"
    if size is not None and member.size != size:
        return f"size {member.size:,}, the manifest says {size:,}"
    return None


def _extract_one(
    tar: tarfile.TarFile, member: tarfile.TarInfo, spec: FileSpec, dest: Path, what: str
) -> None:
    """Stream one member into a temporary file beside ``dest``, verify it and rename it onto
    ``dest``; the member's name only matched it, it never chooses where anything is written."""
    problem = member_problem(member, spec.size, dest.parent)
    if problem is not None:
        raise SourceFailed(f"{what}: {problem}")
    stream = tar.extractfile(member)
    if stream is None:
        raise SourceFailed(f"{what}: not a regular file")
    with _temp_beside(dest) as tmp, stream:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        _move_verified(tmp, spec, dest, what)
