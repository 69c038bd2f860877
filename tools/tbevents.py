"""TensorBoard event files read without TensorFlow.

TFRecord framing (length, CRC, data, CRC) around tensorboardX's ``Event`` protobufs.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.errors import ShipError

__all__ = ["RunEvents", "read_events"]


@dataclass
class RunEvents:
    """The scalars of a run's TensorBoard files, with restarts (purges) applied.

    Attributes:
        scalars: tag -> sorted ``[(step, value)]`` (``train/r_cost``, ``valid/kl_cost`` ...).
        sessions: one ``[(wall_time, step), ...]`` list per event file (a file per start or
            resume of the trainer), in the order written.
        files: the event files read.
    """

    scalars: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    sessions: list[list[tuple[float, int]]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def series(self, tag: str) -> list[tuple[int, float]]:
        """``[(step, value)]`` of one tag (empty when it was never logged)."""
        return self.scalars.get(tag, [])

    def last_step(self) -> int | None:
        """The largest step of any event (None without events)."""
        steps = [s for session in self.sessions for _, s in session]
        return max(steps) if steps else None

    def active_seconds(self, pause_gap_s: float = 900.0, until_step: int | None = None
                       ) -> float:
        """Training wall time: the summed spans of activity, not first-to-last clock time.

        Each event file is one run of the trainer; within it, a silence longer than
        ``pause_gap_s`` (the process was suspended, e.g. during a benchmark) does not
        count. Trainers log every ``log_every`` steps and evaluate every ``save_every``,
        so a live run is never silent that long.

        Args:
            pause_gap_s: the longest silence counted as work.
            until_step: stop counting at the first event at or past this step.
        """
        total = 0.0
        for session in self.sessions:
            prev: float | None = None
            for wall, step in session:
                if prev is not None and 0 < wall - prev <= pause_gap_s:
                    total += wall - prev
                prev = wall
                if until_step is not None and step >= until_step:
                    return total
        return total


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path: Path) -> list[bytes]:
    """The TFRecord payloads of one file; stops quietly at a torn or corrupt tail (a run
    that is still writing, or was killed mid-record)."""
    data = path.read_bytes()
    out = []
    pos = 0
    while pos + 12 <= len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        end = pos + 12 + length
        if header_crc != _masked_crc(header) or end + 4 > len(data):
            break
        (data_crc,) = struct.unpack("<I", data[end:end + 4])
        payload = data[pos + 12:end]
        if data_crc != _masked_crc(payload):
            break
        out.append(payload)
        pos = end + 4
    return out


def read_events(log_root: str | os.PathLike[str]) -> RunEvents:
    """Read every ``events.out.tfevents.*`` file of a log root (no TensorFlow needed).

    A resumed trainer writes a new file that starts with a "session start" at the step it
    resumed from (tensorboardX's ``purge_step``); points of earlier files at or after that
    step were lost with the killed run and are dropped, as TensorBoard does.

    Raises:
        ShipError: an event file that is not a TensorBoard event file.
    """
    from google.protobuf.message import DecodeError
    from tensorboardX.proto import event_pb2

    root = Path(log_root)
    files = sorted(root.glob("events.out.tfevents.*"))
    parsed: list[tuple[float, Path, list[Any]]] = []
    for path in files:
        try:
            events = [event_pb2.Event.FromString(r) for r in _records(path)]
        except DecodeError:
            raise ShipError(f"{path}: not a TensorBoard event file") from None
        if events:
            parsed.append((events[0].wall_time, path, events))
    run = RunEvents(files=[p for _, p, _ in sorted(parsed, key=lambda t: t[0])])
    start = event_pb2.SessionLog.START
    for _, _, events in sorted(parsed, key=lambda t: t[0]):
        session: list[tuple[float, int]] = []
        for event in events:
            if event.HasField("session_log") and event.session_log.status == start:
                for tag, points in run.scalars.items():
                    run.scalars[tag] = [(s, v) for s, v in points if s < event.step]
            session.append((event.wall_time, int(event.step)))
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    run.scalars.setdefault(value.tag, []).append(
                        (int(event.step), float(value.simple_value)))
        run.sessions.append(session)
    for tag, points in run.scalars.items():
        run.scalars[tag] = sorted(points)
    return run
