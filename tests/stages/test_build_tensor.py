"""Stage build_tensor on real LPD songs: each phrase against an independent merge; the rules."""

from __future__ import annotations

import csv
import dataclasses
import json

import h5py
import hdf5plugin
import numpy as np
import pytest

from pipeline.data.phrase_file import read_attrs, read_track_info
from pipeline.data.phrases import choose_starts, song_rng, valid_starts
from tests.data.conftest import build_cfg, filter_cfg, oracle_bmusegan8, run_build, run_filter


@pytest.fixture(scope="module")
def built(params, data_paths, tmp_path_factory):
    """The default run (tag alternative: 50 songs) into a temporary folder."""
    out = tmp_path_factory.mktemp("build")
    run_filter(filter_cfg(params), data_paths, out)
    result = run_build(build_cfg(params), data_paths, out)
    return out, result


def test_every_phrase_equals_its_window_of_the_independently_merged_song(built, data_paths):
    out, result = built
    with h5py.File(out / "phrases.h5", "r") as f:
        phrases = f["phrases"]
        assert phrases.shape == (result.n_phrases, 4, 96, 84, 8)
        assert phrases.dtype == bool and phrases.chunks == (1, 4, 96, 84, 8)
        assert str(hdf5plugin.ZSTD_ID) in phrases._filters  # Zstandard (phrase_file.COMPRESSION)
        md5s = [m.decode() for m in f["md5"][:]]
        starts = f["start_bar"][:]
        rows = {r["md5"]: r for r in csv.DictReader(open(out / "manifest.csv"))}
        oracle_cache: dict[str, np.ndarray] = {}
        for i, (md5, bar) in enumerate(zip(md5s, starts, strict=True)):
            if md5 not in oracle_cache:
                oracle_cache.clear()
                oracle_cache[md5] = oracle_bmusegan8(data_paths.lpd_root / rows[md5]["path"])
            song = oracle_cache[md5]
            window = song[bar * 96 : (bar + 4) * 96, 24:108, :]
            assert window.shape == (384, 84, 8)
            assert np.array_equal(phrases[i].reshape(384, 84, 8), window), (md5, bar)


def test_six_disjoint_nonsilent_windows_per_song(built):
    out, result = built
    report = json.loads((out / "phrases.json").read_text())
    with h5py.File(out / "phrases.h5", "r") as f:
        md5s = [m.decode() for m in f["md5"][:]]
        starts = f["start_bar"][:]
        nonsilent = [bool(f["phrases"][i].any()) for i in range(len(md5s))]
    assert all(nonsilent)
    by_song: dict[str, list[int]] = {}
    for md5, bar in zip(md5s, starts, strict=True):
        by_song.setdefault(md5, []).append(int(bar))
    assert len(by_song) == report["songs_used"] == result.n_songs
    assert report["songs_used"] + report["songs_skipped"] == 50
    for bars in by_song.values():
        assert len(bars) == 6 and bars == sorted(bars)
        assert all(b - a >= 4 for a, b in zip(bars, bars[1:], strict=False))
    assert report["phrases"] == 6 * report["songs_used"]
    for skipped in report["skipped"]:
        assert skipped["reason"] == "too_few_windows"


def test_attributes_and_provenance(built, data_paths):
    out, _ = built
    info = read_track_info(out / "phrases.h5")
    assert info.programs == [0, 0, 24, 32, 48, 64, 80, 88]
    assert info.is_drums == [True] + [False] * 7
    attrs = read_attrs(out / "phrases.h5")
    assert attrs["lowest_pitch"] == 24 and attrs["resolution"] == 24
    assert attrs["track_set"] == "bmusegan8"
    assert attrs["params"]["build_tensor"]["phrases_per_song"] == 6
    with h5py.File(out / "phrases.h5", "r") as f:
        msd = {m.decode() for m in f["msd_id"][:]}
    alternative = set((data_paths.lastfm_dir / "id_list_alternative.txt").read_text().split())
    assert msd and msd <= alternative


def test_same_params_give_identical_bytes_whatever_the_workers(built, params, data_paths):
    out, _ = built
    run_build(build_cfg(params, workers=2), data_paths, out, name="again")
    assert (out / "again.h5").read_bytes() == (out / "phrases.h5").read_bytes()
    assert (out / "again.json").read_bytes() == (out / "phrases.json").read_bytes()
    run_build(build_cfg(params, seed=1), data_paths, out, name="seed1")
    assert (out / "seed1.h5").read_bytes() != (out / "phrases.h5").read_bytes()


