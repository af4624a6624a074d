"""Stage fetch, without the internet: a server on 127.0.0.1 serves a few real LPD files in the
official layout (tests/fetch_tools.py) and injects the faults a real download meets. Each case ends
in verified files or one clear error naming the source and the file, with nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from pipeline.config import Fetch
from pipeline.fetch import place
from pipeline.fetch.sources import ManifestError
from pipeline.stages import fetch
from tests.conftest import REPO
from tests.fetch_tools import LPD_PAGE, sample, serve, tarball, untrusted_tls

N_NPZ = 4


@pytest.fixture(scope="module")
def data():
    return sample(N_NPZ)


def cfg(mirrors=(), local_dir=None, retries=2) -> Fetch:
    return Fetch(
        local_dir=local_dir, mirrors=list(mirrors), retries=retries, backoff=0.0, timeout=5.0
    )


def run(tmp_path, data, config, manifest=None):
    sources = manifest or data.write_manifest(tmp_path / "sources.yaml")
    return fetch.run(sources, config, tmp_path / "lpd", tmp_path / "out" / "report.json")


def assert_complete(tmp_path, data):
    """Every file in place with the sample's bytes, and nothing else (no part, no temp file)."""
    root = tmp_path / "lpd"
    expected = {f"lpd_cleansed/{k}": v for k, v in data.npz.items()}
    expected |= {f"labels/{k}": v for k, v in data.labels.items()}
    expected["cleansed_ids.txt"] = data.ids
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert found == set(expected)
    for rel, content in expected.items():
        assert (root / rel).read_bytes() == content, rel


def leftovers(tmp_path) -> list[str]:
    """Files under the destination that are not verified files: parts and temporary files."""
    root = tmp_path / "lpd"
    return sorted(
        p.name for p in root.rglob("*") if p.is_file() and p.name.endswith((".part", ".fetch"))
    )


def test_download_from_a_mirror_then_nothing_on_the_second_run(tmp_path, data):
    with serve(data.downloads()) as server:
        first = run(tmp_path, data, cfg([server.url]))
        n_requests = len(server.requests)
        second = run(tmp_path, data, cfg([server.url]))
        assert len(server.requests) == n_requests == 3  # one per download, none the second time
    assert_complete(tmp_path, data)
    n_files = N_NPZ + len(data.labels) + 1
    assert first["obtained"] == n_files and first["present"] == 0
    assert first["by_source"][f"{server.url}/lpd_cleansed.tar.gz"] == N_NPZ
    assert second["present"] == n_files and second["obtained"] == 0
    assert not (tmp_path / "lpd" / ".downloads").exists()  # archives removed once extracted


def test_second_run_stats_instead_of_hashing(tmp_path, data, monkeypatch):
    with serve(data.downloads()) as server:
        run(tmp_path, data, cfg([server.url]))
    hashed = []
    original = fetch.differs
    monkeypatch.setattr(fetch, "differs", lambda p, s: hashed.append(p) or original(p, s))
    run(tmp_path, data, cfg())
    assert hashed == []
    # a file touched since is hashed again (and still passes)
    one = next((tmp_path / "lpd" / "lpd_cleansed").rglob("*.npz"))
    os.utime(one, ns=(1, 1))
    run(tmp_path, data, cfg())
    assert hashed == [one]


