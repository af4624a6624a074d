"""The Lakh MIDI route of stage fetch: when no source gives the LPD-cleansed
files, fetch gets the Lakh MIDI files they were made from, verifies each by its md5, converts them
with the LPD-exact converter and writes LPD's files; the training tensor is then the same as from
LPD itself.

Every LMD/LPD pair of ``../shared/data/lmd_to_lpd`` (20 MIDI files, 26 LPD files: six md5s under
two MSD ids) is served by a 127.0.0.1 mirror as ``lmd_full.tar.gz``, packed by the test in the
official ``lmd_full/<md5[0]>/<md5>.mid`` layout, among members the run does not need.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pipeline.config import Fetch
from pipeline.fetch import lmd
from pipeline.stages import build_tensor, fetch, filter
from tests.conftest import DATA
from tests.fetch_tools import serve, tarball

PAIRS = DATA / "lmd_to_lpd"
DECOY = DATA / "midi" / "d6caebd1964d9e4a3c5ea59525230e2a.mid"  # a real MIDI file LPD lacks


@dataclasses.dataclass
class Pairs:
    """LMD/LPD pairs: the LPD files (path under lpd_cleansed/), the MIDI files (md5 -> bytes)
    and their sizes, from lmd_to_lpd/MANIFEST.csv."""

    npz: dict[str, bytes]
    midi: dict[str, bytes]

    def subset(self, n_songs: int) -> Pairs:
        """The LPD files of the ``n_songs`` smallest MIDI files."""
        md5s = sorted(self.midi, key=lambda m: len(self.midi[m]))[:n_songs]
        npz = {rel: data for rel, data in self.npz.items() if rel.split("/")[-1][:32] in md5s}
        return Pairs(npz, {m: self.midi[m] for m in md5s})

    def manifest(self, lmd_urls=(), local=("none",), cells=None) -> dict:
        """A manifest whose LPD-cleansed files are these pairs' LPD files, with a Lakh MIDI route
        whose digests are those of LPD's files."""
        ids = (DATA / "lpd" / "cleansed_ids.txt").read_bytes()
        labels = (DATA / "labels" / "lastfm" / "id_list_alternative.txt").read_bytes()
        if cells is None:
            cells = {}
            for rel in self.npz:
                md5 = rel.split("/")[-1][:32]
                cells[md5] = lmd.npz_song_digest(PAIRS / "lpd_cleansed" / rel)
        return {
            "entries": {
                "cleansed_ids": _entry("cleansed_ids.txt", "file", ".", {"cleansed_ids.txt": ids}),
                "labels": _entry(
                    "labels.tar.gz", "tar.gz", "labels", {"lastfm/id_list_alternative.txt": labels}
                ),
                "lpd_cleansed": {
                    **_entry("lpd_cleansed.tar.gz", "tar.gz", "lpd_cleansed", self.npz),
                    "local": list(local),
                    "lmd": {
                        "download": "lmd_full.tar.gz",
                        "size": None,
                        "sha256": None,
                        "urls": list(lmd_urls),
                        "dest": "lmd_full",
                        "local": ["lmd_full"],
                        "sizes": {m: len(data) for m, data in self.midi.items()},
                        "cells": cells,
                    },
                },
            }
        }

    def lmd_tarball(self, midi: dict[str, bytes] | None = None) -> bytes:
        """``lmd_full.tar.gz`` of these MIDI files (or ``midi``) among one the run does not need,
        in the reverse of sorted order (a tarball's order is its own)."""
        members = {f"lmd_full/{lmd.midi_rel(m)}": data for m, data in (midi or self.midi).items()}
        decoy = DECOY.read_bytes()
        members[f"lmd_full/{lmd.midi_rel(hashlib.md5(decoy).hexdigest())}"] = decoy
        return tarball(dict(sorted(members.items(), reverse=True)))

    def downloads(self) -> dict[str, bytes]:
        """A mirror with the label lists, cleansed_ids.txt and LMD-full, and no LPD-cleansed."""
        ids = (DATA / "lpd" / "cleansed_ids.txt").read_bytes()
        labels = (DATA / "labels" / "lastfm" / "id_list_alternative.txt").read_bytes()
        return {
            "cleansed_ids.txt": ids,
            "labels.tar.gz": tarball({"labels/lastfm/id_list_alternative.txt": labels}),
            "lmd_full.tar.gz": self.lmd_tarball(),
        }


def _entry(download: str, kind: str, dest: str, files: dict[str, bytes]) -> dict:
    return {
        "download": download,
        "kind": kind,
        "size": None,
        "sha256": None,
        "urls": [],
        "dest": dest,
        "local": ["none"],
        "files": {k: [len(v), hashlib.sha256(v).hexdigest()] for k, v in files.items()},
    }


