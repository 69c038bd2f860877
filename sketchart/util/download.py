"""Verified downloads with a progress line: a URL streamed into a file that appears only
once it is complete and checked.

:func:`download_file` writes through :func:`sketchart.util.atomic.atomic_file`, so an
interrupted, truncated, mismatching or rejected download never leaves a file at the target
(nor touches an older copy). Failures are :class:`FetchError` s that say what went wrong;
callers turn them into their own user-facing messages. Standard library only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sketchart.util.atomic import atomic_file

__all__ = ["CHUNK", "MAX_DOWNLOAD_BYTES", "ByteProgress", "FetchError", "Limits",
           "download_file", "stream_url"]

#: bytes read per network read
CHUNK = 1 << 16
#: the largest body downloaded unless a caller says otherwise
MAX_DOWNLOAD_BYTES = 4 << 30
#: the longest a download may take, start to end, unless a caller says otherwise
DEFAULT_DEADLINE = 4 * 3600.0
#: the slowest average rate (bytes/s) tolerated after the first minute
MIN_RATE = 1024.0


class FetchError(Exception):
    """A download that failed.

    ``kind`` is ``"http"`` (``code``, ``reason``), ``"network"`` (the server could not be
    reached or answered garbage: ``reason``), ``"interrupted"`` (``reason``),
    ``"truncated"`` (``received`` of ``total`` bytes), ``"size"`` (the body is larger than
    allowed: ``reason``), ``"deadline"`` (too slow: ``reason``) or ``"sha256"`` (``got``
    is the digest of what arrived). Every ``reason`` is one line.
    """

    def __init__(self, kind: str, url: str, *, code: int | None = None, reason: object = None,
                 received: int = 0, total: int | None = None, got: str = "") -> None:
        super().__init__(f"{url}: {kind} ({reason or code or got or received})")
        self.kind, self.url, self.code, self.reason = kind, url, code, reason
        self.received, self.total, self.got = received, total, got


class ByteProgress:
    """A one-line byte counter on stderr (redrawn in place on a terminal; one line before
    and one after otherwise)."""

    def __init__(self, label: str, total: int | None, *, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = 0.0
        if enabled and not self.tty:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            print(f"downloading {label}{size}", file=sys.stderr, flush=True)

    def update(self, received: int) -> None:
        now = time.monotonic()
        if not (self.enabled and self.tty) or now - self.last < 0.1:
            return
        self.last = now
        rate = received / max(now - self.start, 1e-6)
        if self.total:
            frac = received / self.total
            filled = int(frac * 30)
            bar = "#" * filled + "-" * (30 - filled)
            eta = (self.total - received) / max(rate, 1e-6)
            text = (f"{self.label} [{bar}] {frac:4.0%} {received / 1e6:.1f}/"
                    f"{self.total / 1e6:.1f} MB {rate / 1e6:.1f} MB/s ETA {eta:.0f}s")
        else:
            text = f"{self.label} {received / 1e6:.1f} MB {rate / 1e6:.1f} MB/s"
        print("\r" + text, end="", file=sys.stderr, flush=True)

    def close(self, received: int) -> None:
        if not self.enabled:
            return
        seconds = time.monotonic() - self.start
        end = "\r" if self.tty else ""
        print(f"{end}downloaded {self.label}: {received / 1e6:.1f} MB in {seconds:.1f}s"
              + " " * 20, file=sys.stderr, flush=True)


def _one_line(reason: object) -> str:
    """A reason as one short line (urllib's redirect-loop message spans three)."""
    text = str(reason).strip().splitlines()
    return (text[0] if text else type(reason).__name__)[:200]


def _open(url: str, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError("http", url, code=exc.code, reason=_one_line(exc.reason)) from None
    # URLError and OSError: no connection; HTTPException: a malformed status line or
    # headers; ValueError: a URL urllib cannot use
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError("network", url, reason=_one_line(reason)) from None


@dataclass
class Limits:
    """How long and how large a download may get.

    ``deadline`` (seconds, the whole download), ``max_bytes`` (the body), ``min_rate``
    (bytes/s averaged from ``grace`` seconds on: a server that trickles a byte at a time
    never trips a read timeout, so only the rate can stop it).
    """

    deadline: float = DEFAULT_DEADLINE
    max_bytes: int = MAX_DOWNLOAD_BYTES
    min_rate: float = MIN_RATE
    grace: float = 60.0

    def check(self, url: str, received: int, elapsed: float) -> None:
        if received > self.max_bytes:
            raise FetchError("size", url, reason=f"larger than {self.max_bytes} bytes",
                             received=received)
        if elapsed > self.deadline:
            raise FetchError("deadline", url, reason=f"not done after {self.deadline:.0f} s",
                             received=received)
        if elapsed > self.grace and received / elapsed < self.min_rate:
            raise FetchError("deadline", url, received=received,
                             reason=f"too slow ({received / elapsed:.0f} bytes/s)")


def stream_url(url: str, out: IO[bytes], *, label: str, timeout: float, progress: bool,
               expect_bytes: int | None = None, limits: Limits | None = None) -> str:
    """Copy ``url`` into ``out``; return the sha256 hex digest of what arrived.

    ``expect_bytes`` sizes the progress bar when the server sends no ``Content-Length``;
    ``timeout`` bounds each network wait and ``limits`` the whole download. Raises
    :class:`FetchError` (a body shorter than its ``Content-Length`` is ``"truncated"``).
    """
    limits = limits or Limits()
    start = time.monotonic()
    response = _open(url, timeout)
    digest = hashlib.sha256()
    with response:
        length = (response.headers.get("Content-Length") or "").strip()
        total = int(length) if length.isdigit() and len(length) < 19 else None
        if total is not None and total > limits.max_bytes:
            raise FetchError("size", url, reason=f"{total} bytes, more than the "
                             f"{limits.max_bytes} allowed", total=total)
        bar = ByteProgress(label, total or expect_bytes, enabled=progress)
        received = 0
        # read1 returns what has arrived, so the limits are checked as data trickles in
        read = getattr(response, "read1", response.read)
        try:
            while chunk := read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(received)
                limits.check(url, received, time.monotonic() - start)
        except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
            # IncompleteRead (a cut chunked body) is an HTTPException, not an OSError
            raise FetchError("interrupted", url, reason=_one_line(exc),
                             received=received, total=total) from None
        finally:
            bar.close(received)
    if total is not None and received != total:
        raise FetchError("truncated", url, received=received, total=total)
    return digest.hexdigest()


def download_file(
    url: str,
    target: str | os.PathLike[str],
    *,
    label: str,
    timeout: float,
    progress: bool = False,
    sha256: str | None = None,
    expect_bytes: int | None = None,
    check: Callable[[Path], None] | None = None,
    limits: Limits | None = None,
) -> Path:
    """Download ``url`` to ``target`` through a hidden ``.part`` file beside it.

    The file is flushed to disk, its sha256 compared with ``sha256`` (when given) and
    ``check(path_of_the_part_file)`` run (it raises to reject the file) before it is
    renamed into place. On any failure nothing is left at ``target``'s folder; ``.part``
    files of killed downloads of ``target`` are removed first.

    Without ``limits``, a pinned download (``sha256`` and ``expect_bytes``) may not exceed
    its size (a larger body cannot match anyway), others :data:`MAX_DOWNLOAD_BYTES`.
    """
    target = Path(target)
    if limits is None:
        pinned = sha256 is not None and expect_bytes is not None
        limits = Limits(max_bytes=expect_bytes if pinned and expect_bytes else
                        MAX_DOWNLOAD_BYTES)

    def verify(part: Path) -> None:
        if check is not None:
            check(part)

    with atomic_file(target, prefix=f".{target.name}.", suffix=".part", check=verify) as fh:
        got = stream_url(url, fh, label=label, timeout=timeout, progress=progress,
                         expect_bytes=expect_bytes, limits=limits)
        fh.flush()
        os.fsync(fh.fileno())
        if sha256 is not None and got != sha256.lower():
            raise FetchError("sha256", url, got=got)
    return target
