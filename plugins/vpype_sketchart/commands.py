"""vpype commands: ``sketchrnn-sample``, ``-interpolate``, ``-reconstruct``, ``-complete``.

Plain click + ``vpype_cli`` decorators (typer's vendored click does not mix with vpype); the
work is done by :mod:`sketchart.page`, which the ``sketchart`` CLI calls too. Every command
is a global processor: it writes several layers with their pen properties (``vp_color``,
``vp_name``, ``vp_pen_width``), which vpype's ``generator`` wrapper would drop. Otherwise
they behave as vpype's generators (:func:`sketchart.page.layout.add_layers`): properties
only on the layers they create, a target layer the user named keeps its own, new layers
never merge into existing ones, and vpype's target layer points at the first layer written
afterwards; files read with ``--svg`` / ``-e`` join ``vp_sources``. The NumPy engine
draws by default (``--engine numpy``): neither ``vpype --help`` nor a drawing imports
TensorFlow or Keras; ``--engine tensorflow|jax`` loads the Keras model. Library
errors become vpype-style one-line messages (``click.ClickException``), never a traceback.

Reproducibility: without ``--seed`` a seed is drawn from numpy's global generator, which
vpype seeds from its ``-s`` option, so ``vpype -s 7 ...`` gives the same file every time;
seed, temperature, model and version go into the document's properties
(:func:`sketchart.page.layout.set_sketch_metadata`).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click
import vpype as vp
import vpype_cli

from sketchart.errors import SketchartError
from sketchart.page import options as page_options
from sketchart.page import plans, redraw
from sketchart.page.models import (
    load_sketch_model,
    looks_like_path,
    model_source,
    require_conditional,
)
from sketchart.page.options import OptionError, Pens, Sampling
from sketchart.page.sources import SourceDrawing, source_drawings
from vpype_sketchart.options import MODEL_OPTIONS, PEN_OPTIONS, SOURCE_OPTIONS, apply

if TYPE_CHECKING:
    from sketchart.page.models import SketchModel

__all__ = [
    "sketchrnn_complete",
    "sketchrnn_interpolate",
    "sketchrnn_reconstruct",
    "sketchrnn_sample",
]

HELP_GROUP = "sketchart"

# loaded models by name or path: vpype's ``grid`` block runs a command once per cell
_MODELS: dict[str, SketchModel] = {}


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's user errors into click's one-line errors."""
    from sketchart.hparams import HParamsError

    try:
        yield
    except OptionError as exc:
        if exc.option is None:
            raise click.UsageError(str(exc)) from None
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    except (SketchartError, HParamsError) as exc:
        raise click.ClickException(
            str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise click.ClickException(f"{exc.strerror}: {exc.filename}") from None


def _load_model(category: str | None, model: str | None, engine: str = "numpy"
                ) -> tuple[SketchModel, str]:
    """The model named by ``--category`` or ``--model``, loaded once per process and engine
    (the NumPy engine by default: no TensorFlow or Keras imported)."""
    with _user_errors():
        name, source = model_source(category, model)
    path = str(pathlib.Path(name).expanduser().resolve()) if looks_like_path(name) else name
    key = f"{engine}:{path}"
    if key not in _MODELS:
        with _user_errors():
            _MODELS[key] = load_sketch_model(source, engine)
    return _MODELS[key], name


def _sampling(
    command: str, temperature: float, seed: int | None, greedy: bool, max_len: int | None
) -> Sampling:
    return Sampling(temperature, page_options.draw_seed(seed, command), greedy, max_len)


@contextlib.contextmanager
def _targeting(state: vpype_cli.State, target: int | None = None) -> Iterator[None]:
    """Point vpype's target layer at the first layer the command wrote, as vpype's
    generators do, so that a later ``color`` or generator without ``-l`` works on it."""
    before = set(state.document.layers)
    yield
    new = sorted(set(state.document.layers) - before)
    first = target if target is not None else (new[0] if new else None)
    if first is not None:
        state.target_layer_id = first


# -- sketchrnn-sample ---------------------------------------------------------------------


@click.command("sketchrnn-sample")
@apply(MODEL_OPTIONS)
@click.option(
    "-n",
    "--count",
    type=vpype_cli.IntegerType(),
    default=1,
    show_default=True,
    help="Number of sketches.",
)
@click.option(
    "--size",
    type=vpype_cli.LengthType(),
    default="4cm",
    show_default=True,
    help="Side of the square box each sketch is fitted into.",
)
@click.option(
    "--layout",
    "layout_mode",
    type=vpype_cli.ChoiceType(["grid", "cell"]),
    default="grid",
    show_default=True,
    help="grid: place the sketches in a grid and set the page; cell: one sketch in a box at "
    "the origin, for vpype's grid block.",
)
@click.option(
    "--columns",
    type=vpype_cli.IntegerType(),
    default=None,
    help="Grid columns (default: square).",
)
@click.option(
    "--gap",
    type=vpype_cli.LengthType(),
    default="5mm",
    show_default=True,
    help="Space between the boxes of the grid.",
)
@click.option(
    "-p",
    "--page-size",
    type=vpype_cli.PageSizeType(),
    default=None,
    help="Centre the grid on this page (e.g. a4); an error if it does not fit.",
)
@click.option("--landscape", is_flag=True, help="Landscape page.")
@click.option(
    "--layers",
    type=vpype_cli.ChoiceType(["single", "per-sketch", "per-stroke"]),
    default="single",
    show_default=True,
    help="One layer, one per sketch, or stroke k of every sketch on pen k (mod pens).",
)
@apply(PEN_OPTIONS)
@click.option(
    "-l",
    "--layer",
    type=vpype_cli.LayerType(accept_new=True),
    default=None,
    help="First target layer (default: the current target layer, or a new one).",
)
@click.option(
    "--keep-empty",
    is_flag=True,
    help="Keep sketches that end before drawing a line (default: drawn again, fresh z).",
)
@vpype_cli.global_processor
@vpype_cli.pass_state
def sketchrnn_sample(
    state: vpype_cli.State,
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
    engine: str,
    count: int,
    size: float,
    layout_mode: str,
    columns: int | None,
    gap: float,
    page_size: tuple[float, float] | None,
    landscape: bool,
    layers: str,
    colors: str | None,
    pen_width: float,
    name: str | None,
    optimize: bool,
    layer: int | None,
    keep_empty: bool,
) -> vp.Document:
    """Draw new sketches with a Sketch-RNN model.

    Examples:

    \b
        vpype sketchrnn-sample --category flamingo -t 0.4 write out.svg
        vpype sketchrnn-sample -c cat -n 16 --layers per-sketch --optimize write cats.svg
        vpype -s 7 grid -o 3cm 3cm 5 4 sketchrnn-sample -c cat --layout cell end write c.svg
    """
    page = page_options.oriented_page(page_size, landscape)
    with _user_errors():
        # the page and grid before the model is loaded
        plans.check_sample(temperature, count, layout_mode, size=size, gap=gap,
                           columns=columns, page_size=page)
    net, model_name = _load_model(category, model, engine)
    sampling = _sampling("sketchrnn-sample", temperature, seed, greedy, max_len)
    target = vpype_cli.single_to_layer_id(layer, document) if layers == "single" else None
    if layers != "single" and layer is not None and layer is not vpype_cli.LayerType.NEW:
        target = layer
    with _user_errors(), _targeting(state, target):
        return plans.sample_page(
            document, net, model_name, sampling, count=count, size=size, layout=layout_mode,
            columns=columns, gap=gap, layers=layers, target=target, keep_empty=keep_empty,
            page_size=page, pens=Pens(colors, pen_width, name, optimize),
        )



# -- sketchrnn-interpolate ----------------------------------------------------------------


@click.command("sketchrnn-interpolate")
@click.option(
    "-e",
    "--endpoint",
    "endpoints",
    multiple=True,
    type=vpype_cli.TextType(),
    help="A drawing to interpolate from/to (twice; four times with --grid): an SVG file, "
    "a layer (3 or layer:3) or a point of the prior (seed:N).",
)
@apply(MODEL_OPTIONS)
@click.option(
    "--steps",
    type=vpype_cli.IntegerType(),
    default=8,
    show_default=True,
    help="Drawings from the first endpoint to the second, both included.",
)
@click.option(
    "--method",
    type=vpype_cli.ChoiceType(["slerp", "lerp"]),
    default="slerp",
    show_default=True,
    help="Spherical or linear interpolation of the latent vectors.",
)
@click.option(
    "--grid",
    type=vpype_cli.TextType(),
    default=None,
    help="ROWSxCOLUMNS grid from four corners (top-left, top-right, bottom-left, "
    "bottom-right endpoints), bilinear in latent space (--method does not apply).",
)
@click.option(
    "--size",
    type=vpype_cli.LengthType(),
    default=None,
    help="Box side of each drawing (default: the largest that fits the page).",
)
@click.option(
    "--gap",
    type=vpype_cli.LengthType(),
    default="5mm",
    show_default=True,
    help="Space between drawings.",
)
@click.option(
    "-p",
    "--page-size",
    type=vpype_cli.PageSizeType(),
    default="a4",
    show_default=True,
    help="Page the drawings are fitted onto.",
)
@click.option("--landscape", is_flag=True, help="Landscape page.")
@click.option(
    "--layers",
    type=vpype_cli.ChoiceType(["per-row", "per-cell", "single"]),
    default="per-row",
    show_default=True,
    help="One layer per row, one per drawing, or one for all.",
)
@apply(PEN_OPTIONS)
@vpype_cli.global_processor
@vpype_cli.pass_state
def sketchrnn_interpolate(
    state: vpype_cli.State,
    document: vp.Document,
    endpoints: tuple[str, ...],
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
    engine: str,
    steps: int,
    method: str,
    grid: str | None,
    size: float | None,
    gap: float,
    page_size: tuple[float, float],
    landscape: bool,
    layers: str,
    colors: str | None,
    pen_width: float,
    name: str | None,
    optimize: bool,
) -> vp.Document:
    """Morph between drawings through a conditional model's latent space.

    The endpoints (-e, twice; four times with --grid: top-left, top-right, bottom-left,
    bottom-right) are each an SVG file, a layer of the current document (3 or layer:3) or a
    point of the prior (seed:N). Without endpoints, random points of the prior are used.
    Needs a conditional (VAE) model.

    Examples:

    \b
        vpype sketchrnn-interpolate -m runs/sheep -e seed:1 -e seed:2 --steps 10 write m.svg
        vpype read two.svg sketchrnn-interpolate -m runs/sheep -e 1 -e 2 write morph.svg
        vpype sketchrnn-interpolate -m runs/sheep --grid 4x5 write grid.svg
    """
    page = page_options.oriented_page(page_size, landscape)
    with _user_errors():
        # the page and grid before the model is loaded
        shape = plans.check_interpolate(temperature, grid, endpoints, steps, size=size,
                                        gap=gap, page_size=page)
    net, model_name = _load_model(category, model, engine)
    with _user_errors(), _targeting(state):
        require_conditional(net, model_name, "sketchrnn-interpolate")
        sampling = _sampling("sketchrnn-interpolate", temperature, seed, greedy, max_len)
        return plans.interpolate_page(
            document, net, model_name, sampling,
            endpoints, steps=steps, method=method, grid=shape, size=size, gap=gap,
            page_size=page, layers=layers, pens=Pens(colors, pen_width, name, optimize),
        )



# -- sketchrnn-reconstruct and sketchrnn-complete -----------------------------------------


def _drawings(
    document: vp.Document,
    layer: int | list[int] | None,
    svg: str | None,
    whole_layer: bool,
    margin: float,
) -> list[SourceDrawing]:
    """The drawings to work on: each drawing of the chosen layers, or of an SVG file."""
    ids: list[int] = []
    if svg is None:
        ids = vpype_cli.multiple_to_layer_ids(layer, document)
        if not ids:
            if not document.layers:
                raise SketchartError("no layer to read drawings from (the document is empty)")
            have = ", ".join(str(lid) for lid in sorted(document.layers))
            raise SketchartError(f"layer {layer} does not exist (layers: {have})")
    return source_drawings(document, ids, svg, whole_layer, margin)


@click.command("sketchrnn-reconstruct")
@apply(MODEL_OPTIONS)
@apply(SOURCE_OPTIONS)
@click.option("--replace", is_flag=True, help="Delete the source layers.")
@apply(PEN_OPTIONS)
@vpype_cli.global_processor
@vpype_cli.pass_state
def sketchrnn_reconstruct(
    state: vpype_cli.State,
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
    engine: str,
    layer: int | list[int] | None,
    svg: str | None,
    whole_layer: bool,
    margin: float,
    variations: int,
    replace: bool,
    colors: str | None,
    pen_width: float,
    name: str | None,
    optimize: bool,
) -> vp.Document:
    """Encode each drawing and redraw it with a conditional model, in place.

    Each drawing of the chosen layers (or of --svg) is encoded, decoded at the temperature
    and fitted into the original's box; each variation goes to a new layer.

    Example:

    \b
        vpype read sheep.svg sketchrnn-reconstruct -m runs/sheep -n 3 -t 0.3 write out.svg
    """
    with _user_errors():
        page_options.check_temperature(temperature)
        page_options.check_at_least(variations, 1, "'-n'")
    net, model_name = _load_model(category, model, engine)
    with _user_errors(), _targeting(state):
        require_conditional(net, model_name, "sketchrnn-reconstruct")
        sampling = _sampling("sketchrnn-reconstruct", temperature, seed, greedy, max_len)
        return redraw.reconstruct_page(
            document, net, model_name, sampling,
            _drawings(document, layer, svg, whole_layer, margin),
            variations=variations, replace=replace,
            pens=Pens(colors, pen_width, name, optimize),
        )



@click.command("sketchrnn-complete")
@apply(MODEL_OPTIONS)
@apply(SOURCE_OPTIONS)
@apply(PEN_OPTIONS)
@vpype_cli.global_processor
@vpype_cli.pass_state
def sketchrnn_complete(
    state: vpype_cli.State,
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
    engine: str,
    layer: int | list[int] | None,
    svg: str | None,
    whole_layer: bool,
    margin: float,
    variations: int,
    colors: str | None,
    pen_width: float,
    name: str | None,
    optimize: bool,
) -> vp.Document:
    """Continue the partial drawings of a layer with a model (any model).

    The strokes the model adds go to a new layer (one per variation), in the same place and
    scale as the partial drawing they continue.

    Example:

    \b
        vpype read start.svg sketchrnn-complete -c cat -n 3 write finished.svg
    """
    with _user_errors():
        page_options.check_temperature(temperature)
        page_options.check_at_least(variations, 1, "'-n'")
    net, model_name = _load_model(category, model, engine)
    sampling = _sampling("sketchrnn-complete", temperature, seed, greedy, max_len)
    with _user_errors(), _targeting(state):
        return redraw.complete_page(
            document, net, model_name, sampling,
            _drawings(document, layer, svg, whole_layer, margin),
            variations=variations, pens=Pens(colors, pen_width, name, optimize),
        )


# ``vpype --help`` lists plugin commands under their ``help_group``
for _command in (sketchrnn_sample, sketchrnn_interpolate, sketchrnn_reconstruct,
                 sketchrnn_complete):
    _command.help_group = HELP_GROUP  # type: ignore[attr-defined]