def test_cut_connection_resumes_with_range(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.cut = {"cleansed_ids.txt": 1, "lpd_cleansed.tar.gz": 1}
        report = run(tmp_path, data, cfg([server.url]))
        ranges = [r for name, r in server.requests if name == "cleansed_ids.txt"]
    assert ranges == [None, f"bytes={len(data.ids) // 2}-"]
    assert report["downloaded_bytes"] == sum(len(v) for v in data.downloads().values())
    assert_complete(tmp_path, data)


def test_server_ignoring_range_restarts_from_zero(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.cut = {"cleansed_ids.txt": 1}
        server.faults.ignore_range = True
        run(tmp_path, data, cfg([server.url]))
        assert [r for n, r in server.requests if n == "cleansed_ids.txt"][1] is not None
    assert_complete(tmp_path, data)  # the part was rewritten from zero, not appended to


@pytest.mark.parametrize("fault", ["html", "html_body"])
def test_html_page_is_refused_and_the_next_source_used(tmp_path, data, fault):
    with serve(data.downloads()) as bad, serve(data.downloads()) as good:
        setattr(bad.faults, fault, {"labels.tar.gz"})
        report = run(tmp_path, data, cfg([bad.url, good.url]))
        assert [n for n, _ in bad.requests].count("labels.tar.gz") == 1  # not retried
    assert report["by_source"][f"{good.url}/labels.tar.gz"] == len(data.labels)
    assert_complete(tmp_path, data)


def test_html_page_from_every_source_is_one_error_naming_each(tmp_path, data):
    with serve(data.downloads()) as a, serve(data.downloads()) as b:
        a.faults.html = b.faults.html_body = {"labels.tar.gz"}
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([a.url, b.url]))
    message = str(error.value)
    assert message.startswith("labels: no source gave 1 file(s) (e.g. lastfm/id_list_alternative")
    assert f"{a.url}/labels.tar.gz: served an HTML page (Content-Type text/html)" in message
    assert f"{b.url}/labels.tar.gz: served an HTML page, not the file" in message
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "lpd" / "labels").exists()


def test_flipped_byte_in_a_file_is_deleted_and_named(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.flip = {"cleansed_ids.txt"}
        with pytest.raises(fetch.FetchError, match="cleansed_ids.txt: sha256 differs") as error:
            run(tmp_path, data, cfg([server.url]))
    assert str(error.value).startswith("cleansed_ids: no source gave")
    assert not (tmp_path / "lpd" / "cleansed_ids.txt").exists()
    assert leftovers(tmp_path) == []


def test_flipped_byte_in_an_archive_fails_that_source(tmp_path, data):
    with serve(data.downloads()) as bad, serve(data.downloads()) as good:
        bad.faults.flip = {"lpd_cleansed.tar.gz"}
        with pytest.raises(fetch.FetchError, match=f"{bad.url}/lpd_cleansed.tar.gz: "):
            run(tmp_path, data, cfg([bad.url]))
        assert leftovers(tmp_path) == []
        run(tmp_path, data, cfg([bad.url, good.url]))
    assert_complete(tmp_path, data)


def test_5xx_is_retried_with_backoff(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.status = {"cleansed_ids.txt": [503, 503]}
        run(tmp_path, data, cfg([server.url], retries=2))
        assert [n for n, _ in server.requests].count("cleansed_ids.txt") == 3
    assert_complete(tmp_path, data)


def test_5xx_past_the_retries_is_an_error(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.status = {"cleansed_ids.txt": [503, 503, 503]}
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url], retries=1))
    assert "cleansed_ids.txt: HTTP 503 Service Unavailable (gave up after 2 attempts)" in str(
        error.value
    )
    assert leftovers(tmp_path) == []


def test_member_outside_the_folder_is_refused(tmp_path, data):
    downloads = data.downloads()
    rel, content = next(iter(data.npz.items()))
    members = {f"lpd_cleansed/{k}": v for k, v in data.npz.items() if k != rel}
    members[f"../../escaped/{rel}"] = content
    downloads["lpd_cleansed.tar.gz"] = tarball(members)
    with serve(downloads) as server:
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url]))
    message = str(error.value)
    assert f"{server.url}/lpd_cleansed.tar.gz: member ../../escaped/{rel}: refused" in message
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert leftovers(tmp_path) == []


