"""Verified downloads with a progress line: a URL streamed into a file that appears only
once it is complete and checked.

:func:`download_file` writes through :func:`sketchart.util.atomic.atomic_file`, so an
interrupted, truncated, mismatching or rejected download never leaves a file at the target
(nor touches an older copy). Failures are :class:`FetchError` s that say what went wrong;
callers turn them into their own user-facing messages. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sketchart.util.atomic import atomic_file

__all__ = ["CHUNK", "ByteProgress", "FetchError", "download_file", "stream_url"]

#: bytes read per network read
CHUNK = 1 << 16


class FetchError(Exception):
    """A download that failed.

    ``kind`` is ``"http"`` (``code``, ``reason``), ``"network"`` (the server could not be
    reached: ``reason``), ``"interrupted"`` (``reason``), ``"truncated"`` (``received`` of
    ``total`` bytes) or ``"sha256"`` (``got`` is the digest of what arrived).
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


def stream_url(url: str, out: IO[bytes], *, label: str, timeout: float, progress: bool,
               expect_bytes: int | None = None) -> str:
    """Copy ``url`` into ``out``; return the sha256 hex digest of what arrived.

    ``expect_bytes`` sizes the progress bar when the server sends no ``Content-Length``.
    Raises :class:`FetchError` (a body shorter than its ``Content-Length`` is
    ``"truncated"``).
    """
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError("http", url, code=exc.code, reason=exc.reason) from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError("network", url, reason=getattr(exc, "reason", None) or exc) from None
    digest = hashlib.sha256()
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = ByteProgress(label, total or expect_bytes, enabled=progress)
        received = 0
        try:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(received)
        except (OSError, urllib.error.URLError) as exc:
            raise FetchError("interrupted", url, reason=exc) from None
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
) -> Path:
    """Download ``url`` to ``target`` through a hidden ``.part`` file beside it.

    The file is flushed to disk, its sha256 compared with ``sha256`` (when given) and
    ``check(path_of_the_part_file)`` run (it raises to reject the file) before it is
    renamed into place. On any failure nothing is left at ``target``'s folder.
    """
    target = Path(target)

    def verify(part: Path) -> None:
        if check is not None:
            check(part)

    with atomic_file(target, prefix=f".{target.name}.", suffix=".part", check=verify) as fh:
        got = stream_url(url, fh, label=label, timeout=timeout, progress=progress,
                         expect_bytes=expect_bytes)
        fh.flush()
        os.fsync(fh.fileno())
        if sha256 is not None and got != sha256.lower():
            raise FetchError("sha256", url, got=got)
    return target
