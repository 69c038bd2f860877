"""Open a page in headless Chromium and report broken images and console messages.

A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (the browser reads
NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4), standard
library only: no selenium, no websocket package. It enables the ``Runtime``, ``Log`` and
``Page`` domains before navigating, so everything the DevTools console would show is seen:
``console.*`` calls, uncaught exceptions, and the browser's own entries (failed loads,
blocked requests). After the load event it reads every ``<img>``'s ``naturalWidth``.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError

__all__ = ["CHROMIUM_NAMES", "PageCheck", "check_page", "find_chromium"]

#: Binary names tried by :func:`find_chromium` (after ``$SKETCHART_CHROMIUM``).
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome-headless-shell",
)

_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(function (i) {
  return {src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth};
}))"""


@dataclass
class PageCheck:
    """What the browser saw.

    Attributes:
        images: per ``<img>``: ``src``, ``complete``, ``naturalWidth``.
        console: console messages, exceptions and browser log entries, one line each.
    """

    images: list[dict[str, Any]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[str]:
        """``src`` of the images that did not load."""
        return [i["src"] for i in self.images if not i["complete"] or not i["naturalWidth"]]

    @property
    def ok(self) -> bool:
        """Every image loaded and nothing was logged."""
        return not self.broken and not self.console


def find_chromium() -> str | None:
    """``$SKETCHART_CHROMIUM``, else the first Chromium binary on ``PATH``, else None."""
    env = os.environ.get("SKETCHART_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _Pipe:
    """The DevTools pipe: send commands, collect events, wait for replies."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise SketchartError("headless Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise SketchartError("headless Chromium closed its DevTools pipe")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise SketchartError(f"Chromium {method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def drain(self, seconds: float) -> None:
        """Collect whatever arrives in the next ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                break
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                break
            self.buffer += chunk
            while b"\0" in self.buffer:
                raw, _, self.buffer = self.buffer.partition(b"\0")
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            event = self._read_message()
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return event


def _console_lines(events: list[dict[str, Any]]) -> list[str]:
    lines = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled":
            args = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            lines.append(f"console.{params.get('type')}: {args}")
        elif event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            lines.append(f"exception: {text}")
        elif event["method"] == "Log.entryAdded":
            entry = params.get("entry", {})
            where = f" ({entry['url']})" if entry.get("url") else ""
            lines.append(
                f"{entry.get('source')} {entry.get('level')}: {entry.get('text')}{where}"
            )
    return lines


def check_page(
    path: str | os.PathLike[str], chromium: str, timeout: float = 60.0, settle: float = 0.5
) -> PageCheck:
    """Load ``path`` in headless Chromium; report its images and console messages.

    Args:
        path: an HTML file.
        chromium: the browser binary.
        timeout: seconds for the whole check.
        settle: seconds to keep listening after the load event (late messages).

    Raises:
        SketchartError: no such page, or the browser failed to start or answer.
    """
    page = Path(path).resolve()
    if not page.is_file():
        raise SketchartError(f"{path}: no such page")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    # The browser wants the pipe on fds 3 and 4. A small Python trampoline moves them there
    # and execs it (no preexec_fn: unsafe in a threaded process; not a shell: POSIX shells
    # take one-digit fds only). Copies at 10 and up cannot collide with 3 and 4.
    child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
    child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
    for fd in (to_browser_r, from_browser_w):
        os.close(fd)
    trampoline = (
        "import os, sys\n"
        f"os.dup2({child_in}, 3)\nos.dup2({child_out}, 4)\n"
        f"os.close({child_in})\nos.close({child_out})\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )

    with tempfile.TemporaryDirectory(prefix="sketchart-chromium-") as profile:
        args = [
            shutil.which(chromium) or chromium,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--mute-audio",
            "--window-size=1280,2000",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", trampoline, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(child_in, child_out),
            )
        except OSError as exc:
            raise SketchartError(f"cannot start {chromium}: {exc.strerror}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        pipe = _Pipe(to_browser_w, from_browser_r, time.monotonic() + timeout)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}
            )["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.events.clear()  # about:blank's own events are not the page's
            pipe.call("Page.navigate", {"url": page.as_uri()}, session=session)
            pipe.wait_event("Page.loadEventFired")
            pipe.drain(settle)
            value = pipe.call(
                "Runtime.evaluate",
                {"expression": _IMAGES_JS, "returnByValue": True},
                session=session,
            )["result"]["value"]
            images = json.loads(value)
            try:
                pipe.call("Browser.close")
            except SketchartError:
                pass  # the browser may close the pipe before it answers
        finally:
            os.close(to_browser_w)
            os.close(from_browser_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return PageCheck(images=images, console=_console_lines(pipe.events))
