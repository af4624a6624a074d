"""The sources manifest (``data/sources.yaml``): what the pipeline's inputs are and where to get
them.

Each entry is one download: a plain file (``cleansed_ids.txt``) or a gzipped tarball
(``labels.tar.gz``, ``lpd_cleansed.tar.gz``), with its official URLs in order of preference, its
size and sha256 where known, the folder under the fetch destination where its files go, the folders
of a local copy that may already hold them, and the size and sha256 of every file the run uses.
LPD's archives have no published checksum, so each file taken from them is checked against the
manifest, never the archive alone.

Example::

    entries:
      labels:
        download: labels.tar.gz        # a mirror serves it as <mirror>/labels.tar.gz
        kind: tar.gz                   # file | tar.gz
        size: 869278                   # bytes of the download; null when unknown
        sha256: null                   # the download's sha256; null when unknown
        urls: [https://...]            # official URLs, best first
        page: https://...              # optional: the page that offers the download, for people
        dest: labels                   # folder under the destination
        local: [labels]                # folders of the local copy holding the extracted files
        files:                         # path under dest: [size, sha256]
          lastfm/id_list_alternative.txt: [25056, 3f...]

An entry of LPD files (``<A>/<B>/<C>/<MSD id>/<md5>.npz``) may also name the Lakh MIDI route
(``pipeline.fetch.lmd``): the Lakh MIDI download those files were converted
from, used when no source gives the LPD files themselves::

        lmd:
          download: lmd_full.tar.gz    # members lmd_full/<md5[0]>/<md5>.mid
          size: 1768163879
          sha256: 6fcf...
          urls: [http://...]
          page: https://...            # optional
          dest: lmd_full               # where the MIDI files go, under the destination
          local: [lmd_full]            # folders of a local copy holding <md5[0]>/<md5>.mid
          sizes: {}                    # md5: bytes of the MIDI file, where known
          cells: {md5: sha256}         # song digest of LPD's file (pipeline.fetch.lmd), every md5
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

KINDS = ("file", "tar.gz")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_ENTRY_KEYS = {"download", "kind", "size", "sha256", "urls", "dest", "local", "files"}
_OPTIONAL_KEYS = {"page", "lmd"}
_LMD_KEYS = {"download", "size", "sha256", "urls", "dest", "local", "sizes", "cells"}


class ManifestError(ValueError):
    """A manifest that does not match the schema; the message names the file and the key."""


@dataclass(frozen=True)
class FileSpec:
    """One file the run uses: its path under the entry's ``dest`` and its expected content."""

    rel: str
    size: int | None  # None: unknown (a Lakh MIDI file, checked by its md5 alone)
    digest: str  # hex digest of the content
    algorithm: str = "sha256"  # "md5" for a Lakh MIDI file (named by the md5 of its bytes)


@dataclass(frozen=True)
class LmdRoute:
    """The Lakh MIDI download an entry's LPD files were converted from (``pipeline.fetch.lmd``)."""

    download: str
    size: int | None
    sha256: str | None
    urls: tuple[str, ...]
    page: str | None
    dest: str  # folder under the fetch destination for the MIDI files
    local: tuple[str, ...]  # folders of a local copy holding <md5[0]>/<md5>.mid
    sizes: dict[str, int]  # md5 -> bytes of the MIDI file, where known
    cells: dict[str, str]  # md5 -> song digest of LPD's file


@dataclass(frozen=True)
class Entry:
    """One download and the files it yields."""

    name: str
    download: str  # file name of the download (under a mirror or in the local folder)
    kind: str  # "file" or "tar.gz"
    size: int | None  # bytes of the download, when known
    sha256: str | None  # sha256 of the download, when known
    urls: tuple[str, ...]  # official URLs, best first
    dest: str  # folder under the fetch destination ("." for the destination itself)
    local: tuple[str, ...]  # folders of the local copy that hold the files as ``dest`` does
    files: tuple[FileSpec, ...]
    page: str | None = None  # the page that offers the download (named when nothing gives it)
    lmd: LmdRoute | None = None  # the Lakh MIDI route for these files, if any


def _safe_rel(value: Any, key: str) -> str:
    """A relative POSIX path that stays below its folder (no absolute path, no ``..``)."""
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{key}: must be a non-empty path, got {value!r}")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ManifestError(f"{key}: must be a relative path without '..', got {value!r}")
    return path.as_posix()


