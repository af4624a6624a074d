"""Write the sources manifest ``data/sources.yaml`` from a local copy of the data (docs/fetch.md).

    python scripts/make_sources.py [../shared/data] [data/sources.yaml]

The local copy must be in this machine's layout (``lpd_alternative/lpd_cleansed/``,
``lpd/cleansed_ids.txt``, ``labels/lastfm/``), byte-identical to the public release: the manifest
records the size and sha256 of every file the run uses, so the files fetched later are checked
against it. The URLs and provenance notes are fixed below; change them here, not in the output.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

from pipeline.data import lpd
from pipeline.fetch.lmd import song_digest

# Pinned to the commits the `search` index stores for these files (docs/fetch.md, "Sources").
LPD_REPO = "https://raw.githubusercontent.com/salu133445/lakh-pianoroll-dataset"
LABELS_URL = f"{LPD_REPO}/1cfe780edffa460192920bcbd3ccfa5edb6c96f4/data/labels.tar.gz"
LPD_PAGE = "https://salu133445.github.io/lakh-pianoroll-dataset/dataset"
# The Lakh MIDI Dataset's LMD-full: size and sha256 as muspy 0.5.0 records them
# (muspy/datasets/lmd.py, LakhMIDIDataset); not checked here (no network).
LMD_URL = "http://hog.ee.columbia.edu/craffel/lmd/lmd_full.tar.gz"
LMD_PAGE = "https://colinraffel.com/projects/lmd/"
LMD_SIZE = 1768163879
LMD_SHA256 = "6fcfe2ac49ca08f3f214cec86ab138d4fc4dabcd7f27f491a838dae6db45a12b"
MMT_REPO = "https://raw.githubusercontent.com/salu133445/mmt"
IDS_URL = f"{MMT_REPO}/a98fcd202552d67c0acc3b8dadc63cd4a5fd55a0/data/lmd/cleansed_ids.txt"

HEADER = """\
# The pipeline's inputs and where to get them: read by stage fetch (pipeline/stages/fetch.py,
# docs/fetch.md). Written by scripts/make_sources.py from ../shared/data; do not edit by hand.
#
# Sources, tried in order: fetch.local_dir (params.yaml), fetch.mirrors (<mirror>/<download>),
# then the urls below. Each file the run uses is checked against [size, sha256].
#
# cleansed_ids: the LPD list of LPD-cleansed files ("md5<4 spaces>MSD id"). Official copy:
#   salu133445/mmt, data/lmd/cleansed_ids.txt at commit a98fcd2 (1,178,375 bytes, the size and
#   last lines of ../shared/data/lpd/cleansed_ids.txt). The LPD page's own link is a Google Drive
#   id, not listed: Google Drive serves an HTML confirmation page for large files.
# labels: the LPD label lists (the pipeline reads the Last.fm tags). Official copy:
#   salu133445/lakh-pianoroll-dataset, data/labels.tar.gz at commit 1cfe780 (869,278 bytes, checked
#   on download). The archive has no published checksum: its members are matched by the end of
#   their path (lastfm/id_list_<tag>.txt), whatever folder holds them, and each is checked below.
# lpd_cleansed: every LPD-cleansed file whose MSD id has the Last.fm alternative tag (2,076), the
#   paper's training-set source, hashed from ../shared/data/lpd_alternative (byte-identical to the
#   release). The release tarball (lpd_cleansed.tar.gz, all 21,425 files, no published checksum)
#   is linked from https://salu133445.github.io/lakh-pianoroll-dataset/dataset to a university
#   SharePoint share; no direct download URL could be found, so none is listed: give a mirror
#   (fetch.mirrors) or a local copy (fetch.local_dir) holding lpd_cleansed.tar.gz or its tree.
#   Otherwise fetch takes the Lakh MIDI route (lpd_cleansed.lmd, pipeline/fetch/lmd.py): the
#   LMD-full tarball (http://hog.ee.columbia.edu/craffel/lmd/lmd_full.tar.gz, from
#   https://colinraffel.com/projects/lmd/; its size and sha256 as muspy 0.5.0 records them, not
#   checked here), whose lmd_full/<md5[0]>/<md5>.mid files LPD was converted from; each is
#   converted and checked against `cells`, the song digest of LPD's own file per md5.
"""


def _hashes(root: Path, rels: list[str]) -> dict[str, list]:
    out = {}
    for rel in rels:
        data = (root / rel).read_bytes()
        out[rel] = [len(data), hashlib.sha256(data).hexdigest()]
    return out


def entries(local: Path) -> dict:
    """The manifest's entries, hashed from ``local`` (this machine's layout)."""
    ids = local / "lpd" / "cleansed_ids.txt"
    lastfm = local / "labels"
    tree = local / "lpd_alternative" / "lpd_cleansed"
    labels = sorted(p.relative_to(lastfm).as_posix() for p in lastfm.glob("lastfm/*.txt"))
    npz = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.npz"))
    id_file = _hashes(ids.parent, [ids.name])
    return {
        "cleansed_ids": {
            "download": "cleansed_ids.txt",
            "kind": "file",
            "size": id_file[ids.name][0],
            "sha256": id_file[ids.name][1],
            "urls": [IDS_URL],
            "dest": ".",
            "local": ["lpd", "."],
            "files": id_file,
        },
        "labels": {
            "download": "labels.tar.gz",
            "kind": "tar.gz",
            "size": 869278,
            "sha256": None,
            "urls": [LABELS_URL],
            "dest": "labels",
            "local": ["labels", "."],
            "files": _hashes(lastfm, labels),
        },
        "lpd_cleansed": {
            "download": "lpd_cleansed.tar.gz",
            "kind": "tar.gz",
            "size": None,
            "sha256": None,
            "urls": [],
            "page": LPD_PAGE,
            "dest": "lpd_cleansed",
            "local": ["lpd_alternative/lpd_cleansed", "lpd_cleansed", "lpd/lpd_cleansed"],
            "files": _hashes(tree, npz),
            "lmd": {
                "download": "lmd_full.tar.gz",
                "size": LMD_SIZE,
                "sha256": LMD_SHA256,
                "urls": [LMD_URL],
                "page": LMD_PAGE,
                "dest": "lmd_full",
                "local": ["lmd_full"],
                "sizes": {},
                "cells": song_digests(tree, npz),
            },
        },
    }


class _Block(dict):
    """A mapping written one key per line (the dumper writes small mappings inline)."""


yaml.SafeDumper.add_representer(
    _Block, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, False)
)


def song_digests(tree: Path, rels: list[str]) -> dict[str, str]:
    """The song digest of each distinct md5 among the LPD files ``rels`` of ``tree``
    (pipeline.fetch.lmd.song_digest, read with the project's LPD reader)."""
    digests: dict[str, str] = {}
    for rel in rels:
        md5 = lpd.parse_lpd_path(rel).md5
        if md5 not in digests:
            digests[md5] = song_digest(lpd.read_npz(tree / rel))
    return _Block(sorted(digests.items()))


def main() -> None:
    local = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "data/sources.yaml")
    data = {"entries": entries(local)}
    body = yaml.safe_dump(data, sort_keys=False, width=120, default_flow_style=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER + body)


if __name__ == "__main__":
    main()
