"""Plot orchestration: plan, dry run, layer pauses, journal, resume, and the safe stop.

:func:`plot_document` is what the CLI and the vpype command call. It makes the device's
driver (:mod:`sketchart.plot.registry`), which checks the drawing (empty, out of travel)
before anything moves, estimates the time from the same motion plan the driver sends, and
then plots layer by layer, pausing between layers so the pen can be changed. Every finished
path is written to the journal. Any error, and Ctrl-C, ends in the driver's safe stop and
one :class:`~sketchart.errors.SketchartError` line that says where the plot stopped and how
to resume. Nothing here depends on the kind of plotter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.plot.driver import Estimate, PauseRequested, PlotterDriver
from sketchart.plot.gcode import DRY_RUN_GRBL_SETTINGS  # re-exported for older imports
from sketchart.plot.layers import layer_pen, select_layers
from sketchart.plot.live import LiveProgress, progress_mode
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument
from sketchart.plot.progress import Journal, default_journal_path, peek_journal
from sketchart.plot.registry import PortLister, get_device

__all__ = [
    "DRY_RUN_GRBL_SETTINGS",
    "PlotInterrupted",
    "PlotOptions",
    "PlotReport",
    "format_duration",
    "plot_document",
]

Echo = Callable[[str], None]


class PlotInterrupted(SketchartError):
    """The user stopped the plot (Ctrl-C or the plotter's pause button): exit status 130."""

    exit_code = 130


@dataclass
class PlotReport:
    """What happened (or, for a dry run, what would)."""

    device: str
    estimate_s: float
    paths_total: int
    paths_done: int
    start: tuple[int, int]
    elapsed_s: float = 0.0
    dry_run: bool = False
    journal: Path | None = None
    plan: list[str] = field(default_factory=list)


def format_duration(seconds: float) -> str:
    """``3725.2`` -> ``"1 h 02 min 05 s"``; short ones as ``"12.3 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def _plan_text(
    document: PlotDocument, label: str, start: tuple[int, int], estimate: Estimate
) -> list[str]:
    lines = [
        f"{document.source}: {document.path_count} paths in {len(document.layers)} "
        f"layer(s) on {label}"
    ]
    if start != (0, 0):
        lines.append(f"resuming at layer {start[0] + 1}, path {start[1] + 1}")
    for li, info in enumerate(estimate.layers):
        if not info.paths and not document.layers[li].lines:
            continue  # a layer left out by --layer
        settings = info.settings or layer_pen(document.layers[li]).describe()
        lines.append(
            f"  layer {li + 1} ({info.name}): {info.paths} paths, "
            f"pen down {info.down_mm / 1000:.2f} m, pen up {info.up_mm / 1000:.2f} m"
            + (f", {format_duration(info.seconds)}" if info.seconds is not None else "")
            + (f"; {settings}" if settings else "")
        )
    lines.append(f"estimated time: {format_duration(estimate.seconds)}")
    return lines



def _path_length(line: np.ndarray) -> float:
    if len(line) < 2:
        return 0.0
    return float(np.sum(np.linalg.norm(np.diff(line, axis=0), axis=1)))


def _settings_record(options: PlotOptions) -> dict[str, Any]:
    """The options as the journal records them (JSON types only)."""
    return {
        "device": options.device,
        "port": options.port,
        "axidraw": dataclasses.asdict(options.axidraw),
        "profile": options.profile,
        "defaults": {k: str(v) for k, v in options.defaults.items()},
        "park": options.park,
        "copies": options.copies,
        "page_delay": options.page_delay,
        "layers": list(options.layers),
        "layer_pauses": options.layer_pauses,
    }


@dataclass
class _Run:
    """One plot's state between the steps of :func:`plot_document`."""

    document: PlotDocument
    options: PlotOptions
    driver: PlotterDriver
    journal_path: Path
    echo: Echo
    journal: Journal | None = None
    start: tuple[int, int] = (0, 0)
    start_xy: tuple[float, float] | None = None
    copy: int = 0
    drawing: tuple[int, int] | None = None  # the path draw_path is sending, if any
    live: LiveProgress | None = None

    def report(
        self,
        estimate_s: float,
        done: int,
        *,
        elapsed_s: float = 0.0,
        dry_run: bool = False,
        plan: list[str] | None = None,
    ) -> PlotReport:
        return PlotReport(
            self.driver.label,
            estimate_s,
            self.document.path_count,
            done,
            self.start,
            elapsed_s=elapsed_s,
            dry_run=dry_run,
            journal=self.journal_path,
            plan=plan or [],
        )


def _dry_run(run: _Run) -> PlotReport:
    est = run.driver.estimate(run.start, run.start_xy)
    plan = _plan_text(run.document, run.driver.label, run.start, est) + est.notes
    if run.options.copies > 1:
        plan.append(f"{run.options.copies} copies, {run.options.page_delay:g} s between")
    for line in plan:
        run.echo(line)
    done = run.journal.finished_paths if run.journal else 0
    return run.report(est.seconds, done, dry_run=True, plan=plan)


def _open_journal(run: _Run) -> None:
    """A fresh journal, or the resumed one cleared of its abort; with this run's facts."""
    if run.journal is None:
        run.journal = Journal.start(run.journal_path, run.document, run.driver.label)
    journal = run.journal
    journal.message = ""
    journal.position = None
    journal.parked = ""
    journal.firmware = str(getattr(run.driver, "version", "") or "")
    journal.layers = list(run.options.layers)
    journal.copies = run.options.copies
    journal.copy = run.copy
    journal.settings = _settings_record(run.options)
    journal.save()


def _connect(run: _Run) -> Estimate:
    """Connect, estimate with what the device says, and open the journal."""
    driver = run.driver
    try:
        driver.connect()  # bad port / wrong device / out of travel: nothing moved yet
    except KeyboardInterrupt:
        driver.close()
        raise PlotInterrupted(
            "interrupted (Ctrl-C) while connecting; nothing was plotted"
        ) from None
    except BaseException:
        driver.close()
        raise
    try:
        est = driver.estimate(run.start, run.start_xy)
        _open_journal(run)
    except BaseException:
        driver.close()
        raise
    return est


def _layer_pause(run: _Run, li: int, multi: bool) -> None:
    """The pen-change prompt: between layers unless --no-pause; always for a '!' layer."""
    layer = run.document.layers[li]
    forced = layer_pen(layer).force_pause
    if run.options.pause is None or not (forced or (multi and run.options.layer_pauses)):
        return
    why = "forced pause (!)" if forced and not run.options.layer_pauses else "put in its pen"
    if run.live is not None:
        run.live.close()  # a prompt under a live bar would be overwritten
    run.options.pause(
        f"layer {li + 1}/{len(run.document.layers)} ({layer.name}): {why}, then press Enter"
    )


def _draw(run: _Run, start: tuple[int, int]) -> None:
    """Every remaining path of one copy, layer by layer, with the pen-change pauses."""
    document, driver = run.document, run.driver
    multi = sum(1 for layer in document.layers if layer.lines) > 1
    check_button = getattr(driver, "check_button", None)
    driver.begin(run.start_xy if start == run.start else None)
    for li in range(start[0], len(document.layers)):
        layer = document.layers[li]
        first = start[1] if li == start[0] else 0
        if first >= len(layer.lines):
            continue
        _layer_pause(run, li, multi)
        if run.live is not None:
            run.live.set_layer(f"layer {li + 1} ({layer.name})")
        driver.begin_layer(li)
        for pi in range(first, len(layer.lines)):
            if check_button is not None:
                check_button()  # between paths: a press here cuts nothing short
            run.drawing = (li, pi)
            driver.draw_path(li, pi)
            run.drawing = None
        driver.end_layer(li)
    driver.finish()


def _draw_copies(run: _Run) -> None:
    """:func:`_draw` once per copy, the journal restarting and a delay between copies."""
    journal = run.journal
    assert journal is not None
    start = run.start
    for copy in range(run.copy, run.options.copies):
        run.copy = journal.copy = copy
        _draw(run, start)
        if copy + 1 < run.options.copies:
            journal.next = journal._normalise((0, 0))
            journal.copy = copy + 1
            journal.save()
            run.echo(
                f"copy {copy + 1}/{run.options.copies} done; the next starts in "
                f"{run.options.page_delay:g} s (change the paper)"
            )
            run.driver.clock.sleep(run.options.page_delay)
            start = journal.next


def _safe_stop(run: _Run) -> tuple[tuple[float, float] | None, str]:
    """The driver's safe stop, then parking; a second Ctrl-C cannot skip either."""
    position = None
    for _ in range(3):
        try:
            position = run.driver.stop_safely()
            break
        except KeyboardInterrupt:
            continue
    park = getattr(run.driver, "park_home", None)
    parked = "" if park is None else "stay"  # "": the device cannot park; it stays
    if position is not None and run.options.park == "home" and park is not None:
        try:
            park()
            parked = "home"
        except KeyboardInterrupt:
            pass  # the pen is up already; the carriage stays where it is
    run.driver.close()
    return position, parked


def _stop_line(run: _Run, journal: Journal, reason: str, position: Any) -> str:
    nxt = journal.next
    where = f"layer {nxt[0] + 1} path {nxt[1] + 1}" if not journal.is_done() else "the end"
    if position is None:
        safety = (
            "could not reach the plotter to lift the pen: check it, move the "
            "carriage home by hand"
        )
    else:
        safety = run.driver.capabilities().safe_stop
        if journal.parked == "home":
            safety += "; carriage parked at home"
        elif getattr(run.driver, "park_home", None) is not None:
            safety += "; carriage left where it stopped: move it home before --resume"
    cut = f"; {where} was cut short: --resume redraws it from its start"
    copy = f" of copy {journal.copy + 1}/{journal.copies}" if journal.copies > 1 else ""
    return (
        f"plot stopped before {where}{copy} ({journal.finished_paths}/"
        f"{run.document.path_count} paths done): {reason}; {safety}; continue with "
        f"--resume ({run.journal_path})" + (cut if journal.partial else "")
    )


def _stopped(run: _Run, exc: BaseException, journal: Journal) -> SketchartError:
    """Stop the plotter safely, record where, and say so in one line."""
    if run.live is not None:
        run.live.close()
    interrupted = isinstance(exc, KeyboardInterrupt | PauseRequested)
    reason = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
    drawing = run.drawing
    position, parked = _safe_stop(run)
    journal.position = position
    journal.parked = parked if position is not None else ""
    journal.partial = drawing is not None and drawing == journal.next
    journal.message = reason
    journal.save()
    line = _stop_line(run, journal, reason, position)
    return PlotInterrupted(line) if interrupted else SketchartError(line)


def _on_path_done(run: _Run, journal: Journal) -> Callable[[int, int], None]:
    def done(layer_index: int, path_index: int) -> None:
        before = journal.next
        journal.mark_done(layer_index, path_index)
        if run.live is not None and journal.next != before:
            line = run.document.layers[layer_index].lines[path_index]
            run.live.path_done(_path_length(line))

    return done


def _start_live(run: _Run, est: Estimate) -> None:
    remaining = [
        line
        for li, layer in enumerate(run.document.layers)
        for pi, line in enumerate(layer.lines)
        if (li, pi) >= run.start
    ]
    run.live = LiveProgress(
        progress_mode(run.options.quiet),
        len(remaining),
        sum(_path_length(line) for line in remaining),
        est.seconds,
        run.driver.clock,
        run.echo,
    )


def _plot(run: _Run) -> PlotReport:
    est = _connect(run)
    journal = run.journal
    assert journal is not None  # _connect opened it
    for line in _plan_text(run.document, run.driver.label, run.start, est):
        run.echo(line)
    if journal.partial:
        nxt = journal.next
        run.echo(f"layer {nxt[0] + 1} path {nxt[1] + 1} was cut short: redrawn from its start")
    journal.partial = False
    run.driver.on_path_done = _on_path_done(run, journal)
    _start_live(run, est)
    t0 = run.driver.clock.monotonic()
    try:
        _draw_copies(run)
    except BaseException as exc:
        raise _stopped(run, exc, journal) from exc
    elapsed = run.driver.clock.monotonic() - t0
    assert run.live is not None
    run.live.close()
    run.driver.close()
    journal.complete = True
    journal.position = None
    journal.save()
    run.echo(
        f"done: {run.document.path_count} paths in {format_duration(elapsed)} "
        f"(estimated {format_duration(est.seconds)})"
    )
    return run.report(est.seconds, run.document.path_count, elapsed_s=elapsed)


def _check_options(options: PlotOptions) -> None:
    if options.copies < 1:
        raise SketchartError(f"--copies {options.copies}: must be at least 1")
    if not options.page_delay >= 0:
        raise SketchartError(f"--page-delay {options.page_delay}: must be 0 or more seconds")
    if options.park not in ("home", "stay"):
        raise SketchartError(f"--park {options.park!r}: choose home or stay")


def _resume_selection(options: PlotOptions, journal_path: Path) -> PlotOptions:
    """The journal's layers and copies, unless given again: a resume plots the same."""
    data = peek_journal(journal_path)
    recorded = sorted(int(n) for n in data.get("layers") or [])
    if options.layers and recorded and sorted(set(options.layers)) != recorded:
        chosen = " ".join(f"--layer {n}" for n in recorded)
        raise SketchartError(
            f"{journal_path}: the plot being resumed chose {chosen}; resume with the same "
            "layers (or no --layer), or plot without --resume"
        )
    if not options.layers and data.get("layers"):
        options = dataclasses.replace(options, layers=tuple(int(n) for n in data["layers"]))
    if options.copies == 1 and int(data.get("copies", 1) or 1) > 1:
        options = dataclasses.replace(options, copies=int(data["copies"]))
    return options


def plot_document(
    document: PlotDocument,
    options: PlotOptions,
    *,
    echo: Echo = print,
    list_ports: PortLister | None = None,
) -> PlotReport:
    """Plot (or dry-run) ``document``; see the module docstring.

    Raises:
        PlotInterrupted: Ctrl-C or the pause button (after the safe stop and the journal).
        SketchartError: bad input (empty, out of travel, no device, wrong device, permission),
            or a plot stopped by an error (after the safe stop; the journal then holds the
            first unfinished path).
    """
    _check_options(options)
    # the journal's name comes from the whole drawing, before --layer empties layers
    journal_path = options.journal or default_journal_path(
        document.source, document.fingerprint()
    )
    if options.resume:
        options = _resume_selection(options, journal_path)
    document = select_layers(document, options.layers)
    driver = get_device(options.device).create(document, options, list_ports)
    run = _Run(document, options, driver, journal_path, echo)
    if options.resume:
        run.journal = Journal.resume(run.journal_path, document, driver.label)
        if run.journal.is_done() and run.journal.copy + 1 >= run.journal.copies:
            echo(f"{run.journal_path}: every path is already plotted; nothing to resume")
            run.start = run.journal.next
            run.journal.complete = True
            run.journal.save()
            return run.report(0.0, document.path_count)
        # a device that parks starts from home (parked there, or put there by hand): a
        # carriage bumped while the motors were off cannot offset the rest of the drawing;
        # one that cannot park continues from where it stopped
        run.start, run.copy = run.journal.next, run.journal.copy
        if not run.journal.parked:
            run.start_xy = run.journal.position
    if options.dry_run:
        return _dry_run(run)
    return _plot(run)
