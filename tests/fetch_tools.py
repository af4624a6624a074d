"""A local HTTP server for the fetch tests, with faults to inject, and a small sample of the real
data in the official download layout (tarballs built from ../shared/data).

Nothing here reaches the network: the server listens on 127.0.0.1, on a free port.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import shutil
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import DATA

LPD_TREE = DATA / "lpd_alternative" / "lpd_cleansed"
LPD_PAGE = "https://salu133445.github.io/lakh-pianoroll-dataset/dataset"


@dataclass
class Faults:
    """What the server does wrong; each count is used up one request at a time."""

    cut: dict[str, int] = field(default_factory=dict)  # close after half the body, N times
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    html: set[str] = field(default_factory=set)  # a text/html login page instead of the file
    html_body: set[str] = field(default_factory=set)  # an HTML page as application/octet-stream
    flip: set[str] = field(default_factory=set)  # one byte of the file changed
    status: dict[str, list[int]] = field(default_factory=dict)  # e.g. [503, 503] before the file
    wrong_range: set[str] = field(default_factory=set)  # 206 with the whole file, from byte 0
    extra: set[str] = field(default_factory=set)  # the file, then junk, announced as its length
    endless: set[str] = field(default_factory=set)  # the file, then 8 MiB of junk, no length


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.faults = Faults()
        self.tls = tls  # HTTPS with this context (a certificate no client trusts)
        self.connections = 0  # accepted, handshakes included
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)

    def get_request(self):
        sock, address = super().get_request()
        self.connections += 1
        if self.tls is not None:  # a failed handshake raises here; the server drops it quietly
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


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
        if name in faults.extra:
            data = data + b"\0" * 1000
        if name in faults.endless:
            self._send(200, data + b"\0" * (8 << 20), length=False)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng and not faults.ignore_range else 0
        if rng and name in faults.wrong_range:
            self._send(206, data, span=(0, len(data)))
            return
        span = (start, len(data)) if start else None
        if faults.cut.get(name, 0) > 0:
            faults.cut[name] -= 1
            self._send(206 if start else 200, data[start:], cut=True, span=span)
            return
        self._send(206 if start else 200, data[start:], span=span)

    def _send(
        self, code, body, ctype="application/octet-stream", cut=False, span=None, length=True
    ):
        """Reply ``body``; ``span`` (first byte, total) makes it a range with Content-Range."""
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        if span is not None:
            first, total = span
            self.send_header("Content-Range", f"bytes {first}-{total - 1}/{total}")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut or not length:
            self.wfile.flush()
            self.close_connection = True


def untrusted_tls(folder: Path) -> ssl.SSLContext | None:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (made with the
    ``openssl`` command in ``folder``), which no client trusts; None without ``openssl``."""
    if shutil.which("openssl") is None:
        return None
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def serve(files: dict[str, bytes], tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(files, tls)
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
                    "page": LPD_PAGE,
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
