"""vpype command ``plot``: end a pipeline in an AxiDraw or a GRBL plotter.

``vpype read drawing.svg linemerge linesort plot --device axidraw`` plots the pipeline's
document with the same engine and options as ``sketchart plot``. The document passes
through unchanged, so the pipeline can go on (``... plot --dry-run write out.svg``).

The options come from the shared declaration (:func:`sketchart.plot.options.
plot_option_table`); this module only turns them into click options. ``-d`` takes
``KEY VALUE`` here, as vpype-gcode's ``gwrite -d`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import vpype as vp
import vpype_cli

from sketchart.plot.options import PlotOption, plot_option_table

__all__ = ["plot"]

_JOURNAL_DEFAULT = "default: ./sketchart-plot.json"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _click_option(option: PlotOption) -> Decorator:
    """The click option of one declared option."""
    text = option.help.format(journal_default=_JOURNAL_DEFAULT)
    if option.kind == "flag":
        return click.option(*option.flags, is_flag=True, help=text, hidden=option.hidden)
    if option.kind == "multiple":
        return click.option(
            *option.flags, type=option.type, multiple=True, help=text, hidden=option.hidden
        )
    if option.kind == "pairs":
        return click.option(
            *option.flags,
            nargs=2,
            multiple=True,
            type=str,
            help=f"{text}: KEY VALUE (e.g. -d feed 2000).",
        )
    kind: Any = option.type
    if option.choices is not None:
        kind = click.Choice(list(option.choices))
    elif option.type is Path:
        kind = click.Path(dir_okay=False)
    return click.option(
        *option.flags,
        type=kind,
        default=option.default,
        show_default=option.default is not None,
        help=text,
        hidden=option.hidden,
    )


def _plot(document: vp.Document, **values: Any) -> vp.Document:
    """Plot the document on an AxiDraw or a GRBL pen plotter (safe stop, resumable)."""
    from sketchart.errors import SketchartError
    from sketchart.plot import document_from_vpype, plot_document
    from sketchart.plot.options import options_from_values

    def pause(message: str) -> None:
        click.prompt(message, default="", show_default=False, prompt_suffix=" ")

    from sketchart.plot.config import merge_config

    ctx = click.get_current_context()

    def given(name: str) -> bool:  # on the command line, so it beats ~/.vpype.toml
        source = ctx.get_parameter_source(name)
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    table = plot_option_table()
    for option in table:
        if option.kind == "pairs":
            values[option.name] = dict(values[option.name])
    try:
        values = merge_config(values, table, given)
        options = options_from_values(values, pause=pause)
        plot_document(
            document_from_vpype(document, source="<vpype document>"), options, echo=click.echo
        )
    except SketchartError as exc:
        error = click.ClickException(str(exc))
        # 130 for Ctrl-C and the pause button, as the shell reports a SIGINT
        error.exit_code = getattr(exc, "exit_code", 1)  # type: ignore[misc]
        raise error from exc
    return document


def _command() -> click.Command:
    func: Callable[..., Any] = vpype_cli.global_processor(_plot)
    for option in reversed(plot_option_table()):
        func = _click_option(option)(func)
    command = click.command(name="plot", help=_plot.__doc__)(func)
    command.help_group = "sketchart"  # type: ignore[attr-defined]
    return command


plot = _command()
