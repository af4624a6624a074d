"""Stage filter on the real LPD subset: tag rule, md5 de-duplication, bad and empty input."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.config import load_params
from pipeline.errors import ConfigError, DataError
from pipeline.stages import build_tensor, filter
from tests.data.conftest import build_cfg, filter_cfg, run_build, run_filter


def _manifest(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(out / "manifest.csv")))


def _report(out: Path, name: str = "filter.json") -> dict:
    return json.loads((out / name).read_text())


def test_tag_filter_and_md5_dedup(params, data_paths, tmp_path):
    run_filter(filter_cfg(params), data_paths, tmp_path)
    rows = _manifest(tmp_path)
    alternative = set((data_paths.lastfm_dir / "id_list_alternative.txt").read_text().split())
    present = {p.parent.name: p.stem for p in data_paths.lpd_root.rglob("*.npz")}
    tagged = {m: md5 for m, md5 in present.items() if m in alternative}
    assert len(tagged) == 55  # data README: 55 MSD ids, 50 distinct piano-rolls
    assert len(rows) == len(set(tagged.values())) == 50
    assert len({r["md5"] for r in rows}) == 50
    for row in rows:
        ids = row["msd_ids"].split(";")
        assert row["msd_id"] == ids[0] and set(ids) == {
            m for m, d in tagged.items() if d == row["md5"]
        }
        assert "alternative" in row["tags"].split(";")
        assert row["source"] == "lpd" and not Path(row["path"]).is_absolute()
        assert (data_paths.lpd_root / row["path"]).is_file()
        assert int(row["n_bars"]) == int(row["n_steps"]) // 96 >= 4
    report = _report(tmp_path)
    assert report["rules"]["tag"]["removed"] == 497 - 55
    assert report["rules"]["duplicate_md5"]["removed"] == 5
    assert "by construction" in report["rules"]["time_signature"]["note"]
    assert str(tmp_path) not in (tmp_path / "filter.json").read_text()


def test_no_tag_keeps_one_row_per_md5(params, data_paths, tmp_path):
    result = run_filter(filter_cfg(params, tag=None, workers=2), data_paths, tmp_path)
    md5s = {p.stem for p in data_paths.lpd_root.rglob("*.npz")}
    assert result.n_kept == len(md5s) == 431
    assert result.removed["duplicate_md5"] == 497 - 431
    first = (tmp_path / "manifest.csv").read_bytes()
    run_filter(filter_cfg(params, tag=None, workers=1), data_paths, tmp_path)
    assert (tmp_path / "manifest.csv").read_bytes() == first


def test_missing_tag_list_fails_at_once_naming_the_file(params, data_paths, tmp_path):
    with pytest.raises(DataError, match=r"id_list_nosuchtag\.txt"):
        run_filter(filter_cfg(params, tag="nosuchtag"), data_paths, tmp_path)
    assert not (tmp_path / "manifest.csv").exists()


def _small_tree(data_paths, tmp_path: Path, n: int) -> Path:
    """A copy of the first ``n`` LPD files in the LPD layout."""
    root = tmp_path / "lpd"
    for path in sorted(data_paths.lpd_root.rglob("*.npz"))[:n]:
        target = root / path.relative_to(data_paths.lpd_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return root


def _ids_file(tmp_path: Path, root: Path, extra: list[tuple[str, str]] = ()) -> Path:
    pairs = [(p.stem, p.parent.name) for p in root.rglob("*.npz")] + list(extra)
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"{md5}    {msd}\n" for md5, msd in pairs))
    return path


def test_truncated_npz_is_reported_and_the_run_completes(params, data_paths, tmp_path):
    root = _small_tree(data_paths, tmp_path, 4)
    victim = sorted(root.rglob("*.npz"))[1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    ids = _ids_file(tmp_path, root)
    result = run_filter(
        filter_cfg(params, tag=None), data_paths, tmp_path, lpd_root=root, cleansed_ids=ids
    )
    report = _report(tmp_path)
    (bad,) = report["unreadable"]
    assert bad["path"] == victim.relative_to(root).as_posix()
    assert "BadZipFile" in bad["error"] and str(tmp_path) not in bad["error"]
    assert result.n_kept == 3 and report["rules"]["unreadable"]["removed"] == 1


def test_corrupt_member_is_skipped_by_build(params, data_paths, tmp_path):
    """A file whose header reads but whose note data is damaged: build skips it and says why."""
    root = _small_tree(data_paths, tmp_path, 3)
    victim = sorted(root.rglob("*.npz"))[0]
    with zipfile.ZipFile(victim) as src:
        members = {n: src.read(n) for n in src.namelist()}
    key = next(n for n in members if n.endswith("_csc_indices.npy") and len(members[n]) > 200)
    members[key] = members[key][:-40]  # a short array: disagrees with indptr
    with zipfile.ZipFile(victim, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    ids = _ids_file(tmp_path, root)
    run_filter(filter_cfg(params, tag=None), data_paths, tmp_path, lpd_root=root, cleansed_ids=ids)
    result = run_build(build_cfg(params, track_set="lpd17"), data_paths, tmp_path, lpd_root=root)
    report = _report(tmp_path, "phrases.json")
    reasons = {s["path"]: s for s in report["skipped"]}
    bad = reasons[victim.relative_to(root).as_posix()]
    assert bad["reason"] == "unreadable" and "ValueError" in bad["detail"]
    assert result.n_songs + report["songs_skipped"] == 3


def _write_npz(path: Path, length: int, tracks: list[tuple[int, bool, np.ndarray | None]]) -> None:
    """A legacy pypianoroll .npz; a track given as None is stored empty with shape (0, 128)."""
    arrays = {"downbeat": np.eye(1, length, dtype=bool)[0], "tempo": np.full(length, 120.0)}
    info: dict = {"beat_resolution": 24, "name": path.stem}
    for i, (program, is_drum, roll) in enumerate(tracks):
        if roll is None:
            roll = np.zeros((0, 128), dtype=bool)
        cols = [np.flatnonzero(roll[:, p]) for p in range(128)]
        arrays[f"pianoroll_{i}_csc_data"] = np.concatenate(
            [roll[c, p] for p, c in enumerate(cols)]
        ).astype(roll.dtype)
        arrays[f"pianoroll_{i}_csc_indices"] = np.concatenate(cols).astype(np.int32)
        arrays[f"pianoroll_{i}_csc_indptr"] = np.concatenate(
            [[0], np.cumsum([len(c) for c in cols])]
        ).astype(np.int32)
        arrays[f"pianoroll_{i}_csc_shape"] = np.array(roll.shape)
        info[str(i)] = {"program": program, "is_drum": is_drum, "name": f"t{i}"}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("info.json", json.dumps(info))


def test_empty_and_short_songs(params, data_paths, tmp_path):
    root = tmp_path / "lpd"
    silent = root / "A/A/A/TRAAAAA128F0000001" / ("1" * 32 + ".npz")
    zeros = root / "A/A/A/TRAAAAA128F0000002" / ("2" * 32 + ".npz")
    short = root / "A/A/A/TRAAAAA128F0000003" / ("3" * 32 + ".npz")
    _write_npz(silent, 96 * 30, [(0, False, None), (0, True, None)])  # all tracks (0, 128)
    _write_npz(zeros, 96 * 30, [(33, False, np.zeros((96 * 30, 128), np.uint8))])
    roll = np.zeros((96 * 3 + 10, 128), np.uint8)
    roll[5:50, 60] = 100
    _write_npz(short, 96 * 3 + 10, [(0, False, roll)])
    (root / "stray.npz").write_bytes(silent.read_bytes())  # outside the layout
    ids = _ids_file(tmp_path, root)
    result = run_filter(
        filter_cfg(params, tag=None), data_paths, tmp_path, lpd_root=root, cleansed_ids=ids
    )
    report = _report(tmp_path)
    assert report["rules"]["layout"]["removed"] == 1
    assert report["rules"]["min_bars"]["removed"] == 1  # 3 complete bars < 4
    assert result.n_kept == 2
    built = run_build(build_cfg(params), data_paths, tmp_path, lpd_root=root)
    assert built.n_songs == 0 and built.n_phrases == 0
    assert {s["reason"] for s in _report(tmp_path, "phrases.json")["skipped"]} == {
        "too_few_windows"
    }
    allowed = run_build(
        build_cfg(params, allow_silent=True), data_paths, tmp_path, lpd_root=root, name="silent"
    )
    assert allowed.n_phrases == 12
    with h5py.File(tmp_path / "silent.h5", "r") as f:
        assert not f["phrases"][:].any()


def test_pair_not_in_cleansed_ids_is_removed(params, data_paths, tmp_path):
    root = _small_tree(data_paths, tmp_path, 2)
    ids = _ids_file(tmp_path, root)
    path = sorted(root.rglob("*.npz"))[0]
    clone = root / "A/A/A/TRAAAAA128F0000009" / path.name  # same md5 under an unlisted MSD id
    clone.parent.mkdir(parents=True)
    shutil.copy(path, clone)
    run_filter(filter_cfg(params, tag=None), data_paths, tmp_path, lpd_root=root, cleansed_ids=ids)
    assert _report(tmp_path)["rules"]["cleansed_ids"]["removed"] == 1
    assert "TRAAAAA128F0000009" not in (tmp_path / "manifest.csv").read_text()


# ---------------------------------------------------------------------------------------------
# Bad params and the command line
# ---------------------------------------------------------------------------------------------


def _params_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text()
    assert old in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("track_set: bmusegan8", "track_set: foo", "build_tensor.track_set"),
        ("phrases_per_song: 6", "phrases_per_song: -1", "build_tensor.phrases_per_song"),
        ("min_bars: 4", "min_bars: 4\n  colour: blue", "filter.colour: unknown key"),
        ("source: lpd", "source: wav", "filter.source"),
    ],
)
def test_bad_params_fail_naming_file_and_key(tmp_path, old, new, message):
    path = _params_with(tmp_path, old, new)
    with pytest.raises(ConfigError, match=message) as error:
        load_params(path)
    assert str(path) in str(error.value)


def test_cli_exits_with_clear_message(tmp_path, data_paths, capsys):
    bad = _params_with(tmp_path, "phrases_per_song: 6", "phrases_per_song: -1")
    args = [
        "--params",
        str(bad),
        "--manifest",
        str(tmp_path / "m.csv"),
        "--lpd-root",
        str(data_paths.lpd_root),
        "--midi-dir",
        str(data_paths.midi_dir),
        "--tensor",
        str(tmp_path / "t.h5"),
        "--report",
        str(tmp_path / "r.json"),
    ]
    with pytest.raises(SystemExit) as exit_info:
        build_tensor.main(args)
    assert exit_info.value.code == 2
    assert "build_tensor.phrases_per_song" in capsys.readouterr().err
    good = _params_with(tmp_path, "tag: alternative", "tag: nosuchtag")
    args = [
        "--params",
        str(good),
        "--lpd-root",
        str(data_paths.lpd_root),
        "--cleansed-ids",
        str(data_paths.cleansed_ids),
        "--lastfm-dir",
        str(data_paths.lastfm_dir),
        "--midi-dir",
        str(data_paths.midi_dir),
        "--manifest",
        str(tmp_path / "m.csv"),
        "--report",
        str(tmp_path / "r.json"),
    ]
    with pytest.raises(SystemExit):
        filter.main(args)
    assert "id_list_nosuchtag.txt" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()
