"""vpype command ``sketchart-plot``: end a pipeline in an AxiDraw or a GRBL plotter.

``vpype read drawing.svg linemerge linesort sketchart-plot --device axidraw`` plots the
pipeline's document with the same engine and options as ``sketchart plot``. The document
passes through unchanged, so the pipeline can go on (``... sketchart-plot --dry-run write
out.svg``). The old name ``plot`` (too generic beside other plugins) is kept, hidden, for
one release; it says so when used. Every option takes vpype's types, so ``%expr%``,
``{property}`` substitution work as in vpype's own commands.

The options come from the shared declaration (:func:`sketchart.plot.options.
plot_option_table`); this module only turns them into click options. ``-d`` takes
``KEY VALUE`` here, as vpype-gcode's ``gwrite -d`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import vpype as vp
import vpype_cli

from sketchart.plot.options import PlotOption, plot_option_table

__all__ = ["plot", "sketchart_plot"]

_JOURNAL_DEFAULT = (
    "default: beside the pipeline's source, SOURCE.plot.json, else "
    "./sketchart-plot-<drawing hash>.json"
)

_log = logging.getLogger(__name__)

#: vpype's parameter types: they do ``%expr%`` and ``{prop}`` substitution and units
_VPYPE_TYPES: dict[type, Callable[[], Any]] = {
    str: vpype_cli.TextType,
    int: vpype_cli.IntegerType,
    float: vpype_cli.FloatType,
}


def _vpype_type(option: PlotOption) -> Any:
    if option.choices is not None:
        return vpype_cli.ChoiceType(list(option.choices))
    if option.type is Path:
        return vpype_cli.PathType(dir_okay=False)
    return _VPYPE_TYPES.get(option.type, lambda: option.type)()

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _click_option(option: PlotOption) -> Decorator:
    """The click option of one declared option."""
    text = option.help.format(journal_default=_JOURNAL_DEFAULT)
    if option.kind == "flag":
        return click.option(*option.flags, is_flag=True, help=text, hidden=option.hidden)
    if option.kind == "multiple":
        return click.option(
            *option.flags, type=_vpype_type(option), multiple=True, help=text,
            hidden=option.hidden,
        )
    if option.kind == "pairs":
        return click.option(
            *option.flags,
            nargs=2,
            multiple=True,
            type=vpype_cli.TextType(),
            metavar="KEY VALUE",
            help=f"{text}: KEY VALUE (e.g. -d feed 2000).",
            hidden=option.hidden,
        )
    return click.option(
        *option.flags,
        type=_vpype_type(option),
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
            document_from_vpype(document, source=_source(document)), options, echo=click.echo
        )
    except SketchartError as exc:
        error = click.ClickException(str(exc))
        # 130 for Ctrl-C and the pause button, as the shell reports a SIGINT
        error.exit_code = getattr(exc, "exit_code", 1)  # type: ignore[misc]
        raise error from exc
    return document


def _source(document: vp.Document) -> str:
    """The file the pipeline read (``vp_source``): the journal goes beside it."""
    source = document.property(vp.METADATA_FIELD_SOURCE)
    return str(source) if source else "<vpype document>"


def _deprecated_plot(document: vp.Document, **values: Any) -> vp.Document:
    """Deprecated name of sketchart-plot (goes in the next release)."""
    _log.warning("`plot` is deprecated and goes in the next release: use `sketchart-plot`")
    return _plot(document, **values)


def _command(name: str, body: Callable[..., vp.Document], hidden: bool) -> click.Command:
    func: Callable[..., Any] = vpype_cli.global_processor(body)
    for option in reversed(plot_option_table()):
        func = _click_option(option)(func)
    command = click.command(name=name, help=_plot.__doc__, hidden=hidden)(func)
    command.help_group = "sketchart"  # type: ignore[attr-defined]
    return command


sketchart_plot = _command("sketchart-plot", _plot, hidden=False)
plot = _command("plot", _deprecated_plot, hidden=True)
