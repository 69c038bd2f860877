"""Plot orchestration: plan, dry run, layer pauses, journal, resume, and the safe stop.

:func:`plot_document` is what the CLI and the vpype command call. It checks the drawing
(empty, out of travel) before anything moves, estimates the time from the same motion plan
the driver sends, and then plots layer by layer, pausing between layers so the pen can be
changed. Every finished path is written to the journal. Any error, and Ctrl-C, ends in the
driver's safe stop (pen up; AxiDraw motors off; GRBL feed hold and reset) and one
:class:`~sketchart.errors.SketchartError` line that says where the plot stopped and how to
resume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot import grbl as grbl_mod
from sketchart.plot.ebb import AxiDrawSettings, EBBDriver, estimate_ebb
from sketchart.plot.paths import PlotDocument, check_travel
from sketchart.plot.profiles import GcodeProgram, get_profile, render_program
from sketchart.plot.progress import Journal, default_journal_path

__all__ = ["DEVICES", "PlotOptions", "PlotReport", "format_duration", "plot_document"]

DEVICES = ("axidraw", "grbl")

#: GRBL limits assumed by a dry run (no controller to ask): a typical small pen plotter
DRY_RUN_GRBL_SETTINGS: dict[int, float] = {
    11: 0.010,
    110: 6000.0,
    111: 6000.0,
    112: 1000.0,
    120: 800.0,
    121: 800.0,
    122: 200.0,
    130: 300.0,
    131: 200.0,
    132: 20.0,
}


@dataclass
class PlotOptions:
    """Everything a plot needs besides the drawing.

    Attributes:
        device: ``"axidraw"`` or ``"grbl"``.
        port: port path or pyserial URL; ``None`` discovers an AxiDraw by USB id.
        axidraw: AxiDraw pen/speed settings (model and travel included).
        profile: the ``gwrite`` profile for GRBL.
        defaults: template values for the profile (like ``gwrite -d KEY VALUE``).
        journal: journal path; ``None`` uses :func:`default_journal_path`.
        resume: continue from the journal's first unfinished path.
        dry_run: print the plan and time; touch no device.
        pause: called with a message before each layer of a multi-layer drawing (change the
            pen, then return); ``None`` plots without pausing.
    """

    device: str = "axidraw"
    port: str | None = None
    axidraw: AxiDrawSettings = field(default_factory=AxiDrawSettings)
    profile: str = "grbl-servo"
    defaults: dict[str, Any] = field(default_factory=dict)
    journal: Path | None = None
    resume: bool = False
    dry_run: bool = False
    pause: Callable[[str], None] | None = None


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


def _grbl_lines(program: GcodeProgram, start: tuple[int, int]) -> list[str]:
    """The lines a (possibly resumed) GRBL run sends, for the estimate."""
    out = list(program.document_start)
    for li in range(start[0], len(program.paths)):
        out += program.layer_start[li]
        first = start[1] if li == start[0] else 0
        for pi in range(first, len(program.paths[li])):
            lines = list(program.paths[li][pi])
            if not lines or not grbl_mod._is_sync(lines[-1]):
                lines.append("G4 P0")
            out += lines
        out += program.layer_end[li]
    return out + program.document_end


def _device_label(options: PlotOptions) -> str:
    if options.device == "axidraw":
        return f"axidraw {options.axidraw.model}"
    return f"grbl {options.profile}"


def _plan_text(
    document: PlotDocument,
    options: PlotOptions,
    start: tuple[int, int],
    estimate: dict[str, Any],
) -> list[str]:
    head = (
        f"{document.source}: {document.path_count} paths in {len(document.layers)} "
        f"layer(s) on {_device_label(options)}"
    )
    lines = [head]
    if start != (0, 0):
        lines.append(f"resuming at layer {start[0] + 1}, path {start[1] + 1}")
    for li, info in enumerate(estimate["layers"]):
        lines.append(
            f"  layer {li + 1} ({info['name']}): {info['paths']} paths, "
            f"pen down {info['down_mm'] / 1000:.2f} m, pen up {info['up_mm'] / 1000:.2f} m"
            + (f", {format_duration(info['seconds'])}" if "seconds" in info else "")
        )
    lines.append(f"estimated time: {format_duration(estimate['seconds'])}")
    return lines


def _layer_stats(document: PlotDocument, start: tuple[int, int]) -> list[dict[str, Any]]:
    import numpy as np

    out = []
    pos = np.zeros(2)
    for li, layer in enumerate(document.layers):
        down = up = 0.0
        count = 0
        for pi, line in enumerate(layer.lines):
            if (li, pi) < start:
                continue
            up += float(np.linalg.norm(line[0] - pos))
            down += float(np.sum(np.linalg.norm(np.diff(line, axis=0), axis=1)))
            pos = line[-1]
            count += 1
        out.append({"name": layer.name, "paths": count, "down_mm": down, "up_mm": up})
    return out


def plot_document(
    document: PlotDocument,
    options: PlotOptions,
    *,
    echo: Callable[[str], None] = print,
    list_ports: Callable[[], list[Any]] | None = None,
) -> PlotReport:
    """Plot (or dry-run) ``document``; see the module docstring.

    Raises:
        SketchartError: bad input (empty, out of travel, no device, wrong device, permission),
            or a plot stopped by an error or Ctrl-C (after the safe stop; the journal then
            holds the first unfinished path).
    """
    if options.device not in DEVICES:
        raise SketchartError(f"unknown device {options.device!r}; choose axidraw or grbl")
    label = _device_label(options)
    program: GcodeProgram | None = None
    if options.device == "axidraw":
        options.axidraw.validate()
        check_travel(document, options.axidraw.travel, f"AxiDraw {options.axidraw.model}")
    else:
        if document.bounds() is None:
            raise SketchartError(
                f"{document.source}: the document is empty (no paths to plot)"
            )
        program = render_program(
            document, get_profile(options.profile), options.defaults, filename=document.source
        )

    journal_path = options.journal or default_journal_path(document.source)
    start: tuple[int, int] = (0, 0)
    start_xy: tuple[float, float] | None = None
    journal: Journal | None = None
    if options.resume:
        journal = Journal.resume(journal_path, document, label)
        if journal.is_done():
            echo(f"{journal_path}: every path is already plotted; nothing to resume")
            return PlotReport(
                label,
                0.0,
                document.path_count,
                document.path_count,
                journal.next,
                journal=journal_path,
            )
        start, start_xy = journal.next, journal.position

    def estimate(limits: grbl_mod.MachineLimits | None = None) -> dict[str, Any]:
        if options.device == "axidraw":
            return estimate_ebb(document, options.axidraw, start, start_xy)
        assert program is not None
        limits = limits or grbl_mod.MachineLimits.from_settings(DRY_RUN_GRBL_SETTINGS)
        return {
            "seconds": grbl_mod.estimate_program(_grbl_lines(program, start), limits),
            "layers": _layer_stats(document, start),
        }

    if options.dry_run:
        est = estimate()
        plan = _plan_text(document, options, start, est)
        if options.device == "grbl":
            plan.append(
                "  (GRBL time assumes $110/$111 = 6000 mm/min, $120/$121 = 800 "
                "mm/s^2, $11 = 0.01 mm; the real run uses the controller's $$)"
            )
        for line in plan:
            echo(line)
        done = journal.finished_paths if journal else 0
        return PlotReport(
            label,
            est["seconds"],
            document.path_count,
            done,
            start,
            dry_run=True,
            journal=journal_path,
            plan=plan,
        )

    driver: Any
    if options.device == "axidraw":
        driver = EBBDriver(document, options.axidraw, options.port, list_ports=list_ports)
    else:
        assert program is not None
        driver = grbl_mod.GrblDriver(program, options.port, list_ports=list_ports)
    try:
        driver.connect()  # bad port / wrong device / out of GRBL travel: nothing moved yet
    except KeyboardInterrupt:
        driver.close()
        raise SketchartError(
            "interrupted (Ctrl-C) while connecting; nothing was plotted"
        ) from None
    except BaseException:
        driver.close()
        raise
    try:
        est = estimate(driver.limits if options.device == "grbl" else None)
        if journal is None:
            journal = Journal.start(journal_path, document, label)
        else:
            journal.message = ""
            journal.position = None
            journal.save()
    except BaseException:
        driver.close()
        raise
    for line in _plan_text(document, options, start, est):
        echo(line)
    driver.on_path_done = journal.mark_done
    t0 = driver.clock.monotonic()
    multi = sum(1 for layer in document.layers if layer.lines) > 1
    current = start
    try:
        driver.begin(start_xy)
        for li in range(start[0], len(document.layers)):
            layer = document.layers[li]
            first = start[1] if li == start[0] else 0
            if first >= len(layer.lines):
                continue
            if multi and options.pause is not None:
                options.pause(
                    f"layer {li + 1}/{len(document.layers)} ({layer.name}): "
                    "put in its pen, then press Enter"
                )
            driver.begin_layer(li)
            for pi in range(first, len(layer.lines)):
                current = (li, pi)
                driver.draw_path(li, pi)
            driver.end_layer(li)
        driver.finish()
    except BaseException as exc:
        reason = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        position = driver.stop_safely()
        driver.close()
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
        elif options.device == "axidraw":
            safety = "pen up, motors off (leave the carriage where it is)"
        else:
            safety = "feed hold, reset, pen up"
        raise SketchartError(
            f"plot stopped before {where} ({journal.finished_paths}/{document.path_count} "
            f"paths done): {reason}; {safety}; continue with --resume ({journal_path})"
        ) from exc
    elapsed = driver.clock.monotonic() - t0
    driver.close()
    journal.complete = True
    journal.position = None
    journal.save()
    echo(
        f"done: {document.path_count} paths in {format_duration(elapsed)} "
        f"(estimated {format_duration(est['seconds'])})"
    )
    del current
    return PlotReport(
        label,
        est["seconds"],
        document.path_count,
        document.path_count,
        start,
        elapsed_s=elapsed,
        journal=journal_path,
    )
