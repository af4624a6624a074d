"""Stage ``fetch``: the pipeline's inputs, from their public sources into ``data/lpd``, each file
checked against the size and sha256 in ``data/sources.yaml`` (docs/fetch.md).

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
4. the entry's official URLs;
5. for an entry with a Lakh MIDI route (``lmd`` in the manifest: LPD-cleansed), the Lakh MIDI
   files those LPD files were made from, taken from the same kinds of sources (the local folder,
   a saved download, the mirrors, the official URL of ``lmd_full.tar.gz``), each verified by its
   md5, and converted with the LPD-exact converter (``pipeline.fetch.lmd``). Which route gave an
   entry's files, and why, goes into the report (``routes``).

A download goes to ``<dest>/.downloads/`` (resumable, ``pipeline.fetch.http``); an archive is
deleted once read. When no source can give a file, one error lists each source tried and why it
failed, and says what to set (``fetch.local_dir``, ``fetch.mirrors``) and where the download is
offered. The report (``--report``, a DVC metric) counts the files and bytes checked and where the
missing ones came from.

Fetch never deletes a file it did not write. What it may remove: its own
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
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.cli import exit_on, load_or_exit, setup_logging, stage_parser
from pipeline.config import Fetch
from pipeline.data.parallel import n_workers, ordered_map
from pipeline.fetch import lmd
from pipeline.fetch.http import HttpOptions, SourceFailed, download
from pipeline.fetch.place import Needed, copy_local, differs, extract
from pipeline.fetch.sources import Entry, FileSpec, ManifestError, load_manifest, lpd_md5
from pipeline.io import stat_stamp, walk_files, write_json

log = logging.getLogger(__name__)

STATE_NAME = "verified.json"
DOWNLOADS = ".downloads"
MAX_REASONS = 8  # failures named in the error; a local copy can fail file by file
# Who put a file in place: this stage (a copy of a source, or converted by the Lakh MIDI route),
# or someone else. Only fetch's own files (fetched, converted) are ever removed (``prune``).
FETCHED, CONVERTED, FOUND = "fetched", "converted", "found"
LMD_SOURCE = "Lakh MIDI route (converted)"  # the report's by_source key for converted files

# What verified.json keeps per file: "path under dest" -> [size, mtime_ns, inode, digest, origin],
# the digest being the manifest's sha256 (an LPD file) or md5 (a Lakh MIDI file)
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
    converted: set[str] = field(default_factory=set)  # files the Lakh MIDI route wrote
    routes: dict[str, dict] = field(default_factory=dict)  # entry -> why the LMD route ran, ...

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


def _read_state(path: Path) -> tuple[State, dict[str, dict]]:
    """The files and the routes ``verified.json`` records (nothing when it is missing or bad)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(state, dict) or not isinstance(state.get("files"), dict):
        return {}, {}
    routes = state.get("routes")
    return state["files"], routes if isinstance(routes, dict) else {}


def _stamp(path: Path, sha256: str, origin: str) -> list:
    return [*stat_stamp(path), sha256, origin]


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
        tally.bytes += spec.size or 0
        try:
            stamp = [*stat_stamp(dest), spec.digest]
        except FileNotFoundError:
            needed[spec.rel] = (spec, dest)
            continue
        old = state.get(key)
        if isinstance(old, list) and old[:4] == stamp:
            origin = old[4] if old[4:] in ([FETCHED], [CONVERTED]) else FOUND
        else:
            why = differs(dest, spec)
            if why is None:
                origin = FOUND
            elif _converted_song(entry, spec, dest):
                origin = CONVERTED  # written by the Lakh MIDI route: not LPD's bytes, its song
            else:
                raise FetchError(f"{dest}: {why}; delete it to fetch it again")
        new[key] = stamp + [origin]
        tally.present += 1
    return needed


def _converted_song(entry: Entry, spec: FileSpec, dest: Path) -> bool:
    """Whether ``dest``, which differs from LPD's bytes, holds LPD's song as the Lakh MIDI route
    writes it (its song digest is the manifest's), e.g. after ``verified.json`` was lost."""
    md5 = lpd_md5(spec.rel)
    if entry.lmd is None or md5 is None:
        return False
    return lmd.npz_song_digest(dest) == entry.lmd.cells[md5]


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
            target, size, sha = dest, spec.size, spec.digest
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


def advice(entry: Entry, lmd_status: str) -> str:
    """What a user can do when no source gave ``entry``'s files: the settings, the page, and
    the state of the Lakh MIDI route."""
    offered = f" (offered on {entry.page})" if entry.page else ""
    return (
        f"to fix: save {entry.download}{offered} or its extracted files in a folder and set "
        f"fetch.local_dir to it, or list a server of <mirror>/{entry.download} in fetch.mirrors; "
        f"the Lakh MIDI route: {lmd_status}"
    )


