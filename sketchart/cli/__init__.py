"""The ``sketchart`` command line (typer).

Each command group lives in its own module with a ``register(app)`` function; command
bodies import the heavy modules (Keras, TensorFlow) only when they run, so ``sketchart
--help`` stays fast. Library errors (:class:`~sketchart.errors.SketchartError`,
:class:`~sketchart.hparams.HParamsError`) are printed on one line, without a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from sketchart.cli import helpstyle
from sketchart.errors import SketchartError
from sketchart.hparams import HParamsError
from sketchart.util import quiet

__all__ = ["app", "main"]

# TensorFlow's C++ start-up chatter (no CUDA driver, oneDNN notes) is noise on a CLI;
# the level alone no longer silences it all, the import hook does the rest
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
quiet.install()

app = typer.Typer(
    name="sketchart",
    help="Sketch-RNN for generative art and pen plotters: train, sample, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# modules that each add their commands to ``app`` (imported here; each command imports the
# heavy layers inside its body)
_COMMAND_MODULES = (
    "sketchart.cli.dataset",
    "sketchart.cli.convert",
    "sketchart.cli.train",
    "sketchart.cli.generate",
    "sketchart.cli.pages",
    "sketchart.cli.models",
    "sketchart.cli.plot",
    "sketchart.cli.gallery",
)


def _print_version(value: bool) -> None:
    if value:
        from sketchart import __version__

        typer.echo(f"sketchart {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    # eager: printed before click asks for a command ("Missing command.")
    version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                 is_eager=True, callback=_print_version),
) -> None:
    pass


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()
helpstyle.apply()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit status 1, a user's
    interrupt exits 130 (an error may carry its own ``exit_code``)."""
    try:
        app(args=argv, standalone_mode=True)
    except (SketchartError, HParamsError) as exc:
        code = getattr(exc, "exit_code", 1)
        # an interrupt is the user's choice, not an error: its line has no "Error:"
        typer.echo(str(exc) if code == 130 else f"Error: {exc}", err=True)
        sys.exit(code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