def test_member_that_differs_from_the_manifest_is_named(tmp_path, data):
    downloads = data.downloads()
    rel = sorted(data.npz)[1]
    changed = {**data.npz, rel: data.npz[rel] + b"\0"}
    downloads["lpd_cleansed.tar.gz"] = tarball({f"lpd_cleansed/{k}": v for k, v in changed.items()})
    with serve(downloads) as server:
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url]))
    assert f"member lpd_cleansed/{rel}: size" in str(error.value)
    assert not (tmp_path / "lpd" / "lpd_cleansed" / rel).exists()
    assert leftovers(tmp_path) == []


def test_local_folder_in_this_machines_layout_needs_no_server(tmp_path, data, shared_data):
    report = run(tmp_path, data, cfg(local_dir=str(shared_data)))
    assert report["obtained"] == N_NPZ + len(data.labels) + 1
    assert set(report["by_source"]) <= {"local (linked)", "local (copied)"}
    assert_complete(tmp_path, data)


def test_local_folder_in_the_download_layout(tmp_path, data):
    local = tmp_path / "downloads"
    local.mkdir()
    for name, content in data.downloads().items():
        (local / name).write_bytes(content)
    report = run(tmp_path, data, cfg(local_dir=str(local)))
    assert report["by_source"] == {
        "local (linked)": 1,  # cleansed_ids.txt, found as a file of the folder
        "local labels.tar.gz": len(data.labels),
        "local lpd_cleansed.tar.gz": N_NPZ,
    }
    assert_complete(tmp_path, data)


def test_file_in_place_that_differs_is_an_error_not_overwritten(tmp_path, data, shared_data):
    run(tmp_path, data, cfg(local_dir=str(shared_data)))
    target = tmp_path / "lpd" / "labels" / "lastfm" / "id_list_alternative.txt"
    target.unlink()  # a link to the shared file: replace it by a changed copy
    target.write_bytes(data.labels["lastfm/id_list_alternative.txt"] + b"x")
    with pytest.raises(fetch.FetchError, match=f"{target}: size .*delete it to fetch it again"):
        run(tmp_path, data, cfg(local_dir=str(shared_data)))
    target.unlink()
    run(tmp_path, data, cfg(local_dir=str(shared_data)))
    assert_complete(tmp_path, data)


def test_no_source_at_all_says_so(tmp_path, data):
    with pytest.raises(fetch.FetchError, match="no mirror given .* and no official URL known"):
        run(tmp_path, data, cfg(local_dir=str(tmp_path / "nowhere")))


def test_bad_manifest_names_file_and_key(tmp_path, data):
    manifest = data.manifest()
    manifest["entries"]["labels"]["files"]["../up.txt"] = [1, "0" * 64]
    path = tmp_path / "sources.yaml"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"sources.yaml: entries.labels.files.../up.txt: must"):
        run(tmp_path, data, cfg(), manifest=path)