def _shown(errors: list[str]) -> str:
    """The first failures, and how many more."""
    more = [f"{len(errors) - MAX_REASONS} more"] if len(errors) > MAX_REASONS else []
    return "; ".join(errors[:MAX_REASONS] + more)


def gather(entry: Entry, root: Path, cfg: Fetch, needed: Needed, tally: Tally) -> list[str]:
    """Fill ``needed`` from the sources in order; return why each source that was tried failed."""
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
    if needed and not urls:
        errors.append("no mirror given (fetch.mirrors) and no official URL known")
    return errors


def fetch_entry(
    entry: Entry, root: Path, cfg: Fetch, needed: Needed, tally: Tally, state: State, new: State
) -> None:
    """Fill ``needed`` from the sources in order, then by the Lakh MIDI route when the entry has
    one; raise FetchError listing every failure and what to do."""
    errors = gather(entry, root, cfg, needed, tally)
    if not needed:
        return
    lmd_status = "none for this entry"
    if entry.lmd is not None:
        why = f"no source gave {len(needed)} of the LPD file(s): {_shown(errors)}"
        log.warning("%s: %s; taking the Lakh MIDI route", entry.name, why)
        try:
            detail = lmd_route(entry, root, cfg, needed, tally, state, new)
            tally.routes[entry.name] = {"why": why, "lmd": detail}
        except RouteFailed as failure:
            size = f", {entry.lmd.size:,} bytes" if entry.lmd.size else ""
            page = f", offered on {entry.lmd.page}" if entry.lmd.page else ""
            lmd_status = f"{entry.lmd.download}{size}{page}, failed too: {failure}"
    if needed:
        first = sorted(needed)[0]
        raise FetchError(
            f"{entry.name}: no source gave {len(needed)} file(s) (e.g. {first}); "
            f"{_shown(errors)}; {advice(entry, lmd_status)}"
        )


class RouteFailed(Exception):
    """The Lakh MIDI route could not give every needed file; the message says why."""


def midi_entry(entry: Entry, md5s: list[str]) -> Entry:
    """The Lakh MIDI download of ``entry`` as an entry of its own: the MIDI files of ``md5s``
    (``<md5[0]>/<md5>.mid``), checked by md5 and, where the manifest knows it, by size."""
    route = entry.lmd
    assert route is not None
    files = tuple(FileSpec(lmd.midi_rel(m), route.sizes.get(m), m, "md5") for m in md5s)
    return Entry(
        name=f"{entry.name} (Lakh MIDI)", download=route.download, kind="tar.gz",
        size=route.size, sha256=route.sha256, urls=route.urls, dest=route.dest,
        local=route.local, files=files, page=route.page,
    )  # fmt: skip


def lmd_route(
    entry: Entry, root: Path, cfg: Fetch, needed: Needed, tally: Tally, state: State, new: State
) -> dict:
    """Give ``needed`` (LPD files) from the Lakh MIDI files they were made from: get and verify
    each MIDI file (kept under ``<dest>/<lmd.dest>``), convert it, write the LPD file and check
    its song digest against the manifest's. Returns what it did, for the report; raises
    RouteFailed when a MIDI file cannot be had or converted."""
    assert entry.lmd is not None
    songs: dict[str, list[str]] = {}  # md5 -> the needed LPD files (several MSD ids may share one)
    for rel in needed:
        songs.setdefault(str(lpd_md5(rel)), []).append(rel)
    midi = midi_entry(entry, sorted(songs))
    midi_tally = Tally()
    try:
        missing = check_present(midi, root, state, new, midi_tally)
    except FetchError as error:
        raise RouteFailed(str(error)) from None
    if missing:
        log.info("%s: %d of %d file(s) to fetch", midi.name, len(missing), len(midi.files))
        remaining = dict(missing)
        errors = gather(midi, root, cfg, remaining, midi_tally)
        tally.downloaded_bytes += midi_tally.downloaded_bytes
        for spec, path in missing.values():  # those placed, verified
            if spec.rel not in remaining:
                new[path.relative_to(root).as_posix()] = _stamp(path, spec.digest, FETCHED)
        if remaining:
            first = sorted(remaining)[0]
            raise RouteFailed(
                f"no source gave {len(remaining)} MIDI file(s) (e.g. {first}); {_shown(errors)}"
            )
    tasks = [
        (str(root / midi.dest / lmd.midi_rel(md5)), md5, [str(needed[rel][1]) for rel in rels])
        for md5, rels in sorted(songs.items())
    ]
    workers = min(n_workers(0), len(tasks))
    log.info("%s: converting %d MIDI file(s) on %d process(es)", entry.name, len(tasks), workers)
    differ: dict[str, str] = {}
    failed: list[str] = []
    for md5, digest, problem in ordered_map(lmd.convert_task, tasks, workers):
        if problem is not None:
            failed.append(f"{lmd.midi_rel(md5)}: cannot convert ({problem})")
            continue
        if digest != entry.lmd.cells[md5]:
            differ[md5] = "its piano-roll differs from LPD's (song digest)"
            log.warning("%s: converted, but differs from LPD's piano-roll", lmd.midi_rel(md5))
        for rel in songs[md5]:
            _spec, dest = needed.pop(rel)
            tally.converted.add(dest.relative_to(root).as_posix())
            tally.by_source[LMD_SOURCE] += 1
    if failed:
        raise RouteFailed(f"{len(failed)} song(s) not converted: {_shown(failed)}")
    return {
        "download": entry.lmd.download,
        "midi_files": len(midi.files),
        "midi_by_source": dict(sorted(midi_tally.by_source.items())),
        "songs_converted": len(tasks),
        "differ_from_lpd": differ,
    }


