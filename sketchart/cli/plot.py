"""``sketchart plot FILE.svg --device axidraw|grbl``: drive a pen plotter (sketchart.plot).

The options come from the shared declaration (:func:`sketchart.plot.options.
plot_option_table`, which includes every registered device's options); this module only
turns them into typer parameters. ``-d`` takes ``KEY VALUE`` as gwrite's does; the old
``KEY=VALUE`` is still read, unambiguously, since no template key holds ``=``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from sketchart.plot.options import PlotOption

__all__ = ["register"]

_JOURNAL_DEFAULT = "default: FILE.svg.plot.json"


def _join_pairs(args: list[str], flags: set[str]) -> list[str]:
    """``-d KEY VALUE`` as the one token ``-d KEY<NUL>VALUE``: typer has no repeatable
    two-value option, and no argument can hold a NUL. ``-d KEY=VALUE`` stays one token."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        out.append(arg)
        i += 1
        if arg == "--":
            return out + args[i:]
        if arg in flags and i + 1 < len(args) and "=" not in args[i]:
            out.append(f"{args[i]}\0{args[i + 1]}")
            i += 2
    return out


def _parse_defaults(pairs: list[str]) -> dict[str, str]:
    from sketchart.errors import SketchartError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("\0") if "\0" in pair else pair.partition("=")
        if not sep or not key:
            raise SketchartError(f"-d takes KEY VALUE (e.g. -d feed 2000), got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _parameter(option: PlotOption) -> inspect.Parameter:
    """The typer parameter of one declared option."""
    text = option.help.format(journal_default=_JOURNAL_DEFAULT)
    annotation: Any
    if option.kind == "pairs":
        info = typer.Option(
            *option.flags,
            help=f"{text}: KEY VALUE (e.g. -d feed 2000).",
            metavar="KEY VALUE",
            hidden=option.hidden,
        )
        annotation = Annotated[list[str] | None, info]
    elif option.kind == "multiple":
        info = typer.Option(*option.flags, help=text, hidden=option.hidden)
        annotation = Annotated[list[option.type] | None, info]  # type: ignore[name-defined]
    else:
        # no click Choice for --device: an unknown name gets run's one-line error, which
        # lists the registered devices
        kind = option.type if option.default is not None else option.type | None
        info = typer.Option(*option.flags, help=text, hidden=option.hidden)
        annotation = Annotated[kind, info]
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=option.default,
        annotation=annotation,
    )


def _plot_command() -> Callable[..., None]:
    """``plot(file, **options)`` with a typer signature built from the declaration."""
    from sketchart.plot.options import plot_option_table

    table = plot_option_table()
    pairs = [option.name for option in table if option.kind == "pairs"]

    def plot(ctx: typer.Context, file: Path, **values: Any) -> None:
        """Plot an SVG on an AxiDraw or a GRBL pen plotter, safely and resumably."""
        from sketchart.plot import load_svg, plot_document
        from sketchart.plot.config import merge_config
        from sketchart.plot.options import options_from_values

        def pause(message: str) -> None:
            typer.prompt(message, default="", show_default=False, prompt_suffix=" ")

        def given(name: str) -> bool:  # on the command line, so it beats ~/.vpype.toml
            source = ctx.get_parameter_source(name)
            return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

        for name in pairs:
            values[name] = _parse_defaults(values[name] or [])
        values = merge_config(values, table, given)
        document = load_svg(file)
        plot_document(document, options_from_values(values, pause=pause), echo=typer.echo)

    file = inspect.Parameter(
        "file",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[
            Path, typer.Argument(help="SVG drawing to plot (read with vpype).")
        ],
    )
    ctx = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    params = [ctx, file] + [_parameter(option) for option in table]
    plot.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    plot.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return plot


def _command_class() -> type[TyperCommand]:
    """A typer command whose pair options (``-d KEY VALUE``) take two tokens."""
    from sketchart.plot.options import plot_option_table

    flags = {f for o in plot_option_table() if o.kind == "pairs" for f in o.flags}

    class PlotCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, _join_pairs(list(args), flags))

    return PlotCommand


def register(app: typer.Typer) -> None:
    """Add ``plot`` and the manual utilities (``plotter ...``) to the ``sketchart`` CLI."""
    from sketchart.cli import plotter

    app.command("plot", cls=_command_class())(_plot_command())
    plotter.register(app)
