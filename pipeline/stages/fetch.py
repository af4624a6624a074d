"""Stage ``fetch``: the pipeline's inputs, from their public sources into ``data/lpd``, each file
checked against the size and sha256 in ``data/sources.yaml`` (issue 18, section 1; docs/fetch.md).

For every entry of the manifest, the files already in place are checked first: a stat per file,
and a sha256 only for a file not seen before or changed since (its size, modification time and
inode are kept in ``verified.json`` beside the report, the rule ``index_sources`` follows). A file
in place that differs from the manifest is an error naming it: fetch never overwrites data it did
not verify. The files still missing are then taken from, in order:

1. ``fetch.local_dir``, searched in this machine's layout and in the official download layout
   (the folders the entry's ``local`` lists, then the download itself, e.g. ``labels.tar.gz``);
   a file on the same file system is hard-linked, otherwise copied;
2. the download saved in the destination folder itself (``data/lpd/lpd_cleansed.tar.gz``);
3. each of ``fetch.mirrors``, as ``<mirror>/<download>``;
4. the entry's official URLs.

A download goes to ``<dest>/.downloads/`` (resumable, ``pipeline.fetch.http``); an archive is
deleted once read. When no source can give a file, one error lists each source tried and why it
failed, and says what to set (``fetch.local_dir``, ``fetch.mirrors``) and where the download is
offered. The report (``--report``, a DVC metric) counts the files and bytes checked and where the
missing ones came from.

Fetch never deletes a file it did not write (issue 26, section 2). What it may remove: its own
temporary files (``.<name>.<random>.fetch``), its downloads under ``<dest>/.downloads/`` (the
archive once read, a part that is not the file), and a file it put in place in an earlier run
(``verified.json`` records it as ``fetched``) that the manifest no longer lists and that is
unchanged since (same size, modification time and inode). Any other file under the destination
(an extracted LPD, a saved tarball, a ``local_dir`` inside it) is kept and counted in the report
as ``unlisted``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Fetch
from pipeline.fetch.http import HttpOptions, SourceFailed, download
from pipeline.fetch.manifest import Entry, ManifestError, load_manifest
from pipeline.fetch.place import Needed, copy_local, differs, extract
from pipeline.io import walk_files, write_json
from pipeline.stages.cli import exit_on, load_or_exit, setup_logging, stage_parser

log = logging.getLogger(__name__)

STATE_NAME = "verified.json"
DOWNLOADS = ".downloads"
MAX_REASONS = 8  # failures named in the error; a local copy can fail file by file
FETCHED, FOUND = "fetched", "found"  # who put a file in place: this stage, or someone else

# What verified.json keeps per file: "path under dest" -> [size, mtime_ns, inode, sha256, origin]
State = dict[str, list]


class FetchError(Exception):
    """A file no source could give, or a file in place that differs from the manifest."""


@dataclass
class Tally:
    """What a run did, for the report."""

    files: int = 0
    bytes: int = 0
    present: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    downloaded_bytes: int = 0
    removed: int = 0  # files fetch wrote earlier that the manifest no longer lists
    unlisted: int = 0  # files under the destination that fetch did not write: kept

    def as_dict(self, manifest_sha256: str) -> dict:
        return {
            "manifest_sha256": manifest_sha256,
            "files": self.files,
            "bytes": self.bytes,
            "present": self.present,
            "obtained": sum(self.by_source.values()),
            "by_source": dict(sorted(self.by_source.items())),
            "downloaded_bytes": self.downloaded_bytes,
            "removed": self.removed,
            "unlisted": self.unlisted,
        }


def _read_state(path: Path) -> State:
    try:
        state = json.loads(path.read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _stamp(path: Path, sha256: str, origin: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino, sha256, origin]


def check_present(entry: Entry, root: Path, state: State, new: State, tally: Tally) -> Needed:
    """The files of ``entry`` not yet in place; those in place are verified (stat first).

    A file keeps the origin ``verified.json`` gave it while it is unchanged; a file seen for the
    first time, or changed since, is someone else's (``found``), never fetch's to remove.
    """
    needed: Needed = {}
    for spec in entry.files:
        dest = root / entry.dest / spec.rel
        key = dest.relative_to(root).as_posix()
        tally.files += 1
        tally.bytes += spec.size
        try:
            st = os.stat(dest)
        except FileNotFoundError:
            needed[spec.rel] = (spec, dest)
            continue
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino, spec.sha256]
        old = state.get(key)
        if isinstance(old, list) and old[:4] == stamp:
            origin = FETCHED if old[4:] == [FETCHED] else FOUND
        else:
            why = differs(dest, spec)
            if why is not None:
                raise FetchError(f"{dest}: {why}; delete it to fetch it again")
            origin = FOUND
        new[key] = stamp + [origin]
        tally.present += 1
    return needed


def _from_local(entry: Entry, local: Path, needed: Needed, tally: Tally, errors: list) -> None:
    """Link or copy what the local folder holds, in its extracted layout."""
    for rel, (spec, dest) in list(needed.items()):
        for folder in entry.local:
            src = local / folder / rel
            if not src.is_file():
                continue
            try:
                tally.by_source[f"local ({copy_local(src, spec, dest)})"] += 1
                del needed[rel]
                break
            except SourceFailed as why:
                errors.append(str(why))
    archive = local / entry.download
    if needed and archive.is_file():
        _from_archive(entry, archive, f"local {entry.download}", needed, tally, errors)


def _from_archive(
    entry: Entry, archive: Path, source: str, needed: Needed, tally: Tally, errors: list
) -> None:
    """Take the needed files from a downloaded or local download (a tarball or the file)."""
    try:
        if entry.kind == "file":
            ((rel, (spec, dest)),) = needed.items()
            copy_local(archive, spec, dest)
            del needed[rel]
            tally.by_source[source] += 1
        else:
            tally.by_source[source] += extract(archive, needed, source)
            if needed:
                first = sorted(needed)[0]
                errors.append(f"{source}: lacks {len(needed)} file(s), e.g. {first}")
    except SourceFailed as why:
        errors.append(str(why) if str(why).startswith(source) else f"{source}: {why}")


def _from_urls(
    entry: Entry, urls: list[str], root: Path, needed: Needed, opts: HttpOptions, tally, errors
) -> None:
    """Download from each URL in turn until nothing is needed."""
    if not needed:
        return
    earlier = root / DOWNLOADS / entry.download
    if entry.kind != "file" and earlier.is_file():  # downloaded by a run killed before the end
        _from_archive(entry, earlier, "earlier download", needed, tally, errors)
        earlier.unlink()
    for url in urls:
        if not needed:
            return
        size: int | None
        sha: str | None
        if entry.kind == "file":  # the download is the file: straight into place, verified
            ((rel, (spec, dest)),) = needed.items()
            target, size, sha = dest, spec.size, spec.sha256
        else:
            target, size, sha = root / DOWNLOADS / entry.download, entry.size, entry.sha256
        try:
            log.info("%s: downloading %s", entry.name, url)
            tally.downloaded_bytes += download(url, target, size, sha, opts)
        except SourceFailed as why:
            errors.append(f"{url}: {why}")
            continue
        if entry.kind == "file":
            del needed[rel]
            tally.by_source[url] += 1
        else:
            _from_archive(entry, target, url, needed, tally, errors)
            target.unlink()  # what it could give is in place
    with contextlib.suppress(OSError):
        (root / DOWNLOADS).rmdir()  # when empty


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved: links followed)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def advice(entry: Entry) -> str:
    """What a user can do when no source gave ``entry``'s files: the settings, the page."""
    offered = f" (offered on {entry.page})" if entry.page else ""
    return (
        f"to fix: save {entry.download}{offered} or its extracted files in a folder and set "
        f"fetch.local_dir to it, or list a server of <mirror>/{entry.download} in fetch.mirrors; "
        "the Lakh MIDI route: none for this entry"
    )


