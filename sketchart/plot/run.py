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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sketchart.errors import SketchartError
from sketchart.plot.driver import Estimate, PlotterDriver
from sketchart.plot.gcode import DRY_RUN_GRBL_SETTINGS  # re-exported for older imports
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument
from sketchart.plot.progress import Journal, default_journal_path
from sketchart.plot.registry import PortLister, get_device

__all__ = [
    "DRY_RUN_GRBL_SETTINGS",
    "PlotOptions",
    "PlotReport",
    "format_duration",
    "plot_document",
]

Echo = Callable[[str], None]


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
        lines.append(
            f"  layer {li + 1} ({info.name}): {info.paths} paths, "
            f"pen down {info.down_mm / 1000:.2f} m, pen up {info.up_mm / 1000:.2f} m"
            + (f", {format_duration(info.seconds)}" if info.seconds is not None else "")
        )
    lines.append(f"estimated time: {format_duration(estimate.seconds)}")
    return lines


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
    for line in plan:
        run.echo(line)
    done = run.journal.finished_paths if run.journal else 0
    return run.report(est.seconds, done, dry_run=True, plan=plan)


def _connect(run: _Run) -> Estimate:
    """Connect, estimate with what the device says, and open the journal."""
    driver = run.driver
    try:
        driver.connect()  # bad port / wrong device / out of travel: nothing moved yet
    except KeyboardInterrupt:
        driver.close()
        raise SketchartError(
            "interrupted (Ctrl-C) while connecting; nothing was plotted"
        ) from None
    except BaseException:
        driver.close()
        raise
    try:
        est = driver.estimate(run.start, run.start_xy)
        if run.journal is None:
            run.journal = Journal.start(run.journal_path, run.document, driver.label)
        else:
            run.journal.message = ""
            run.journal.position = None
            run.journal.save()
    except BaseException:
        driver.close()
        raise
    return est


def _draw(run: _Run) -> None:
    """Every remaining path, layer by layer, with the pen-change pauses."""
    document, driver, start = run.document, run.driver, run.start
    multi = sum(1 for layer in document.layers if layer.lines) > 1
    driver.begin(run.start_xy)
    for li in range(start[0], len(document.layers)):
        layer = document.layers[li]
        first = start[1] if li == start[0] else 0
        if first >= len(layer.lines):
            continue
        if multi and run.options.pause is not None:
            run.options.pause(
                f"layer {li + 1}/{len(document.layers)} ({layer.name}): "
                "put in its pen, then press Enter"
            )
        driver.begin_layer(li)
        for pi in range(first, len(layer.lines)):
            driver.draw_path(li, pi)
        driver.end_layer(li)
    driver.finish()


def _stopped(run: _Run, exc: BaseException, journal: Journal) -> SketchartError:
    """Stop the plotter safely, record where, and say so in one line."""
    reason = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
    position = run.driver.stop_safely()
    run.driver.close()
    journal.position = position
    journal.message = reason
    journal.save()
    nxt = journal.next
    where = f"layer {nxt[0] + 1} path {nxt[1] + 1}" if not journal.is_done() else "the end"
    if position is None:
        safety = (
            "could not reach the plotter to lift the pen: check it, move the "
            "carriage home by hand"
        )
    else:
        safety = run.driver.capabilities().safe_stop
    return SketchartError(
        f"plot stopped before {where} ({journal.finished_paths}/{run.document.path_count} "
        f"paths done): {reason}; {safety}; continue with --resume ({run.journal_path})"
    )


def _plot(run: _Run) -> PlotReport:
    est = _connect(run)
    journal = run.journal
    assert journal is not None  # _connect opened it
    for line in _plan_text(run.document, run.driver.label, run.start, est):
        run.echo(line)
    run.driver.on_path_done = journal.mark_done
    t0 = run.driver.clock.monotonic()
    try:
        _draw(run)
    except BaseException as exc:
        raise _stopped(run, exc, journal) from exc
    elapsed = run.driver.clock.monotonic() - t0
    run.driver.close()
    journal.complete = True
    journal.position = None
    journal.save()
    run.echo(
        f"done: {run.document.path_count} paths in {format_duration(elapsed)} "
        f"(estimated {format_duration(est.seconds)})"
    )
    return run.report(est.seconds, run.document.path_count, elapsed_s=elapsed)


def plot_document(
    document: PlotDocument,
    options: PlotOptions,
    *,
    echo: Echo = print,
    list_ports: PortLister | None = None,
) -> PlotReport:
    """Plot (or dry-run) ``document``; see the module docstring.

    Raises:
        SketchartError: bad input (empty, out of travel, no device, wrong device, permission),
            or a plot stopped by an error or Ctrl-C (after the safe stop; the journal then
            holds the first unfinished path).
    """
    driver = get_device(options.device).create(document, options, list_ports)
    journal_path = options.journal or default_journal_path(
        document.source, document.fingerprint()
    )
    run = _Run(document, options, driver, journal_path, echo)
    if options.resume:
        run.journal = Journal.resume(run.journal_path, document, driver.label)
        if run.journal.is_done():
            echo(f"{run.journal_path}: every path is already plotted; nothing to resume")
            run.start = run.journal.next
            return run.report(0.0, document.path_count)
        run.start, run.start_xy = run.journal.next, run.journal.position
    if options.dry_run:
        return _dry_run(run)
    return _plot(run)
