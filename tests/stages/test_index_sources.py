"""Stage index_sources: the listing sees every change to the source folders, hashes only what
changed, and DVC reruns the data stages exactly when the listing changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from pipeline.stages import index_sources
from tests.dag.dag_tools import ALWAYS_RUN, BIN, dvc_status_stages, run, scratch_repo


def _tree(data_paths, target, n: int = 6) -> list[str]:
    """Copies of the first ``n`` bundled LPD files at their tree paths; their relative paths."""
    files = sorted(data_paths.lpd_root.rglob("*.npz"))[:n]
    rels = []
    for path in files:
        rel = path.relative_to(data_paths.lpd_root)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)
        rels.append(rel.as_posix())
    return rels


def _listing(tmp_path, lpd, midi):
    listing = tmp_path / "out" / "listing.tsv"
    index_sources.run(lpd, midi, listing)
    return listing.read_text().splitlines()


def _count_hashing(monkeypatch) -> list:
    hashed: list = []
    original = index_sources.file_digest

    def counting(path, algorithm="sha256"):
        hashed.append(path)
        return original(path, algorithm)

    monkeypatch.setattr(index_sources, "file_digest", counting)
    return hashed


def test_listing_holds_every_file_with_its_md5(data_paths, tmp_path):
    lpd, midi = tmp_path / "lpd", tmp_path / "midi"
    rels = _tree(data_paths, lpd)
    midi.mkdir()
    (midi / "a.mid").write_bytes(b"MThd")
    lines = _listing(tmp_path, lpd, midi)
    assert lines[0] == "source\tpath\tsize\tmd5"
    sizes = {rel: (lpd / rel).stat().st_size for rel in rels}
    md5s = {rel: hashlib.md5((lpd / rel).read_bytes()).hexdigest() for rel in rels}
    expected = [f"lpd\t{rel}\t{sizes[rel]}\t{md5s[rel]}" for rel in rels]
    assert lines[1:] == [*expected, f"midi\ta.mid\t4\t{hashlib.md5(b'MThd').hexdigest()}"]


def test_unchanged_folders_give_the_same_bytes_without_rehashing(data_paths, tmp_path, monkeypatch):
    lpd, midi = tmp_path / "lpd", tmp_path / "midi"
    _tree(data_paths, lpd)
    midi.mkdir()
    first = _listing(tmp_path, lpd, midi)
    hashed = _count_hashing(monkeypatch)
    assert _listing(tmp_path, lpd, midi) == first
    assert hashed == []
    # a damaged hash cache costs a rehash, never a wrong listing
    (tmp_path / "out" / index_sources.CACHE_NAME).write_text("{not json")
    assert _listing(tmp_path, lpd, midi) == first
    assert len(hashed) == 6
    cache = json.loads((tmp_path / "out" / index_sources.CACHE_NAME).read_text())
    key = next(iter(cache))
    cache[key] = 5  # valid JSON, a damaged entry: that file is hashed again
    (tmp_path / "out" / index_sources.CACHE_NAME).write_text(json.dumps(cache))
    assert _listing(tmp_path, lpd, midi) == first
    assert len(hashed) == 7


@pytest.mark.parametrize("change", ["same_size_edit", "copy_over", "add", "remove", "rename"])
def test_every_kind_of_change_changes_the_listing(data_paths, tmp_path, monkeypatch, change):
    lpd, midi = tmp_path / "lpd", tmp_path / "midi"
    rels = _tree(data_paths, lpd)
    midi.mkdir()
    before = _listing(tmp_path, lpd, midi)
    target = lpd / rels[0]
    if change == "same_size_edit":  # other bytes, same length; the mtime moves on
        data = bytearray(target.read_bytes())
        data[100] ^= 0xFF
        stat = target.stat()
        target.write_bytes(bytes(data))
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    elif change == "copy_over":  # another song's bytes, with the old mtime kept (new inode)
        stat = target.stat()
        target.unlink()
        shutil.copy2(lpd / rels[1], target)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "add":
        shutil.copyfile(lpd / rels[1], target.with_name("0" * 32 + ".npz"))
    elif change == "remove":
        target.unlink()
    else:
        target.rename(target.with_name("f" * 32 + ".npz"))
    hashed = _count_hashing(monkeypatch)
    after = _listing(tmp_path, lpd, midi)
    assert after != before
    assert len(hashed) == {"remove": 0, "rename": 1}.get(change, 1)  # only what changed


def test_a_dangling_link_is_listed_without_a_hash(tmp_path):
    lpd, midi = tmp_path / "lpd", tmp_path / "midi"
    lpd.mkdir()
    midi.mkdir()
    (lpd / "gone.npz").symlink_to(tmp_path / "nowhere.npz")
    assert _listing(tmp_path, lpd, midi)[1:] == ["lpd\tgone.npz\t-1\t"]


def test_a_missing_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="lpd folder .*nope is not a folder"):
        index_sources.run(tmp_path / "nope", tmp_path, tmp_path / "listing.tsv")


def test_a_missing_midi_folder_matters_only_to_a_midi_run(tmp_path):
    """A fresh clone has no ../shared/data/midi: an LPD run lists the LPD tree alone."""
    lpd, listing = tmp_path / "lpd", tmp_path / "out" / "listing.tsv"
    lpd.mkdir()
    (lpd / "a.npz").write_bytes(b"song")
    assert index_sources.run(lpd, tmp_path / "no_midi", listing, "lpd") == 1
    assert listing.read_text().splitlines()[1].startswith("lpd\ta.npz\t4\t")
    with pytest.raises(FileNotFoundError, match="midi folder .*no_midi is not a folder"):
        index_sources.run(lpd, tmp_path / "no_midi", listing, "midi")


def test_dvc_reruns_the_data_stages_exactly_when_a_song_changes(data_paths, tmp_path):
    """Through DVC: nothing but index_sources runs when nothing changed; a song file replaced
    inside the tree (the folders are no DVC dependency any more) reruns filter."""
    lpd = tmp_path / "tree"
    rels = _tree(data_paths, lpd)
    root = scratch_repo(tmp_path, {"paths": {"lpd_root": str(lpd)}, "filter": {"tag": None}})

    def dvc(*args):
        return run([str(BIN / "dvc"), *args], root)

    dvc("repro", "filter")
    assert dvc_status_stages(dvc("status", "filter", "index_sources")) == ALWAYS_RUN
    again = dvc("repro", "filter")
    assert "Running stage 'filter'" not in again and "Running stage 'index_sources'" in again

    shutil.copyfile(lpd / rels[1], lpd / rels[0])  # one song's bytes replaced by another's
    dvc("repro", "index_sources")
    assert "filter" in dvc_status_stages(dvc("status", "filter"))
    assert "Running stage 'filter'" in dvc("repro", "filter")