@pytest.fixture(scope="module")
def pairs() -> Pairs:
    with open(PAIRS / "MANIFEST.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    npz = {r["npz"].removeprefix("lpd_cleansed/"): (PAIRS / r["npz"]).read_bytes() for r in rows}
    midi = {r["md5"]: (PAIRS / r["midi"]).read_bytes() for r in rows}
    assert len(npz) == 26 and len(midi) == 20
    assert all(len(midi[r["md5"]]) == int(r["midi_bytes"]) for r in rows)
    return Pairs(npz, midi)


def cfg(mirrors=(), local_dir=None) -> Fetch:
    return Fetch(local_dir=local_dir, mirrors=list(mirrors), retries=1, backoff=0.0, timeout=5.0)


def run_fetch(tmp_path: Path, manifest: dict, config: Fetch) -> dict:
    sources = tmp_path / "sources.yaml"
    sources.write_text(json.dumps(manifest))
    return fetch.run(sources, config, tmp_path / "lpd", tmp_path / "out" / "report.json")


def build(params, lpd_root: Path, out: Path) -> bytes:
    """The training tensor (filter, then build_tensor) of the songs under ``lpd_root``, every tag
    kept (none of these songs carries the paper's tag); returns the phrase file's bytes."""
    out.mkdir(parents=True)
    bounds = dataclasses.replace(params.filter, tag=None, workers=1)
    filter.run(
        bounds, lpd_root, DATA / "lpd" / "cleansed_ids.txt", DATA / "labels" / "lastfm",
        DATA / "midi", out / "manifest.csv", out / "filter.json",
    )  # fmt: skip
    build_tensor.run(
        dataclasses.replace(params.build_tensor, workers=1), out / "manifest.csv", lpd_root,
        DATA / "midi", out / "phrases.h5", out / "build.json",
    )  # fmt: skip
    return (out / "phrases.h5").read_bytes()


def test_the_lakh_midi_route_gives_the_tensor_lpd_gives(tmp_path, pairs, params):
    with serve(pairs.downloads()) as server:
        report = run_fetch(tmp_path, pairs.manifest(), cfg([server.url]))
        n_requests = len(server.requests)
        again = run_fetch(tmp_path, pairs.manifest(), cfg([server.url]))
        assert len(server.requests) == n_requests  # the second run asks for nothing
    route = report["routes"]["lpd_cleansed"]
    assert route["route"] == "lmd" and route["converted_files"] == 26
    assert f"{server.url}/lpd_cleansed.tar.gz: HTTP 404" in route["why"]
    assert route["lmd"]["songs_converted"] == 20 and route["lmd"]["differ_from_lpd"] == {}
    assert route["lmd"]["midi_by_source"] == {f"{server.url}/lmd_full.tar.gz": 20}
    assert report["by_source"][fetch.LMD_SOURCE] == 26
    assert report["routes"]["labels"] == {"route": "lpd"}
    assert again["routes"] == report["routes"] and again["present"] == 28
    for md5, data in pairs.midi.items():  # verified MIDI files kept, the decoy not extracted
        assert (tmp_path / "lpd" / "lmd_full" / lmd.midi_rel(md5)).read_bytes() == data
    assert len(list((tmp_path / "lpd" / "lmd_full").rglob("*.mid"))) == 20
    assert not (tmp_path / "lpd" / ".downloads").exists()

    # the training tensor, from the converted files and from LPD's own: byte for byte
    ours = build(params, tmp_path / "lpd" / "lpd_cleansed", tmp_path / "from_lmd")
    assert ours == build(params, PAIRS / "lpd_cleansed", tmp_path / "from_lpd")
    rows = (tmp_path / "from_lmd" / "manifest.csv").read_text().splitlines()
    assert len(rows) == 1 + 20  # every song, once per md5


def test_a_song_whose_conversion_differs_is_reported_per_song(tmp_path, pairs, capsys):
    """Both trees, one MIDI file in the place of another: that song's LPD files are named, the
    other songs are not (and the command exits 1)."""
    few = pairs.subset(3)
    a, b = sorted(few.midi)[:2]
    tree = tmp_path / "lmd_full"
    for md5, data in few.midi.items():
        (tree / lmd.midi_rel(md5)).parent.mkdir(parents=True, exist_ok=True)
        (tree / lmd.midi_rel(md5)).write_bytes(few.midi[b] if md5 == a else data)
    result = lmd.compare_trees(tree, PAIRS / "lpd_cleansed")
    named = {rel for rel in few.npz if rel.endswith(f"/{a}.npz")}
    assert set(result["differs"]) == named
    assert result["compared"] == len(few.npz) and result["no_midi_file"] == 26 - len(few.npz)
    assert all("differ" in " ".join(problems) for problems in result["differs"].values())
    with pytest.raises(SystemExit) as status:
        lmd.main(["--lmd-root", str(tree), "--lpd-root", str(PAIRS / "lpd_cleansed")])
    assert status.value.code == 1
    assert f"{sorted(named)[0]}: " in capsys.readouterr().out


def test_a_conversion_that_differs_from_the_manifests_song_is_reported(tmp_path, pairs):
    few = pairs.subset(2)
    one = sorted(few.midi)[0]
    lpd = PAIRS / "lpd_cleansed"
    cells = {m: lmd.npz_song_digest(next(lpd.rglob(f"{m}.npz"))) for m in few.midi}
    cells[one] = "0" * 64
    with serve(few.downloads()) as server:
        report = run_fetch(tmp_path, few.manifest(cells=cells), cfg([server.url]))
    assert report["routes"]["lpd_cleansed"]["lmd"]["differ_from_lpd"] == {
        one: "its piano-roll differs from LPD's (song digest)"
    }


def test_each_midi_file_is_checked_by_its_md5_and_size(tmp_path, pairs):
    few = pairs.subset(2)
    first, second = sorted(few.midi)
    flipped = bytearray(few.midi[first])
    flipped[-10] ^= 0xFF  # same size: only the md5 shows it
    longer = few.midi[second] + b"\0"
    bad = {**few.downloads(), "lmd_full.tar.gz": few.lmd_tarball({first: bytes(flipped)})}
    worse = {**few.downloads(), "lmd_full.tar.gz": few.lmd_tarball({second: longer})}
    with serve(bad) as a, serve(worse) as b:
        with pytest.raises(fetch.FetchError) as error:
            run_fetch(tmp_path, few.manifest(), cfg([a.url, b.url]))
    message = str(error.value)
    assert f"member lmd_full/{lmd.midi_rel(first)}: md5 differs from the manifest" in message
    size = len(few.midi[second])
    assert f"member lmd_full/{lmd.midi_rel(second)}: size {size + 1:,}, the manifest " in message
    assert not list((tmp_path / "lpd").rglob("*.npz"))
    with serve(few.downloads()) as good:
        report = run_fetch(tmp_path, few.manifest(), cfg([a.url, good.url]))
    assert report["routes"]["lpd_cleansed"]["route"] == "lmd"


def test_a_local_lakh_midi_tree_is_linked_and_converted(tmp_path, pairs):
    few = pairs.subset(2)
    downloads = few.downloads()
    del downloads["lmd_full.tar.gz"]  # the mirror gives the label list and cleansed_ids.txt
    with serve(downloads) as server:
        report = run_fetch(tmp_path, few.manifest(), cfg([server.url], local_dir=str(PAIRS)))
    detail = report["routes"]["lpd_cleansed"]["lmd"]
    assert set(detail["midi_by_source"]) <= {"local (linked)", "local (copied)"}
    assert detail["songs_converted"] == 2 and detail["differ_from_lpd"] == {}


def test_converted_files_are_recognised_without_verified_json(tmp_path, pairs):
    few = pairs.subset(2)
    with serve(few.downloads()) as server:
        run_fetch(tmp_path, few.manifest(), cfg([server.url]))
    (tmp_path / "out" / "verified.json").unlink()
    report = run_fetch(tmp_path, few.manifest(), cfg())  # no source at all: nothing to fetch
    assert report["obtained"] == 0 and report["routes"]["lpd_cleansed"]["route"] == "lmd"


def test_when_the_lakh_midi_route_fails_too_the_error_says_so(tmp_path, pairs):
    few = pairs.subset(2)
    downloads = few.downloads()
    del downloads["lmd_full.tar.gz"]
    with serve(downloads) as server:
        with pytest.raises(fetch.FetchError) as error:
            run_fetch(tmp_path, few.manifest(), cfg([server.url]))
    message = str(error.value)
    assert message.startswith(f"lpd_cleansed: no source gave {len(few.npz)} file(s)")
    assert "\n" not in message and "set fetch.local_dir" in message
    assert "the Lakh MIDI route: lmd_full.tar.gz, failed too: no source gave 2 MIDI file(s)" in (
        message
    )
    assert f"{server.url}/lmd_full.tar.gz: HTTP 404" in message


def test_fetch_removes_the_converted_files_it_wrote_once_unlisted(tmp_path, pairs):
    few = pairs.subset(2)
    with serve(few.downloads()) as server:
        run_fetch(tmp_path, few.manifest(), cfg([server.url]))
    smaller = few.manifest()
    del smaller["entries"]["lpd_cleansed"]["lmd"]
    gone = sorted(few.npz)[0]
    kept = {rel: data for rel, data in few.npz.items() if rel != gone}
    smaller["entries"]["lpd_cleansed"]["files"] = {
        k: [len(v), hashlib.sha256(v).hexdigest()] for k, v in kept.items()
    }
    report = run_fetch(tmp_path, smaller, cfg())
    # the converted files still listed stay; the one no longer listed and the MIDI files go
    assert not (tmp_path / "lpd" / "lpd_cleansed" / gone).exists()
    assert not (tmp_path / "lpd" / "lmd_full").exists()
    assert report["removed"] == 1 + 2 and report["unlisted"] == 0
    shutil.rmtree(tmp_path / "lpd")