def _safe_key(key: str) -> bool:
    """A path recorded in ``verified.json`` that stays below the destination."""
    parts = Path(key).parts
    return bool(parts) and not Path(key).is_absolute() and ".." not in parts


def prune(root: Path, keep: set[str], state: State) -> int:
    """Remove the files fetch itself put in place in an earlier run (``state`` records them as
    fetched or converted) that the manifest no longer lists (``filter`` would read them as
    songs), if they are unchanged since; return how many. Every other file is left alone."""
    removed = 0
    for key, old in sorted(state.items()):
        mine = isinstance(old, list) and old[4:] in ([FETCHED], [CONVERTED])
        if key in keep or not mine or not _safe_key(key):
            continue
        path = root / key
        try:
            stamp = stat_stamp(path, follow_symlinks=False)
        except OSError:
            continue  # gone already
        if stamp != old[:3]:
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


def kept_paths(entries: list[Entry]) -> set[str]:
    """Every path under the destination the manifest accounts for: its files and, for an entry
    with a Lakh MIDI route, the MIDI files of its songs."""
    keep = {(Path(e.dest) / f.rel).as_posix() for e in entries for f in e.files}
    for e in entries:
        if e.lmd is not None:
            keep |= {f"{e.lmd.dest}/{lmd.midi_rel(md5)}" for md5 in e.lmd.cells}
    return keep


def route_report(entries: list[Entry], new: State, tally: Tally, old: dict[str, dict]) -> dict:
    """Per entry, which route gave its files: ``lpd`` (the LPD downloads), ``lmd`` (converted
    from Lakh MIDI) or ``lpd and lmd``; for the Lakh MIDI route, why it ran and what it did (this
    run's, or the earlier run's that converted the files in place)."""
    routes = {}
    for entry in entries:
        keys = [(Path(entry.dest) / f.rel).as_posix() for f in entry.files]
        converted = sum(new.get(key, [None] * 5)[4] == CONVERTED for key in keys)
        route = "lpd" if converted == 0 else "lmd" if converted == len(keys) else "lpd and lmd"
        info: dict = {"route": route}
        if converted:
            info |= tally.routes.get(entry.name) or old.get(entry.name, {})
            info |= {"route": route, "converted_files": converted}
        routes[entry.name] = info
    return routes


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
    (state, old_routes), tally = _read_state(state_path), Tally()
    new: State = {}
    try:
        for entry in entries:
            needed = check_present(entry, root, state, new, tally)
            if needed:
                log.info("%s: %d of %d file(s) to fetch", entry.name, len(needed), len(entry.files))
                fetch_entry(entry, root, cfg, dict(needed), tally, state, new)
                for spec, dest in needed.values():  # verified when put in place
                    key = dest.relative_to(root).as_posix()
                    origin = CONVERTED if key in tally.converted else FETCHED
                    new[key] = _stamp(dest, spec.digest, origin)
    except FetchError:  # keep what is known of the files checked or placed before the error
        write_json(state_path, {"files": state | new, "routes": old_routes})
        raise
    keep = kept_paths(entries)
    new |= {key: stamp for key, stamp in state.items() if key in keep and key not in new}
    tally.removed = prune(root, keep, state)
    tally.unlisted = count_unlisted(root, keep)
    summary = tally.as_dict(hashlib.sha256(sources.read_bytes()).hexdigest())
    summary["routes"] = route_report(entries, new, tally, old_routes)
    write_json(report, summary)
    routes = {name: info for name, info in summary["routes"].items() if info["route"] != "lpd"}
    if (new, routes) != (state, old_routes):
        write_json(state_path, {"files": new, "routes": routes})
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