def fetch_entry(entry: Entry, root: Path, cfg: Fetch, needed: Needed, tally: Tally) -> None:
    """Fill ``needed`` from the sources in order; raise FetchError listing every failure."""
    errors: list[str] = []
    if cfg.local_dir is not None and Path(cfg.local_dir).is_dir():
        _from_local(entry, Path(cfg.local_dir), needed, tally, errors)
    elif cfg.local_dir is not None:
        errors.append(f"local folder {cfg.local_dir}: not a folder")
    saved = root / entry.download  # a download saved into the destination: read, never deleted
    if needed and entry.kind != "file" and saved.is_file():
        _from_archive(entry, saved, str(saved), needed, tally, errors)
    urls = [f"{m.rstrip('/')}/{entry.download}" for m in cfg.mirrors] + list(entry.urls)
    opts = HttpOptions(cfg.retries, cfg.backoff, cfg.timeout)
    _from_urls(entry, urls, root, needed, opts, tally, errors)
    if needed:
        if not urls:
            errors.append("no mirror given (fetch.mirrors) and no official URL known")
        first = sorted(needed)[0]
        shown = errors[:MAX_REASONS] + [f"{len(errors) - MAX_REASONS} more"] * (
            len(errors) > MAX_REASONS
        )
        raise FetchError(
            f"{entry.name}: no source gave {len(needed)} file(s) (e.g. {first}); "
            + "; ".join(shown)
            + f"; {advice(entry)}"
        )


