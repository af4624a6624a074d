"""Small file helpers shared by every stage: atomic writes and JSON.

The rule for every output: it is written to a temporary file in the same folder and renamed
into place, so a killed stage never leaves a half-written file that looks complete. A folder
output (MIDI files, audio, curve plots, the results page) is written the same way, as a whole.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class OutputPathError(OSError):
    """An output path that cannot be written: a folder where a file goes, a file where a folder
    goes or in the way of its parent folder. The message names the path; the stages exit 2."""


def make_parent(path: Path, kind: str) -> None:
    """Create ``path``'s parent folders and check that ``path`` can be a ``kind`` (file/folder)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(
            errno.ENOTDIR, f"{path}: cannot make its folder: a file is in the way"
        ) from None
    if kind == "file" and path.is_dir():
        raise OutputPathError(errno.EISDIR, f"{path}: is a folder; this output is a file")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise OutputPathError(errno.ENOTDIR, f"{path}: is a file; this output is a folder")


def plain_mode(mode: int) -> int:
    """The permissions a plain ``open()`` (0o666) or ``mkdir`` (0o777) would give: ``mode``
    less the umask (which can only be read by setting it)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    make_parent(path, "file")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a killed run: SIGKILL skips the cleanup below
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, plain_mode(0o666))  # mkstemp creates the file 0600
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # h5py raises RuntimeError when its flush fails
        if is_disk_full(error):  # name the output, not the temporary file (HDF5 names neither)
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole.

    A killed stage leaves the folder output complete (the previous one) or absent, never half
    filled; the temporary folders it leaves are removed by the next run.
    """
    path = Path(path)
    make_parent(path, "folder")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, plain_mode(0o777))  # mkdtemp creates the folder 0700
        if path.exists():
            # a folder cannot be renamed onto a non-empty one: move the old one aside first
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_disk_full(error: Exception) -> bool:
    """ENOSPC or EDQUOT, as the OS reports it or as HDF5 words it."""
    code = getattr(error, "errno", None)
    return code in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(error)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in blocks: ``sha256`` (downloads, checkpoints,
    tensors) or ``md5`` (Lakh MIDI names each file by it)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def stat_stamp(path: str | Path, follow_symlinks: bool = True) -> list[int]:
    """[size, mtime in ns, inode] of a file: the key of the hash caches of ``fetch``
    (``verified.json``) and ``index_sources``. A file whose stamp is as recorded is taken as
    unchanged and not read again."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def walk_files(root: str | Path) -> list[str]:
    """Every file under ``root`` as a relative POSIX path: a folder's own files (sorted) before
    its subfolders (sorted), so the same order on every machine. Links to folders are not
    descended into; links to files, and links that point nowhere, count as files (as in
    ``os.walk``).

    One ``scandir`` per folder and string paths only: at the LPD release's 34,000 folders,
    ``os.walk`` with ``Path`` objects took seconds."""
    out: list[str] = []

    def visit(folder: str, prefix: str) -> None:
        files, subfolders = [], []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.is_dir():
                    files.append(entry.name)
                elif not entry.is_symlink():
                    subfolders.append(entry.name)
        out.extend(prefix + name for name in sorted(files))
        for name in sorted(subfolders):
            visit(os.path.join(folder, name), f"{prefix}{name}/")

    visit(str(root), "")
    return out


def find_files(root: str | Path, suffixes: tuple[str, ...], what: str) -> Iterator[str]:
    """Every file under ``root`` whose name ends in one of ``suffixes`` (case-insensitive), as a
    relative POSIX path, in :func:`walk_files` order. ``what`` names the folder in the error
    when ``root`` is not one."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} {root} is not a folder")
    for rel in walk_files(root):
        if rel.rsplit("/", 1)[-1].lower().endswith(suffixes):
            yield rel
