"""``sketchart interpolate``, ``reconstruct`` and ``complete``: the vpype plugin's commands
as SVG-writing commands.

Options, defaults and units are the plugin's (lengths such as ``5mm`` or ``2cm``, pages
such as ``a4``), and the drawing is done by the same :mod:`sketchart.page` functions, so
``sketchart X ... --seed N -o out.svg`` draws what ``vpype sketchrnn-X ... --seed N write
out.svg`` draws. There is no vpype pipeline here: drawings to redraw come from ``--svg``,
and interpolation endpoints are SVG files or points of the prior (``seed:N``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sketchart.page.options import OptionError

if TYPE_CHECKING:
    import vpype as vp

    from sketchart.page.models import SketchModel
    from sketchart.page.options import Pens, Sampling

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``interpolate``, ``reconstruct`` and ``complete`` to the main CLI."""
    app.command("interpolate")(interpolate_command)
    app.command("reconstruct")(reconstruct_command)
    app.command("complete")(complete_command)


# -- options shared with the vpype plugin (same names, defaults and units) ---------------

Output = Annotated[Path, typer.Option("--output", "-o", help="The SVG to write.")]
Category = Annotated[
    str | None,
    typer.Option("--category", "-c", help="Model by name: a shipped model, or a category "
                 "of Google's pretrained models (downloaded once into the cache)."),
]
Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name or path (model directory, training log "
                 "root, .gen.json, .vae.json)."),
]
Temperature = Annotated[
    float, typer.Option("--temperature", "-t", help="Randomness of the strokes (> 0).")
]
Seed = Annotated[
    int | None, typer.Option("--seed", help="Sampling seed (default: a random one, printed).")
]
Greedy = Annotated[
    bool, typer.Option("--greedy", help="Most likely strokes instead of random ones.")
]
MaxLen = Annotated[
    int | None,
    typer.Option("--max-len", help="Most points per sketch (default: the model's "
                 "max_seq_len)."),
]
Engine = Annotated[
    str, typer.Option("--engine", help="What draws: numpy (default; no TensorFlow loaded), "
                      "tensorflow or jax (the compiled sampler: thousands of sketches, a "
                      "GPU). A seed draws the same on each.")
]
Colors = Annotated[
    str | None,
    typer.Option("--colors", help="Comma-separated pen colours, cycled over the layers "
                 "(default: a palette)."),
]
PenWidth = Annotated[
    str, typer.Option("--pen-width", help="Pen width written to the layers (vp_pen_width).")
]
Name = Annotated[str | None, typer.Option("--name", help="Base layer name.")]
Optimize = Annotated[
    bool, typer.Option("--optimize", help="Run vpype's linemerge, linesimplify, reloop "
                       "and linesort on the result.")
]
Svg = Annotated[
    str, typer.Option("--svg", help="The SVG file whose drawings are used.")
]
WholeLayer = Annotated[
    bool, typer.Option("--whole-layer", help="Treat the file as one drawing (default: "
                       "split it where drawings are apart).")
]
Margin = Annotated[
    str, typer.Option("--margin", help="Paths closer than this belong to the same drawing.")
]
Variations = Annotated[
    int, typer.Option("--variations", "-n", help="Versions per drawing, each on its own "
                      "layer.")
]


# -- interpolate's own options ------------------------------------------------------------