def test_a_songs_windows_do_not_depend_on_the_other_songs(built, params, data_paths, tmp_path):
    out, _ = built
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    with open(tmp_path / "one.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(rows[7])
    run_build(build_cfg(params), data_paths, tmp_path, manifest=tmp_path / "one.csv")
    with h5py.File(out / "phrases.h5", "r") as a, h5py.File(tmp_path / "phrases.h5", "r") as b:
        md5 = rows[7]["md5"].encode()
        mask = a["md5"][:] == md5
        assert mask.sum() == 6
        assert list(a["start_bar"][:][mask]) == list(b["start_bar"][:])
        assert np.array_equal(a["phrases"][np.flatnonzero(mask)], b["phrases"][:])


def test_lpd5_track_set_and_overlap_option(params, data_paths, tmp_path):
    run_filter(filter_cfg(params), data_paths, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "manifest.csv")))[:3]
    with open(tmp_path / "few.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cfg = build_cfg(params, track_set="lpd5", allow_overlap=True, phrases_per_song=40)
    result = run_build(cfg, data_paths, tmp_path, manifest=tmp_path / "few.csv")
    with h5py.File(tmp_path / "phrases.h5", "r") as f:
        assert f["phrases"].shape[1:] == (4, 96, 84, 5)
        starts = f["start_bar"][:]
    assert result.n_phrases == 40 * result.n_songs
    assert np.any(np.diff(starts[:40]) < 4)  # 40 windows from ~100 bars must overlap


# ---------------------------------------------------------------------------------------------
# Window selection, hand-built cases
# ---------------------------------------------------------------------------------------------


def test_disjoint_selection_always_fills_a_tight_song():
    """24 bars hold six disjoint 4-bar windows only one way; the draw must find it every time."""
    valid = valid_starts(np.ones(24, dtype=bool), 4, allow_silent=False)
    for seed in range(50):
        rng = song_rng(seed, "0" * 32)
        assert choose_starts(valid, 6, 4, False, rng) == [0, 4, 8, 12, 16, 20]


def test_silent_windows_are_excluded_unless_allowed():
    active = np.zeros(12, dtype=bool)
    active[[0, 9]] = True  # bars 0 and 9 sound; bars 1-8 and 10-11 are silent
    valid = valid_starts(active, 4, allow_silent=False)
    assert list(np.flatnonzero(valid)) == [0, 6, 7, 8]
    assert valid_starts(active, 4, allow_silent=True).all()
    picked = choose_starts(valid, 6, 4, False, song_rng(0, "f" * 32))
    assert len(picked) == 2 and picked[0] == 0 and picked[1] in (6, 7, 8)


def test_draw_is_random_but_seeded():
    valid = np.ones(97, dtype=bool)
    draws = {tuple(choose_starts(valid, 6, 4, False, song_rng(s, "a" * 32))) for s in range(20)}
    assert len(draws) > 15
    again = choose_starts(valid, 6, 4, False, song_rng(3, "a" * 32))
    assert tuple(again) in draws
    assert choose_starts(valid, 6, 4, False, song_rng(3, "b" * 32)) != again


def test_short_song_kept_only_when_asked(params, data_paths, tmp_path, built):
    out, _ = built
    report = json.loads((out / "phrases.json").read_text())
    assert report["skipped"], "the default run skips at least one short song"
    cfg = build_cfg(params, keep_short_songs=True)
    result = run_build(cfg, data_paths, out, name="keep")
    assert result.n_songs == 50 and result.n_phrases < 6 * 50
    assert dataclasses.asdict(cfg)["keep_short_songs"] is True


def test_windows_written_into_the_reused_buffer_equal_fresh_ones(data_paths):
    """build_tensor densifies every song into one buffer: a song's windows must not keep cells
    of the song before (the buffer is cleared), and equal a fresh array's."""
    from pipeline.data import lpd
    from pipeline.data.phrases import densify_windows, merge_cells, window_scratch
    from pipeline.data.tracks import get_track_set

    track_set = get_track_set("bmusegan8")
    scratch = window_scratch(6, 4, 84, 8)
    for path in sorted(data_paths.lpd_root.rglob("*.npz"))[:8]:  # dense songs first, then others
        cells = merge_cells(lpd.read_npz(path), track_set, 24, 84)
        starts = choose_starts(
            valid_starts(np.ones(cells.length // 96, bool), 4, True),
            5,
            4,
            False,
            song_rng(0, path.stem),
        )
        fresh = densify_windows(cells, starts, 4, 84, 8)
        reused = densify_windows(cells, starts, 4, 84, 8, scratch=scratch)
        assert np.shares_memory(reused, scratch) and np.array_equal(reused, fresh)
