"""The options the vpype commands share: model and sampling, pens, source drawings.

Declared once here and applied with :func:`apply`; the ``sketchart`` CLI declares the same
names, defaults and units for typer (:mod:`sketchart.cli.pages`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import vpype_cli

__all__ = ["MODEL_OPTIONS", "PEN_OPTIONS", "SOURCE_OPTIONS", "apply"]

_F = TypeVar("_F", bound=Callable[..., Any])

MODEL_OPTIONS = (
    click.option(
        "-c",
        "--category",
        type=vpype_cli.TextType(),
        help="Model by name: a shipped model, or a category of Google's pretrained models "
        "(downloaded once into the cache).",
    ),
    click.option(
        "-m",
        "--model",
        type=vpype_cli.TextType(),
        help="Model name or path (model directory, training log root, .gen.json, .vae.json).",
    ),
    click.option(
        "-t",
        "--temperature",
        type=vpype_cli.FloatType(),
        default=0.65,
        show_default=True,
        help="Randomness of the strokes (> 0).",
    ),
    click.option(
        "--seed",
        type=vpype_cli.IntegerType(),
        default=None,
        help="Sampling seed (default: drawn from vpype's -s seed).",
    ),
    click.option("--greedy", is_flag=True, help="Most likely strokes instead of random ones."),
    click.option(
        "--max-len",
        type=vpype_cli.IntegerType(),
        default=None,
        help="Most points per sketch (default: the model's max_seq_len).",
    ),
    click.option(
        "--engine",
        type=vpype_cli.ChoiceType(["numpy", "tensorflow", "jax"]),
        default="numpy",
        show_default=True,
        help="What draws: NumPy (no TensorFlow loaded), or the compiled TensorFlow or JAX "
        "sampler (thousands of sketches, a GPU). A seed draws the same on each.",
    ),
)

PEN_OPTIONS = (
    click.option(
        "--colors",
        type=vpype_cli.TextType(),
        default=None,
        help="Comma-separated pen colours, cycled over the layers (default: a palette).",
    ),
    click.option(
        "--pen-width",
        type=vpype_cli.LengthType(),
        default="0.3mm",
        show_default=True,
        help="Pen width written to the layers (vp_pen_width).",
    ),
    click.option("--name", type=vpype_cli.TextType(), default=None, help="Base layer name."),
    click.option(
        "--optimize",
        is_flag=True,
        help="Run vpype's linemerge, linesimplify, reloop and linesort on the result.",
    ),
)


def apply(options: Sequence[Callable[[_F], _F]]) -> Callable[[_F], _F]:
    """One decorator applying ``options`` in order (the first is the first in ``--help``)."""

    def decorator(f: _F) -> _F:
        for option in reversed(options):
            f = option(f)
        return f

    return decorator


SOURCE_OPTIONS = (
    click.option(
        "-l",
        "--layer",
        type=vpype_cli.LayerType(accept_multiple=True),
        default="all",
        help="Layer(s) whose drawings are used (default: all).",
    ),
    click.option(
        "--svg",
        type=vpype_cli.TextType(),
        default=None,
        help="Take the drawings from this SVG file instead of the document.",
    ),
    click.option(
        "--whole-layer",
        is_flag=True,
        help="Treat each layer as one drawing (default: split it where drawings are apart).",
    ),
    click.option(
        "--margin",
        type=vpype_cli.LengthType(),
        default="2mm",
        show_default=True,
        help="Paths closer than this belong to the same drawing.",
    ),
    click.option(
        "-n",
        "--variations",
        type=vpype_cli.IntegerType(),
        default=1,
        show_default=True,
        help="Versions per drawing, each on its own layer.",
    ),
)