def test_main_exits_2_with_one_line(tmp_path, data):
    sources = data.write_manifest(tmp_path / "sources.yaml")
    params = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text()
    params.write_text(text.replace("local_dir: ../shared/data", "local_dir: null"))
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.fetch", "--params", str(params)]
        + ["--sources", str(sources), "--dest", str(tmp_path / "lpd")]
        + ["--report", str(tmp_path / "report.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "cleansed_ids: no source gave 1 file(s)" in proc.stderr
    shutil.rmtree(tmp_path / "lpd", ignore_errors=True)


def test_a_damaged_local_copy_is_named_file_by_file_and_the_mirror_used(tmp_path, data):
    local = tmp_path / "local"
    for rel, content in data.npz.items():
        (local / "lpd_cleansed" / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / "lpd_cleansed" / rel).write_bytes(content[:-1])  # each one byte short
    (local / "cleansed_ids.txt").write_bytes(data.ids)
    for rel, content in data.labels.items():
        (local / "labels" / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / "labels" / rel).write_bytes(content)
    with pytest.raises(fetch.FetchError) as error:
        run(tmp_path, data, cfg(local_dir=str(local)))
    message = str(error.value)
    assert message.startswith(f"lpd_cleansed: no source gave {N_NPZ} file(s)")
    for rel in data.npz:
        assert f"{local}/lpd_cleansed/{rel}: size" in message
    assert not (tmp_path / "lpd" / "lpd_cleansed").exists() or leftovers(tmp_path) == []
    with serve(data.downloads()) as server:
        report = run(tmp_path, data, cfg([server.url], local_dir=str(local)))
    assert report["by_source"][f"{server.url}/lpd_cleansed.tar.gz"] == N_NPZ
    assert_complete(tmp_path, data)


def test_the_repositorys_manifest_describes_the_shared_data(tmp_path, shared_data):
    """data/sources.yaml lists every alternative-tagged LPD-cleansed file, the 69 Last.fm lists
    and cleansed_ids.txt, with the sizes and hashes of the copy in ../shared/data."""
    report = fetch.run(
        REPO / "data" / "sources.yaml",
        cfg(local_dir=str(shared_data)),
        tmp_path / "lpd",
        tmp_path / "out" / "report.json",
    )
    tree = shared_data / "lpd_alternative" / "lpd_cleansed"
    assert report["files"] == report["obtained"] == len(list(tree.rglob("*.npz"))) + 69 + 1
    assert set(report["by_source"]) <= {"local (linked)", "local (copied)"}


# --- Fetch never deletes, never escapes, and says what to do ------------


def user_files(root) -> dict:
    """Files a user keeps under the destination: the browser download of the LPD tarball, an
    extracted song the manifest does not list, and a note."""
    files = {
        root / "lpd_cleansed.tar.gz": b"the browser download",
        root / "lpd_cleansed" / "Z" / "Z" / "Z" / "TRZZZZZ128F0000000" / ("0" * 32 + ".npz"): b"x",
        root / "notes.txt": b"mine",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def test_a_rerun_keeps_a_users_files_under_the_destination(tmp_path, data):
    with serve(data.downloads()) as server:
        run(tmp_path, data, cfg([server.url]))
        mine = user_files(tmp_path / "lpd")
        run(tmp_path, data, cfg([server.url]))
        report = run(tmp_path, data, cfg([server.url]))  # and once more
    for path, content in mine.items():
        assert path.read_bytes() == content, path
    assert report["removed"] == 0 and report["unlisted"] == len(mine)


def test_only_what_fetch_wrote_goes_when_the_manifest_drops_it(tmp_path, data):
    """A smaller manifest: the file fetch wrote goes (and its empty folders), the file a user
    replaced since stays, and a file the user put in place before fetch ran stays."""
    first, replaced, users = sorted(data.npz)[:3]
    root = tmp_path / "lpd" / "lpd_cleansed"
    (root / users).parent.mkdir(parents=True)
    (root / users).write_bytes(data.npz[users])  # in place before fetch: found, not fetched
    with serve(data.downloads()) as server:
        run(tmp_path, data, cfg([server.url]))
        (root / replaced).unlink()
        (root / replaced).write_bytes(data.npz[replaced])  # the user's copy now
        mine = user_files(tmp_path / "lpd")
        smaller = data.manifest()
        for rel in (first, replaced, users):
            del smaller["entries"]["lpd_cleansed"]["files"][rel]
        sources = tmp_path / "smaller.yaml"
        sources.write_text(json.dumps(smaller))
        report = run(tmp_path, data, cfg([server.url]), manifest=sources)
    assert report["removed"] == 1 and report["unlisted"] == len(mine) + 2
    assert not (root / first).exists() and not (root / first).parent.exists()
    assert (root / replaced).read_bytes() == data.npz[replaced]
    assert (root / users).read_bytes() == data.npz[users]
    assert all(path.read_bytes() == content for path, content in mine.items())


def test_a_download_saved_in_the_destination_is_read_and_kept(tmp_path, data):
    downloads = data.downloads()
    saved = tmp_path / "lpd" / "lpd_cleansed.tar.gz"
    saved.parent.mkdir()
    saved.write_bytes(downloads.pop("lpd_cleansed.tar.gz"))
    with serve(downloads) as server:  # the mirror has no LPD-cleansed tarball
        report = run(tmp_path, data, cfg([server.url]))
    assert report["by_source"][str(saved)] == N_NPZ
    assert saved.read_bytes() == data.downloads()["lpd_cleansed.tar.gz"]


def test_a_local_dir_inside_the_destination_is_read_and_kept(tmp_path, data):
    local = tmp_path / "lpd" / "mine"
    local.mkdir(parents=True)
    for name, content in data.downloads().items():
        (local / name).write_bytes(content)
    run(tmp_path, data, cfg(local_dir=str(local)))
    report = run(tmp_path, data, cfg(local_dir=str(local)))
    assert report["present"] == N_NPZ + len(data.labels) + 1 and report["removed"] == 0
    for name, content in data.downloads().items():
        assert (local / name).read_bytes() == content


def test_a_local_dir_inside_fetchs_download_folder_is_refused(tmp_path, data):
    local = tmp_path / "lpd" / ".downloads"
    local.mkdir(parents=True)
    (local / "lpd_cleansed.tar.gz").write_bytes(data.downloads()["lpd_cleansed.tar.gz"])
    with pytest.raises(fetch.FetchError, match="inside .*fetch's own download folder"):
        run(tmp_path, data, cfg(local_dir=str(local)))
    assert (local / "lpd_cleansed.tar.gz").exists()


def test_an_absolute_member_touches_nothing_outside_the_destination(tmp_path, data):
    """A member named by an absolute path to a real file elsewhere, with the right content: it
    is refused, and that file is neither checked into place, nor chmodded, nor moved."""
    rel, content = next(iter(data.npz.items()))
    outside = tmp_path / "elsewhere" / "lpd_cleansed" / rel
    outside.parent.mkdir(parents=True)
    outside.write_bytes(content)
    outside.chmod(0o600)
    members = {f"lpd_cleansed/{k}": v for k, v in data.npz.items() if k != rel}
    members[str(outside)] = content
    downloads = {**data.downloads(), "lpd_cleansed.tar.gz": tarball(members)}
    with serve(downloads) as server:
        try:
            run(tmp_path, data, cfg([server.url]))
            message = "no error"
        except fetch.FetchError as error:
            message = str(error)
    assert outside.read_bytes() == content and outside.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "lpd" / "lpd_cleansed" / rel).exists()
    assert f"member {outside}: refused (an absolute name" in message
    assert leftovers(tmp_path) == []


def test_a_members_size_is_compared_before_it_is_read(tmp_path, data, monkeypatch):
    rel = sorted(data.npz)[1]
    changed = {**data.npz, rel: data.npz[rel] + b"\0"}
    downloads = data.downloads()
    downloads["lpd_cleansed.tar.gz"] = tarball({f"lpd_cleansed/{k}": v for k, v in changed.items()})
    made = []  # the temporary files and folders made to extract into, by name prefix

    def spy(original):
        return lambda *args, **kwargs: made.append(kwargs["prefix"]) or original(*args, **kwargs)

    monkeypatch.setattr(place.tempfile, "mkstemp", spy(tempfile.mkstemp))
    monkeypatch.setattr(place.tempfile, "mkdtemp", spy(tempfile.mkdtemp))
    with serve(downloads) as server:
        with pytest.raises(fetch.FetchError, match=f"member lpd_cleansed/{rel}: size"):
            run(tmp_path, data, cfg([server.url]))
    name = rel.rsplit("/", 1)[1]
    assert f".{name}." not in made  # refused from its header: nothing was written for it
    assert made  # (the files before it were extracted)


@pytest.mark.parametrize(
    "fault, says",
    [("extra", "announces 1,179,375 bytes"), ("endless", "sent more than the manifest's")],
)
def test_a_download_stops_at_the_manifests_size(tmp_path, data, fault, says):
    assert len(data.ids) == 1_178_375  # the announced size above is the file plus 1,000 bytes
    with serve(data.downloads()) as server:
        setattr(server.faults, fault, {"cleansed_ids.txt"})
        with pytest.raises(fetch.FetchError, match=f"cleansed_ids.txt: {says}"):
            run(tmp_path, data, cfg([server.url]))
    assert leftovers(tmp_path) == []


def test_a_206_reply_with_another_range_fails_that_source(tmp_path, data):
    with serve(data.downloads()) as server:
        server.faults.cut = {"cleansed_ids.txt": 1}
        server.faults.wrong_range = {"cleansed_ids.txt"}
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url]))
    half = len(data.ids) // 2
    assert f"answered bytes 0- to a request for bytes {half}-" in str(error.value)
    assert not (tmp_path / "lpd" / "cleansed_ids.txt").exists()