def _safe_key(key: str) -> bool:
    """A path recorded in ``verified.json`` that stays below the destination."""
    parts = Path(key).parts
    return bool(parts) and not Path(key).is_absolute() and ".." not in parts


def prune(root: Path, keep: set[str], state: State) -> int:
    """Remove the files fetch itself put in place in an earlier run (``state`` records them as
    fetched) that the manifest no longer lists (``filter`` would read them as songs), if they
    are unchanged since; return how many. Every other file is left alone."""
    removed = 0
    for key, old in sorted(state.items()):
        if key in keep or not isinstance(old, list) or old[4:] != [FETCHED] or not _safe_key(key):
            continue
        path = root / key
        try:
            st = os.lstat(path)
        except OSError:
            continue  # gone already
        if [st.st_size, st.st_mtime_ns, st.st_ino] != old[:3]:
            log.info(
                "keeping %s: no longer in the manifest, but changed since fetch wrote it", path
            )
            continue
        log.info("removing %s: fetch wrote it and the manifest no longer lists it", path)
        path.unlink()
        removed += 1
        for folder in path.parents:  # the folders it leaves empty, up to the destination
            if folder == root or root not in folder.parents:
                break
            with contextlib.suppress(OSError):
                folder.rmdir()  # fails, and so stops, at the first folder that is not empty
    return removed


def count_unlisted(root: Path, keep: set[str]) -> int:
    """Files under ``root`` that are neither listed nor fetch's own downloads: kept, counted,
    and named once in a warning (``filter`` reads every song under ``paths.lpd_root``)."""
    unlisted = [
        rel
        for rel in (walk_files(root) if root.is_dir() else [])
        if rel not in keep and not rel.startswith(f"{DOWNLOADS}/") and not rel.endswith(".part")
    ]
    if unlisted:
        log.warning(
            "%d file(s) under %s are not in the manifest (e.g. %s): kept, fetch never deletes a "
            "file it did not write; filter reads every song under paths.lpd_root",
            len(unlisted), root, unlisted[0],
        )  # fmt: skip
    return len(unlisted)


def run(sources: Path, cfg: Fetch, root: Path, report: Path) -> dict:
    """Put every file of the manifest ``sources`` under ``root``, verified; write the report."""
    entries = load_manifest(sources)
    if cfg.local_dir is not None and _inside(Path(cfg.local_dir), root / DOWNLOADS):
        raise FetchError(
            f"fetch.local_dir {cfg.local_dir}: inside {root / DOWNLOADS}, fetch's own download "
            "folder, whose archives it deletes once read; keep your files in another folder"
        )
    if root.is_dir():  # temporary files of a killed run (pipeline.fetch.place)
        for stale in root.rglob(".*.fetch"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    state_path = report.parent / STATE_NAME
    state, tally = _read_state(state_path), Tally()
    new: State = {}
    for entry in entries:
        needed = check_present(entry, root, state, new, tally)
        if needed:
            log.info("%s: %d of %d file(s) to fetch", entry.name, len(needed), len(entry.files))
            fetch_entry(entry, root, cfg, dict(needed), tally)
            for spec, dest in needed.values():  # verified when put in place
                new[dest.relative_to(root).as_posix()] = _stamp(dest, spec.sha256, FETCHED)
    keep = {(Path(e.dest) / f.rel).as_posix() for e in entries for f in e.files}
    tally.removed = prune(root, keep, state)
    tally.unlisted = count_unlisted(root, keep)
    summary = tally.as_dict(hashlib.sha256(sources.read_bytes()).hexdigest())
    write_json(report, summary)
    if new != state:
        write_json(state_path, new)
    log.info(
        "%d files (%d bytes) in %s: %d already there, %d fetched %s",
        tally.files, tally.bytes, root, tally.present, summary["obtained"], summary["by_source"],
    )  # fmt: skip
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--sources", required=True, type=Path, help="the manifest")
    parser.add_argument("--dest", required=True, type=Path, help="where the files go")
    parser.add_argument("--report", required=True, type=Path)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    params = load_or_exit(args.params)
    with exit_on(FetchError, ManifestError):
        run(args.sources, params.fetch, args.dest, args.report)


if __name__ == "__main__":
    main()
