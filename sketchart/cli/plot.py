"""``sketchart plot FILE.svg --device axidraw|grbl``: drive a pen plotter (sketchart.plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _parse_defaults(pairs: list[str]) -> dict[str, str]:
    from sketchart.errors import SketchartError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SketchartError(f"-d expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def plot(
    file: Annotated[Path, typer.Argument(help="SVG drawing to plot (read with vpype).")],
    device: Annotated[str, typer.Option("--device", help="axidraw or grbl.")] = "axidraw",
    port: Annotated[
        str | None,
        typer.Option(
            "--port", help="Serial port or pyserial URL (default: find the AxiDraw)."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="AxiDraw model: V3/A4, V3/A3, SE/A1, MiniKit.")
    ] = "V3/A4",
    profile: Annotated[
        str, typer.Option("--profile", help="gwrite profile for GRBL (grbl-servo, grbl-z).")
    ] = "grbl-servo",
    define: Annotated[
        list[str] | None,
        typer.Option("-d", "--define", help="GRBL template value KEY=VALUE (e.g. feed=2000)."),
    ] = None,
    pen_up: Annotated[
        float, typer.Option("--pen-up", help="AxiDraw pen-up height, %.")
    ] = 60.0,
    pen_down: Annotated[
        float, typer.Option("--pen-down", help="AxiDraw pen-down height, %.")
    ] = 30.0,
    speed_down: Annotated[
        float, typer.Option("--speed-down", help="AxiDraw drawing speed, mm/s.")
    ] = 55.0,
    speed_up: Annotated[
        float, typer.Option("--speed-up", help="AxiDraw travel speed, mm/s.")
    ] = 165.0,
    accel_down: Annotated[
        float, typer.Option("--accel-down", help="AxiDraw drawing acceleration, mm/s^2.")
    ] = 750.0,
    accel_up: Annotated[
        float, typer.Option("--accel-up", help="AxiDraw travel acceleration, mm/s^2.")
    ] = 1100.0,
    journal: Annotated[
        Path | None,
        typer.Option("--journal", help="Progress journal (default: FILE.svg.plot.json)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the first unfinished path.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and estimated time; no device.")
    ] = False,
    no_pause: Annotated[
        bool, typer.Option("--no-pause", help="Do not stop for a pen change between layers.")
    ] = False,
) -> None:
    """Plot an SVG on an AxiDraw or a GRBL pen plotter, safely and resumably."""
    from sketchart.plot import AxiDrawSettings, PlotOptions, load_svg, plot_document

    document = load_svg(file)
    settings = AxiDrawSettings(
        model=model,
        pen_up=pen_up,
        pen_down=pen_down,
        speed_down=speed_down,
        speed_up=speed_up,
        accel_down=accel_down,
        accel_up=accel_up,
    )

    def pause(message: str) -> None:
        typer.prompt(message, default="", show_default=False, prompt_suffix=" ")

    options = PlotOptions(
        device=device,
        port=port,
        axidraw=settings,
        profile=profile,
        defaults=_parse_defaults(define or []),
        journal=journal,
        resume=resume,
        dry_run=dry_run,
        pause=None if no_pause else pause,
    )
    plot_document(document, options, echo=typer.echo)


def register(app: typer.Typer) -> None:
    """Add ``plot`` to the ``sketchart`` CLI."""
    app.command("plot")(plot)
