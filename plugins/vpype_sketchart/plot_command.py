"""vpype command ``plot``: end a pipeline in an AxiDraw or a GRBL plotter.

``vpype read drawing.svg linemerge linesort plot --device axidraw`` plots the pipeline's
document with the same engine and options as ``sketchart plot``. The document passes
through unchanged, so the pipeline can go on (``... plot --dry-run write out.svg``).
"""

from __future__ import annotations

from pathlib import Path

import click
import vpype as vp
import vpype_cli

__all__ = ["plot"]


@click.command()
@click.option(
    "--device",
    type=click.Choice(["axidraw", "grbl"]),
    default="axidraw",
    show_default=True,
    help="Plotter type.",
)
@click.option(
    "--port",
    type=str,
    default=None,
    help="Serial port or pyserial URL (default: find the AxiDraw by USB id).",
)
@click.option(
    "--model",
    type=str,
    default="V3/A4",
    show_default=True,
    help="AxiDraw model: V3/A4, V3/A3, SE/A1, MiniKit.",
)
@click.option(
    "--profile",
    type=str,
    default="grbl-servo",
    show_default=True,
    help="gwrite profile for GRBL (grbl-servo, grbl-z).",
)
@click.option(
    "-d",
    "--define",
    nargs=2,
    multiple=True,
    type=str,
    help="GRBL template value: KEY VALUE (e.g. -d feed 2000).",
)
@click.option(
    "--pen-up", type=float, default=60.0, show_default=True, help="AxiDraw pen-up height, %."
)
@click.option(
    "--pen-down",
    type=float,
    default=30.0,
    show_default=True,
    help="AxiDraw pen-down height, %.",
)
@click.option(
    "--speed-down",
    type=float,
    default=55.0,
    show_default=True,
    help="AxiDraw drawing speed, mm/s.",
)
@click.option(
    "--speed-up",
    type=float,
    default=165.0,
    show_default=True,
    help="AxiDraw travel speed, mm/s.",
)
@click.option(
    "--accel-down",
    type=float,
    default=750.0,
    show_default=True,
    help="AxiDraw drawing acceleration, mm/s^2.",
)
@click.option(
    "--accel-up",
    type=float,
    default=1100.0,
    show_default=True,
    help="AxiDraw travel acceleration, mm/s^2.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    default=None,
    help="Progress journal (default: ./sketchart-plot.json).",
)
@click.option("--resume", is_flag=True, help="Continue from the first unfinished path.")
@click.option("--dry-run", is_flag=True, help="Print the plan and estimated time; no device.")
@click.option("--no-pause", is_flag=True, help="Do not stop for a pen change between layers.")
@vpype_cli.global_processor
def plot(
    document: vp.Document,
    device: str,
    port: str | None,
    model: str,
    profile: str,
    define: tuple[tuple[str, str], ...],
    pen_up: float,
    pen_down: float,
    speed_down: float,
    speed_up: float,
    accel_down: float,
    accel_up: float,
    journal: str | None,
    resume: bool,
    dry_run: bool,
    no_pause: bool,
) -> vp.Document:
    """Plot the document on an AxiDraw or a GRBL pen plotter (safe stop, resumable)."""
    from sketchart.errors import SketchartError
    from sketchart.plot import AxiDrawSettings, PlotOptions, document_from_vpype, plot_document

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
        click.prompt(message, default="", show_default=False, prompt_suffix=" ")

    options = PlotOptions(
        device=device,
        port=port,
        axidraw=settings,
        profile=profile,
        defaults=dict(define),
        journal=Path(journal) if journal else None,
        resume=resume,
        dry_run=dry_run,
        pause=None if no_pause else pause,
    )
    try:
        plot_document(
            document_from_vpype(document, source="<vpype document>"), options, echo=click.echo
        )
    except SketchartError as exc:
        raise click.ClickException(str(exc)) from exc
    return document


plot.help_group = "sketchart"  # type: ignore[attr-defined]
