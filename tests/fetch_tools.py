"""A local HTTP server for the fetch tests, with faults to inject, and a small sample of the real
data in the official download layout (tarballs built from ../shared/data).

Nothing here reaches the network: the server listens on 127.0.0.1, on a free port.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import DATA

LPD_TREE = DATA / "lpd_alternative" / "lpd_cleansed"


@dataclass
class Faults:
    """What the server does wrong; each count is used up one request at a time."""

    cut: dict[str, int] = field(default_factory=dict)  # close after half the body, N times
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    html: set[str] = field(default_factory=set)  # a text/html login page instead of the file
    html_body: set[str] = field(default_factory=set)  # an HTML page as application/octet-stream
    flip: set[str] = field(default_factory=set)  # one byte of the file changed
    status: dict[str, list[int]] = field(default_factory=dict)  # e.g. [503, 503] before the file


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.faults = Faults()
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (the http.server name)
        name = self.path.lstrip("/")
        faults, rng = self.server.faults, self.headers.get("Range")
        self.server.requests.append((name, rng))
        statuses = faults.status.get(name)
        if statuses:
            self.send_error(statuses.pop(0))
            return
        if name not in self.server.files:
            self.send_error(404)
            return
        if name in faults.html or name in faults.html_body:
            page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
            html = name in faults.html
            ctype = "text/html; charset=utf-8" if html else "application/octet-stream"
            self._send(200, page, ctype)
            return
        data = self.server.files[name]
        if name in faults.flip:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        start = int(rng.split("=")[1].split("-")[0]) if rng and not faults.ignore_range else 0
        if faults.cut.get(name, 0) > 0:
            faults.cut[name] -= 1
            self._send(206 if start else 200, data[start:], cut=True)
            return
        self._send(206 if start else 200, data[start:])

    def _send(self, code, body, ctype="application/octet-stream", cut=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.close_connection = True


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[Server]:
    server = Server(files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def tarball(members: dict[str, bytes]) -> bytes:
    """A gzipped tarball of ``members`` (name -> bytes), deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _spec(data: bytes) -> list:
    return [len(data), hashlib.sha256(data).hexdigest()]


@dataclass
class Sample:
    """A few real files: the manifest's content and the downloads that hold them."""

    npz: dict[str, bytes]  # path under lpd_cleansed/ -> bytes
    labels: dict[str, bytes]  # path under labels/ -> bytes
    ids: bytes  # cleansed_ids.txt

    def downloads(self) -> dict[str, bytes]:
        """The official layout: each download by its file name."""
        return {
            "lpd_cleansed.tar.gz": tarball({f"lpd_cleansed/{k}": v for k, v in self.npz.items()}),
            "labels.tar.gz": tarball({f"labels/{k}": v for k, v in self.labels.items()}),
            "cleansed_ids.txt": self.ids,
        }

    def manifest(self, urls: dict[str, list[str]] | None = None) -> dict:
        urls = urls or {}
        return {
            "entries": {
                "cleansed_ids": {
                    "download": "cleansed_ids.txt",
                    "kind": "file",
                    "size": len(self.ids),
                    "sha256": hashlib.sha256(self.ids).hexdigest(),
                    "urls": urls.get("cleansed_ids", []),
                    "dest": ".",
                    "local": ["lpd", "."],
                    "files": {"cleansed_ids.txt": _spec(self.ids)},
                },
                "labels": {
                    "download": "labels.tar.gz",
                    "kind": "tar.gz",
                    "size": None,
                    "sha256": None,
                    "urls": urls.get("labels", []),
                    "dest": "labels",
                    "local": ["labels"],
                    "files": {k: _spec(v) for k, v in self.labels.items()},
                },
                "lpd_cleansed": {
                    "download": "lpd_cleansed.tar.gz",
                    "kind": "tar.gz",
                    "size": None,
                    "sha256": None,
                    "urls": urls.get("lpd_cleansed", []),
                    "dest": "lpd_cleansed",
                    "local": ["lpd_alternative/lpd_cleansed", "lpd_cleansed"],
                    "files": {k: _spec(v) for k, v in self.npz.items()},
                },
            }
        }

    def write_manifest(self, path: Path, **kwargs) -> Path:
        path.write_text(yaml.safe_dump(self.manifest(**kwargs), sort_keys=False))
        return path


def sample(n_npz: int, tags: tuple[str, ...] = ("alternative",)) -> Sample:
    """The first ``n_npz`` alternative-tagged LPD-cleansed files, the tag lists ``tags`` and
    cleansed_ids.txt, read from ../shared/data."""
    paths = sorted(LPD_TREE.rglob("*.npz"))[:n_npz]
    npz = {p.relative_to(LPD_TREE).as_posix(): p.read_bytes() for p in paths}
    labels = {
        f"lastfm/id_list_{t}.txt": (DATA / "labels" / "lastfm" / f"id_list_{t}.txt").read_bytes()
        for t in tags
    }
    return Sample(npz, labels, (DATA / "lpd" / "cleansed_ids.txt").read_bytes())