def _size(value: Any, key: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ManifestError(f"{key}: must be a size in bytes, got {value!r}")
    return value


def _sha(value: Any, key: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ManifestError(f"{key}: must be a sha256 (64 lowercase hex digits), got {value!r}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ManifestError(f"{key}: must be a list of strings, got {value!r}")
    return tuple(value)


def _page(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ManifestError(f"{key}: must be an http(s) URL, got {value!r}")
    return value


def _files(value: Any, key: str) -> tuple[FileSpec, ...]:
    if not isinstance(value, dict) or not value:
        raise ManifestError(f"{key}: must be a non-empty mapping of path: [size, sha256]")
    specs = []
    for rel, pair in value.items():
        where = f"{key}.{rel}"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ManifestError(f"{where}: must be [size, sha256], got {pair!r}")
        size = _size(pair[0], where)
        assert size is not None
        specs.append(FileSpec(_safe_rel(rel, where), size, str(_sha(pair[1], where))))
    return tuple(sorted(specs, key=lambda s: s.rel))


def _entry(name: str, data: Any, key: str) -> Entry:
    if not isinstance(data, dict):
        raise ManifestError(f"{key}: must be a mapping, got {data!r}")
    unknown = sorted(str(k) for k in set(data) - _ENTRY_KEYS - _OPTIONAL_KEYS)
    missing = sorted(_ENTRY_KEYS - set(data))
    if unknown or missing:
        which = f"{key}.{(unknown or missing)[0]}"
        raise ManifestError(f"{which}: {'unknown' if unknown else 'missing'} key")
    if data["kind"] not in KINDS:
        raise ManifestError(f"{key}.kind: must be one of {list(KINDS)}, got {data['kind']!r}")
    entry = Entry(
        name=name,
        download=_safe_rel(data["download"], f"{key}.download"),
        kind=data["kind"],
        size=_size(data["size"], f"{key}.size", optional=True),
        sha256=_sha(data["sha256"], f"{key}.sha256", optional=True),
        urls=_strings(data["urls"], f"{key}.urls"),
        dest="." if data["dest"] == "." else _safe_rel(data["dest"], f"{key}.dest"),
        local=_strings(data["local"], f"{key}.local"),
        files=_files(data["files"], f"{key}.files"),
        page=_page(data.get("page"), f"{key}.page"),
        lmd=None if data.get("lmd") is None else _lmd(data["lmd"], f"{key}.lmd"),
    )
    if entry.lmd is not None:
        _check_lmd_covers(entry, key)
    if entry.kind == "file" and len(entry.files) != 1:
        raise ManifestError(f"{key}.files: a plain-file entry yields exactly one file")
    return entry


def _md5_map(value: Any, key: str, check: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(f"{key}: must be a mapping of md5: value, got {value!r}")
    for md5, item in value.items():
        if not isinstance(md5, str) or not _MD5.match(md5):
            raise ManifestError(f"{key}: {md5!r} is not an md5 (32 lowercase hex digits)")
        check(item, f"{key}.{md5}")
    return dict(value)


def _lmd(data: Any, key: str) -> LmdRoute:
    if not isinstance(data, dict):
        raise ManifestError(f"{key}: must be a mapping, got {data!r}")
    unknown = sorted(str(k) for k in set(data) - _LMD_KEYS - {"page"})
    missing = sorted(_LMD_KEYS - set(data))
    if unknown or missing:
        which = f"{key}.{(unknown or missing)[0]}"
        raise ManifestError(f"{which}: {'unknown' if unknown else 'missing'} key")
    return LmdRoute(
        download=_safe_rel(data["download"], f"{key}.download"),
        size=_size(data["size"], f"{key}.size", optional=True),
        sha256=_sha(data["sha256"], f"{key}.sha256", optional=True),
        urls=_strings(data["urls"], f"{key}.urls"),
        page=_page(data.get("page"), f"{key}.page"),
        dest=_safe_rel(data["dest"], f"{key}.dest"),
        local=_strings(data["local"], f"{key}.local"),
        sizes=_md5_map(data["sizes"], f"{key}.sizes", _size),
        cells=_md5_map(data["cells"], f"{key}.cells", _sha),
    )


def _check_lmd_covers(entry: Entry, key: str) -> None:
    """Every file of an entry with a Lakh MIDI route is named ``<md5>.npz`` and has its digest."""
    assert entry.lmd is not None
    for spec in entry.files:
        md5 = lpd_md5(spec.rel)
        if md5 is None:
            raise ManifestError(f"{key}.files.{spec.rel}: with an lmd route, must be <md5>.npz")
        if md5 not in entry.lmd.cells:
            raise ManifestError(f"{key}.lmd.cells: no digest for {md5} ({spec.rel})")


def lpd_md5(rel: str) -> str | None:
    """The md5 an LPD file's name gives (``.../<md5>.npz``), or None."""
    name = PurePosixPath(rel).name
    md5 = name[: -len(".npz")] if name.endswith(".npz") else ""
    return md5 if _MD5.match(md5) else None


def parse_manifest(data: Any, source: str) -> list[Entry]:
    """The entries of an already parsed manifest; errors name ``source`` and the key."""
    try:
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            raise ManifestError("entries: missing, or not a mapping")
        return [_entry(str(n), d, f"entries.{n}") for n, d in data["entries"].items()]
    except ManifestError as error:
        raise ManifestError(f"{source}: {error}") from None


def load_manifest(path: str | Path) -> list[Entry]:
    """Read and check the manifest at ``path``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 2,000 file lines: the C loader
    try:
        data = yaml.load(Path(path).read_text(), Loader=loader)  # noqa: S506 (a safe loader)
    except OSError as error:
        why = error.strerror or error
        raise ManifestError(f"{path}: cannot read the sources manifest ({why})") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    return parse_manifest(data, str(path))
