"""One file over HTTP(S), the way a large public dataset has to be fetched.

- Resume: bytes go to ``<dest>.part`` beside the destination; a later attempt (or a later run)
  asks for the rest with an HTTP ``Range`` header. A server that ignores it and answers 200 sends
  the whole file again, which then restarts the part from zero.
- Refuse HTML: a ``text/html`` reply, or a body that starts like an HTML page (a login or
  "quota exceeded" page served in place of the file), fails the source at once.
- Retry with exponential backoff (``backoff * 2**n`` seconds, at most ``retries`` times) on 5xx,
  429, a cut connection and a timeout; any other HTTP error, and a certificate the machine does
  not trust, fails the source at once.
- Stop at the manifest's size: a reply that announces more bytes, or sends more, fails the
  source; the bytes past the size are never written. A 206 reply must carry a ``Content-Range``
  that starts where the part ends (and, when the manifest knows the size, ends there too).
- A part that cannot be written (a full disk, no permission) fails the source, not the run.
- Verify the size and sha256 (when known) before the atomic rename onto the destination; a part
  with the wrong content is deleted, so that the next source starts clean.

Standard library only (``urllib.request``); a progress bar on stderr (tqdm) when it is a terminal.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.io import file_digest

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = "bmusegan-pipeline-fetch/1"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class SourceFailed(Exception):
    """This source cannot give the file; the message says why (the caller tries the next one)."""


class _Retry(Exception):
    """A failure worth another attempt at the same URL (5xx, cut connection, timeout)."""


@dataclass(frozen=True)
class HttpOptions:
    retries: int  # further attempts per URL after the first
    backoff: float  # seconds before the first retry; doubled after each
    timeout: float  # seconds of silence before a connection counts as failed


def looks_like_html(head: bytes) -> bool:
    """Whether the first bytes of a body are an HTML page rather than the file asked for."""
    return head.lstrip()[:16].lower().startswith(_HTML_STARTS)


def download(url: str, dest: Path, size: int | None, sha256: str | None, opts: HttpOptions) -> int:
    """Fetch ``url`` into ``dest`` (atomically, verified); return the bytes received.

    Raises SourceFailed with the reason when the URL cannot give the file.
    """
    part = dest.with_name(dest.name + ".part")
    received = [0]  # bytes over the network, cut attempts included
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(opts.retries + 1):
            try:
                _transfer(url, part, size, opts.timeout, received)
                break
            except _Retry as why:
                if attempt == opts.retries:
                    raise SourceFailed(f"{why} (gave up after {attempt + 1} attempts)") from None
                delay = opts.backoff * 2**attempt
                log.warning("%s: %s; attempt %d in %.1f s", url, why, attempt + 2, delay)
                time.sleep(delay)
        _verify_part(part, size, sha256)
        os.replace(part, dest)
    except OSError as error:  # the local side: a full disk, no permission (never the network)
        where = error.filename or part
        raise SourceFailed(f"cannot write {where} ({error.strerror or error})") from None
    return received[0]


def _verify_part(part: Path, size: int | None, sha256: str | None) -> None:
    """Check a complete part; delete it and fail the source when it is not the file."""
    have = part.stat().st_size
    if size is not None and have != size:
        part.unlink()
        raise SourceFailed(f"got {have:,} bytes, the manifest says {size:,}")
    if sha256 is not None and file_digest(part) != sha256:
        part.unlink()
        raise SourceFailed("sha256 differs from the manifest")


def _open(url: str, have: int, timeout: float) -> http.client.HTTPResponse:
    """Send the request (with a Range header when resuming); classify the failures."""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code >= 500 or error.code == 429:
            raise _Retry(f"HTTP {error.code} {error.reason}") from None
        raise SourceFailed(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(cause, ssl.SSLCertVerificationError):  # no retry makes it trusted
            raise SourceFailed(f"certificate not trusted ({cause.verify_message})") from None
        raise _Retry(f"cannot connect ({cause})") from None


def _check_range(response: http.client.HTTPResponse, have: int, size: int | None) -> None:
    """A 206 reply must send the bytes asked for: ``Content-Range: bytes have-(size-1)/size``."""
    header = response.headers.get("Content-Range", "")
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise SourceFailed(f"answered 206 with Content-Range {header!r}, not bytes {have}-")
    first, last, total = int(match[1]), int(match[2]), match[3]
    if first != have:
        raise SourceFailed(f"answered bytes {first}- to a request for bytes {have}-")
    if size is not None and (last + 1 != size or total not in ("*", str(size))):
        raise SourceFailed(
            f"answered Content-Range {header.strip()}; the manifest says {size:,} bytes"
        )


def _transfer(url: str, part: Path, size: int | None, timeout: float, received: list[int]) -> None:
    """One attempt: append the rest of the file to ``part``; count the bytes in ``received``."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        if have == size:
            return  # complete already (a run killed between the last byte and the rename)
        part.unlink()  # longer than the file: not a part of it
        have = 0
    try:
        response = _open(url, have, timeout)
    except SourceFailed as why:
        if have and "416" in str(why):  # the server cannot resume from here: start over
            part.unlink()
            raise _Retry("range not satisfiable; starting over") from None
        raise
    with response:
        if response.headers.get_content_type() == "text/html":
            part.unlink(missing_ok=True)
            raise SourceFailed("served an HTML page (Content-Type text/html), not the file")
        if have and response.status != 206:
            log.info("%s: the server ignored the Range request; starting over", url)
            have = 0
        elif response.status == 206:
            _check_range(response, have, size)
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else size
        if size is not None and total is not None and total > size:
            raise SourceFailed(f"announces {total:,} bytes; the manifest says {size:,}")
        _copy_body(response, part, have, total, size, url, received)


def _copy_body(
    response: http.client.HTTPResponse,
    part: Path,
    have: int,
    total: int | None,
    size: int | None,
    url: str,
    counter: list[int],
) -> None:
    """Write the body to ``part`` (appending at ``have``), never past ``size`` (the manifest's,
    when known); a cut connection is retried, a write error (OSError) goes to the caller."""
    received = 0
    name = url.rsplit("/", 1)[-1]
    bar = tqdm(
        total=total, initial=have, unit="B", unit_scale=True, desc=name, file=sys.stderr,
        disable=not sys.stderr.isatty(), leave=False,
    )  # fmt: skip
    with open(part, "ab" if have else "wb") as out, bar:
        while chunk := _read(response, have + received):
            if not have and not received and looks_like_html(chunk):
                out.close()
                part.unlink()
                raise SourceFailed("served an HTML page, not the file")
            if size is not None and have + received + len(chunk) > size:
                out.close()
                part.unlink()
                raise SourceFailed(f"sent more than the manifest's {size:,} bytes")
            out.write(chunk)
            received += len(chunk)
            counter[0] += len(chunk)
            bar.update(len(chunk))
    if total is not None and have + received < total:
        raise _Retry(f"connection cut after {have + received:,} of {total:,} bytes")


def _read(response: http.client.HTTPResponse, done: int) -> bytes:
    """The next chunk of the body (b"" at its end); a cut connection or a timeout is retried."""
    try:
        return response.read(CHUNK)
    except (http.client.IncompleteRead, OSError) as error:
        raise _Retry(f"connection cut after {done:,} bytes ({error!r})") from None