Endpoints = Annotated[
    list[str] | None,
    typer.Option("--endpoint", "-e", help="A drawing to interpolate from/to (twice; four "
                 "times with --grid): an SVG file or a point of the prior (seed:N)."),
]
Steps = Annotated[
    int, typer.Option("--steps", help="Drawings from the first endpoint to the second, both "
                      "included.")
]
Method = Annotated[
    str, typer.Option("--method", help="slerp or lerp: spherical or linear interpolation "
                      "of the latent vectors.")
]
Grid = Annotated[
    str | None,
    typer.Option("--grid", help="ROWSxCOLUMNS grid from four corners (top-left, top-right, "
                 "bottom-left, bottom-right endpoints), bilinear in latent space (--method "
                 "does not apply)."),
]
Size = Annotated[
    str | None, typer.Option("--size", help="Box side of each drawing (default: the largest "
                             "that fits the page).")
]
Gap = Annotated[str, typer.Option("--gap", help="Space between drawings.")]
PageSize = Annotated[
    str, typer.Option("--page-size", "-p", help="Page the drawings are fitted onto.")
]
Landscape = Annotated[bool, typer.Option("--landscape", help="Landscape page.")]
Layers = Annotated[
    str, typer.Option("--layers", help="per-row, per-cell or single: one layer per row, one "
                      "per drawing, or one for all.")
]


@contextlib.contextmanager
def _option_errors() -> Iterator[None]:
    """Bad options as typer's usage errors; other library errors go to ``main``."""
    try:
        yield
    except OptionError as exc:
        if exc.option is None:
            raise
        raise typer.BadParameter(str(exc), param_hint=exc.option) from None


def _length(value: str, option: str) -> float:
    """A length with vpype's units (``5mm``, ``2cm``, ``1in``; px without a unit) in px."""
    import vpype as vp

    try:
        return float(vp.convert_length(value))
    except ValueError:
        raise OptionError(f"not a length: {value!r}", option) from None


def _page_size(value: str) -> tuple[float, float]:
    """A page as vpype names it (``a4``, ``letter``, ``20cmx30cm``) in px."""
    import vpype as vp

    try:
        width, height = vp.convert_page_size(value)
    except ValueError:
        raise OptionError(f"not a page size: {value!r}", "'-p' / '--page-size'") from None
    return float(width), float(height)


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise OptionError(f"{value!r} is not one of {', '.join(choices)}", option)
    return value


def _load(category: str | None, model: str | None, engine: str = "numpy"
          ) -> tuple[SketchModel, str]:
    from sketchart.page.models import load_sketch_model, model_source

    name, source = model_source(category, model)
    return load_sketch_model(source, engine, progress=True), name


def _settings(
    temperature: float, seed: int | None, greedy: bool, max_len: int | None,
    colors: str | None, pen_width: str, name: str | None, optimize: bool,
) -> tuple[Sampling, Pens]:
    from sketchart.page.options import Pens, Sampling, draw_seed

    pens = Pens(colors, _length(pen_width, "'--pen-width'"), name, optimize)
    return Sampling(temperature, draw_seed(seed), greedy, max_len), pens


def _write(doc: vp.Document, output: Path, command: str, model: str, sampling: Sampling
           ) -> None:
    from sketchart.cli.generate import write_svg_file

    source = (f"sketchart {command} --model {model} -t {sampling.temperature:g} "
              f"--seed {sampling.seed}" + (" --greedy" if sampling.greedy else ""))
    write_svg_file(doc, output, source)
    layers = len(doc.layers)
    typer.echo(f"wrote {output}: {layers} layer(s), seed {sampling.seed}")


