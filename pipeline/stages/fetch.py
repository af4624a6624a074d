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
2. each of ``fetch.mirrors``, as ``<mirror>/<download>``;
3. the entry's official URLs.

A download goes to ``<dest>/.downloads/`` (resumable, ``pipeline.fetch.http``); an archive is
deleted once every file it had to give is in place. When no source can give a file, one error
lists each source tried and why it failed. The report (``--report``, a DVC metric) counts the
files and bytes checked and where the missing ones came from.
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
    removed: int = 0  # files not in the manifest

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
        }


def _read_state(path: Path) -> dict[str, list]:
    try:
        state = json.loads(path.read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def check_present(entry: Entry, root: Path, state: dict, new: dict, tally: Tally) -> Needed:
    """The files of ``entry`` not yet in place; those in place are verified (stat first)."""
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
        if state.get(key) != stamp:
            why = differs(dest, spec)
            if why is not None:
                raise FetchError(f"{dest}: {why}; delete it to fetch it again")
        new[key] = stamp
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


def fetch_entry(entry: Entry, root: Path, cfg: Fetch, needed: Needed, tally: Tally) -> None:
    """Fill ``needed`` from the sources in order; raise FetchError listing every failure."""
    errors: list[str] = []
    if cfg.local_dir is not None and Path(cfg.local_dir).is_dir():
        _from_local(entry, Path(cfg.local_dir), needed, tally, errors)
    elif cfg.local_dir is not None:
        errors.append(f"local folder {cfg.local_dir}: not a folder")
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
        )


def prune(root: Path, keep: set[str]) -> int:
    """Remove the files under ``root`` that the manifest does not list (left by an earlier
    manifest: ``filter`` would read them as songs); keep resumable ``.part`` downloads."""
    removed = 0
    for rel in walk_files(root) if root.is_dir() else []:
        if rel not in keep and not rel.endswith(".part"):
            log.info("removing %s: not in the manifest", root / rel)
            (root / rel).unlink()
            removed += 1
    return removed


def run(sources: Path, cfg: Fetch, root: Path, report: Path) -> dict:
    """Put every file of the manifest ``sources`` under ``root``, verified; write the report."""
    entries = load_manifest(sources)
    if root.is_dir():  # temporary files of a killed run (pipeline.fetch.place)
        for stale in root.rglob(".*.fetch"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    state_path = report.parent / STATE_NAME
    state, tally = _read_state(state_path), Tally()
    new: dict[str, list] = {}
    for entry in entries:
        needed = check_present(entry, root, state, new, tally)
        if needed:
            log.info("%s: %d of %d file(s) to fetch", entry.name, len(needed), len(entry.files))
            fetch_entry(entry, root, cfg, dict(needed), tally)
            for spec, dest in needed.values():  # verified when put in place
                st = os.stat(dest)
                new[dest.relative_to(root).as_posix()] = [
                    st.st_size, st.st_mtime_ns, st.st_ino, spec.sha256
                ]  # fmt: skip
    tally.removed = prune(
        root, {f"{(Path(e.dest) / f.rel).as_posix()}" for e in entries for f in e.files}
    )
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