def test_a_certificate_error_is_not_retried(tmp_path, data):
    tls = untrusted_tls(tmp_path)
    if tls is None:
        pytest.skip("no openssl command to make a certificate")
    with serve(data.downloads(), tls=tls) as server:
        with pytest.raises(fetch.FetchError, match="certificate not trusted") as error:
            run(tmp_path, data, cfg([server.url], retries=3))
        assert server.connections == 1
    assert str(error.value).startswith("cleansed_ids: no source gave 1 file(s)")


def test_a_local_copy_that_cannot_be_written_fails_that_source(tmp_path, data, monkeypatch):
    """A full disk while copying from the local folder: that source fails with the system's
    message, the mirror after it is tried, and no traceback."""

    def no_link(src, dst, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def full(src, dst, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(shutil, "copyfile", full)
    local = tmp_path / "local"
    local.mkdir()
    (local / "cleansed_ids.txt").write_bytes(data.ids)
    with pytest.raises(fetch.FetchError) as error:
        run(tmp_path, data, cfg(local_dir=str(local)))
    assert f"{local}/cleansed_ids.txt: cannot copy (No space left on device)" in str(error.value)
    with serve(data.downloads()) as server:
        report = run(tmp_path, data, cfg([server.url], local_dir=str(local)))
    assert report["by_source"][f"{server.url}/cleansed_ids.txt"] == 1
    assert_complete(tmp_path, data)


def test_an_extraction_that_cannot_be_written_fails_that_source(tmp_path, data, monkeypatch):
    def full(src, dst, length=0):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(place.shutil, "copyfileobj", full)
    with serve(data.downloads()) as server:
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url]))
    message = str(error.value)
    assert f"{server.url}/labels.tar.gz: cannot extract: No space left on device" in message
    assert leftovers(tmp_path) == []


def test_the_error_names_the_settings_the_page_and_the_lakh_midi_route(tmp_path, data):
    downloads = data.downloads()
    del downloads["lpd_cleansed.tar.gz"]
    with serve(downloads) as server:
        with pytest.raises(fetch.FetchError) as error:
            run(tmp_path, data, cfg([server.url], local_dir=str(tmp_path / "nowhere")))
    message = str(error.value)
    assert message.startswith(f"lpd_cleansed: no source gave {N_NPZ} file(s)")
    assert "\n" not in message
    for part in (
        f"{server.url}/lpd_cleansed.tar.gz: HTTP 404",
        f"local folder {tmp_path / 'nowhere'}: not a folder",
        f"save lpd_cleansed.tar.gz (offered on {LPD_PAGE})",
        "set fetch.local_dir to it",
        "<mirror>/lpd_cleansed.tar.gz in fetch.mirrors",
        "the Lakh MIDI route: none for this entry",
    ):
        assert part in message