def interpolate_command(
    output: Output,
    endpoints: Endpoints = None,
    category: Category = None,
    model: Model = None,
    temperature: Temperature = 0.65,
    seed: Seed = None,
    greedy: Greedy = False,
    max_len: MaxLen = None,
    engine: Engine = "numpy",
    steps: Steps = 8,
    method: Method = "slerp",
    grid: Grid = None,
    size: Size = None,
    gap: Gap = "5mm",
    page_size: PageSize = "a4",
    landscape: Landscape = False,
    layers: Layers = "per-row",
    colors: Colors = None,
    pen_width: PenWidth = "0.3mm",
    name: Name = None,
    optimize: Optimize = False,
) -> None:
    """Morph between drawings through a conditional model's latent space; write an SVG.

    Needs a conditional (VAE) model. Without endpoints, random points of the prior are used.
    """
    import vpype as vp

    from sketchart.page.models import require_conditional
    from sketchart.page.options import oriented_page
    from sketchart.page.plans import check_interpolate, interpolate_page

    ends = tuple(endpoints or ())
    with _option_errors():
        _choice(method, ("slerp", "lerp"), "'--method'")
        _choice(layers, ("per-row", "per-cell", "single"), "'--layers'")
        box = None if size is None else _length(size, "'--size'")
        space = _length(gap, "'--gap'")
        page = oriented_page(_page_size(page_size), landscape)
        # the page and grid before the model is loaded
        shape = check_interpolate(temperature, grid, ends, steps, size=box, gap=space,
                                  page_size=page)
        net, model_name = _load(category, model, engine)
        require_conditional(net, model_name, "sketchart interpolate")
        sampling, pens = _settings(temperature, seed, greedy, max_len,
                                   colors, pen_width, name, optimize)
    doc = interpolate_page(
        vp.Document(), net, model_name, sampling, ends, steps=steps, method=method,
        grid=shape, size=box, gap=space, page_size=page, layers=layers, pens=pens,
        command="sketchart interpolate",
    )
    _write(doc, output, "interpolate", model_name, sampling)


def reconstruct_command(
    output: Output,
    svg: Svg,
    category: Category = None,
    model: Model = None,
    temperature: Temperature = 0.65,
    seed: Seed = None,
    greedy: Greedy = False,
    max_len: MaxLen = None,
    engine: Engine = "numpy",
    whole_layer: WholeLayer = False,
    margin: Margin = "2mm",
    variations: Variations = 1,
    colors: Colors = None,
    pen_width: PenWidth = "0.3mm",
    name: Name = None,
    optimize: Optimize = False,
) -> None:
    """Encode each drawing of --svg and redraw it with a conditional model, in place.

    Each variation goes to a layer of its own, fitted into the original drawing's box.
    """
    _redraw("reconstruct", **locals())


def complete_command(
    output: Output,
    svg: Svg,
    category: Category = None,
    model: Model = None,
    temperature: Temperature = 0.65,
    seed: Seed = None,
    greedy: Greedy = False,
    max_len: MaxLen = None,
    engine: Engine = "numpy",
    whole_layer: WholeLayer = False,
    margin: Margin = "2mm",
    variations: Variations = 1,
    colors: Colors = None,
    pen_width: PenWidth = "0.3mm",
    name: Name = None,
    optimize: Optimize = False,
) -> None:
    """Continue the partial drawings of --svg with a model (any model).

    The new strokes go to a layer per variation, where the drawing they continue is.
    """
    _redraw("complete", **locals())


def _redraw(
    command: str, *, output: Path, svg: str, category: str | None, model: str | None,
    temperature: float, seed: int | None, greedy: bool, max_len: int | None, engine: str,
    whole_layer: bool, margin: str, variations: int, colors: str | None, pen_width: str,
    name: str | None, optimize: bool,
) -> None:
    """``reconstruct`` (a conditional model only) or ``complete``: the drawings of ``svg``
    redrawn in place; the keywords are the command's options."""
    import vpype as vp

    from sketchart.page.models import require_conditional
    from sketchart.page.options import check_at_least, check_temperature
    from sketchart.page.redraw import complete_page, reconstruct_page
    from sketchart.page.sources import source_drawings

    with _option_errors():
        check_temperature(temperature)
        check_at_least(variations, 1, "'-n'")
        space = _length(margin, "'--margin'")
        net, model_name = _load(category, model, engine)
        if command == "reconstruct":
            require_conditional(net, model_name, "sketchart reconstruct")
        sampling, pens = _settings(temperature, seed, greedy, max_len,
                                   colors, pen_width, name, optimize)
    doc = vp.Document()
    drawings = source_drawings(doc, [], svg, whole_layer, space)
    page = reconstruct_page if command == "reconstruct" else complete_page
    page(doc, net, model_name, sampling, drawings, variations=variations, pens=pens,
         command=f"sketchart {command}")
    _write(doc, output, command, model_name, sampling)
