"""vpype commands: ``sketchrnn-sample``, ``-interpolate``, ``-reconstruct``, ``-complete``.

Plain click + ``vpype_cli`` decorators (typer's vendored click does not mix with vpype).
Every command is a global processor: it writes several layers with their pen properties
(``vp_color``, ``vp_name``, ``vp_pen_width``), which vpype's ``generator`` wrapper would drop.
The model is imported inside the processors, so ``vpype --help`` never pays for
TensorFlow. Library errors become vpype-style one-line messages (``click.ClickException``),
never a traceback.

Reproducibility: without ``--seed`` a seed is drawn from numpy's global generator, which
vpype seeds from its ``-s`` option, so ``vpype -s 7 ...`` gives the same file every time;
seed, temperature, model and version go into the document's properties
(:func:`sketchart.page.layout.set_sketch_metadata`).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import click
import numpy as np
import vpype as vp
import vpype_cli

from sketchart.errors import SketchartError
from sketchart.page import layout

__all__ = [
    "sketchrnn_complete",
    "sketchrnn_interpolate",
    "sketchrnn_reconstruct",
    "sketchrnn_sample",
]

HELP_GROUP = "sketchart"

# Side of the box a drawing read from a page is fitted into before it goes to the model:
# QuickDraw's simplified drawings (the sketch-rnn datasets) fill a 0-255 box, and Google's
# simplification uses RDP at 2 units of that box.
MODEL_BOX = 255.0
MODEL_RDP_EPSILON = 2.0

# loaded models by name or path: vpype's ``grid`` block runs a command once per cell
_MODELS: dict[str, Any] = {}


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's user errors into click's one-line errors."""
    from sketchart.hparams import HParamsError

    try:
        yield
    except (SketchartError, HParamsError) as exc:
        raise click.ClickException(
            str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise click.ClickException(f"{exc.strerror}: {exc.filename}") from None


def _load_model(category: str | None, model: str | None) -> tuple[Any, str]:
    """The model named by ``--category`` or ``--model``, loaded once per process."""
    if category and model:
        raise click.UsageError("give --category or --model, not both")
    name = category or model
    if not name:
        raise click.UsageError("give a model: --category NAME or --model NAME|PATH")
    if model and _looks_like_path(model) and not pathlib.Path(model).expanduser().exists():
        raise click.BadParameter(f"no such file or directory: {model}", param_hint="'--model'")
    key = str(pathlib.Path(name).expanduser().resolve()) if _looks_like_path(name) else name
    if key not in _MODELS:
        from sketchart.hub.store import load_model

        with _user_errors():
            _MODELS[key] = load_model(str(pathlib.Path(name).expanduser()) if model else name)
    return _MODELS[key], name


def _looks_like_path(name: str) -> bool:
    suffixes = (".json", ".h5", ".keras")
    return name.endswith(suffixes) or name.startswith((".", "/", "~")) or "\\" in name


def _seed(seed: int | None) -> int:
    # numpy's global generator is seeded by vpype's -s; each call (each grid cell) differs
    return int(np.random.randint(2**31)) if seed is None else int(seed)


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise click.BadParameter(
            f"must be positive, got {temperature:g}", param_hint="'-t' / '--temperature'"
        )


def _record(document: vp.Document, **props: Any) -> None:
    """Write how the drawing was made into the document's properties."""
    from sketchart import __version__

    seed = props.get("seed")
    if seed is not None:
        # every call of a pipeline (every cell of a grid block) adds its seed
        previous = document.property("sketchart_seeds")
        props["seeds"] = f"{previous} {seed}" if previous else str(seed)
    layout.set_sketch_metadata(document, **props, version=__version__)


def _label(seed: int, temperature: float) -> str:
    """Layer-name suffix: plain ``write`` keeps layer names, so the SVG says how to remake
    it."""
    return f" (seed {seed}, T={temperature:g})"


def _page(
    page_size: tuple[float, float] | None, landscape: bool
) -> tuple[float, float] | None:
    if page_size is None:
        return None
    w, h = page_size
    return (max(w, h), min(w, h)) if landscape else (w, h)


def _model_name(model: Any, name: str) -> str:
    """Short name for layer labels: the data set or the file's stem."""
    meta = getattr(model, "meta", None)
    data_set = getattr(meta, "data_set", None)
    if isinstance(data_set, list | tuple):
        data_set = data_set[0] if len(data_set) == 1 else None
    if data_set:
        return pathlib.Path(str(data_set)).name.split(".")[0]
    stem = pathlib.Path(name).name
    for suffix in (".gen.json", ".vae.json", ".json"):
        stem = stem.removesuffix(suffix)
    return stem


def _is_conditional(model: Any) -> bool:
    hps = getattr(model, "hps", None)
    return bool(getattr(hps, "conditional", False))


def _add_layers(document: vp.Document, built: vp.Document, start: int | None = None) -> None:
    """Copy ``built``'s layers into ``document`` (new ids from ``start``), with properties."""
    lid = document.free_id() if start is None else start
    for offset, layer_id in enumerate(sorted(built.layers)):
        document.add(built.layers[layer_id], lid + offset, with_metadata=True)
    if built.page_size is not None:
        document.extend_page_size(built.page_size)


# -- options shared by the commands ------------------------------------------------------

_MODEL_OPTIONS = (
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
)

_PEN_OPTIONS = (
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


def _apply(options: Sequence[Any]):
    def decorator(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorator


# -- sketchrnn-sample ---------------------------------------------------------------------


@click.command("sketchrnn-sample")
@_apply(_MODEL_OPTIONS)
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
@_apply(_PEN_OPTIONS)
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
def sketchrnn_sample(
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
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
    _check_temperature(temperature)
    if count < 1:
        raise click.BadParameter(f"must be at least 1, got {count}", param_hint="'-n'")
    if layout_mode == "cell" and count != 1:
        raise click.UsageError(
            "--layout cell draws one sketch per call (for vpype's grid block); "
            "use -n 1 or --layout grid"
        )
    net, model_name = _load_model(category, model)
    seed = _seed(seed)
    from sketchart.generate.sampling import REDRAW_ROUNDS, sample

    with _user_errors():
        sketches = sample(
            net, count, temperature=temperature, greedy=greedy, seed=seed, max_len=max_len,
            redraw_empty=0 if keep_empty else REDRAW_ROUNDS,
        )
        built = layout.layout_document(
            sketches,
            size=size,
            gap=gap,
            layout=layout_mode,
            columns=columns,
            page_size=_page(page_size, landscape),
            layers=layers,
            colors=colors if colors is not None else (None if layers != "single" else "black"),
            name=name or _model_name(net, model_name),
            name_suffix=_label(seed, temperature),
            pen_width=pen_width,
            optimize=optimize,
            optimize_seed=seed,
        )
    target = vpype_cli.single_to_layer_id(layer, document) if layers == "single" else None
    if layers != "single" and layer is not None and layer is not vpype_cli.LayerType.NEW:
        target = layer
    _add_layers(document, built, target)
    _record(
        document,
        command="sketchrnn-sample",
        model=model_name,
        seed=seed,
        temperature=temperature,
        greedy=greedy,
        count=count,
    )
    return document


sketchrnn_sample.help_group = HELP_GROUP


# -- drawings read from the page or from files -------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """How a drawing on the page maps to the model's units: ``px = model / scale + origin``."""

    scale: float
    origin: np.ndarray

    def to_model(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [(np.asarray(line) - self.origin) * self.scale for line in lines]

    def to_page(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(line) / self.scale + self.origin for line in lines]


def _to_model_strokes(
    lines: Sequence[np.ndarray], what: str, max_len: int | None
) -> tuple[np.ndarray, _Frame]:
    """A drawing (px polylines) as model-ready stroke-3 in dataset units, and its frame.

    The drawing is fitted into a 255 box and simplified as Google simplified QuickDraw
    (RDP, 2 units), so that a drawing from any source looks like the training data.
    """
    from shapely.geometry import LineString

    from sketchart.strokes import lines_to_strokes3

    bounds = layout.drawing_bounds(lines)
    if bounds is None:
        raise SketchartError(f"{what} is empty: nothing to encode")
    extent = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    if extent <= 0:
        raise SketchartError(f"{what} has no extent (a single point)")
    frame = _Frame(MODEL_BOX / extent, np.array(bounds[:2]))
    simplified = []
    for line in frame.to_model(lines):
        if len(line) >= 3:
            coords = np.asarray(LineString(line).simplify(MODEL_RDP_EPSILON).coords)
            line = coords if len(coords) >= 2 else line[[0, -1]]
        simplified.append(line)
    strokes3 = lines_to_strokes3(simplified, dtype=np.float64)
    if max_len is not None and len(strokes3) > max_len:
        raise SketchartError(
            f"{what} has {len(strokes3)} points after simplification, more than the "
            f"model's max_seq_len {max_len}"
        )
    return strokes3, frame


def _max_seq_len(model: Any) -> int | None:
    meta = getattr(model, "meta", None)
    value = getattr(meta, "max_seq_len", None) or getattr(
        getattr(model, "hps", None), "max_seq_len", None
    )
    return int(value) if value else None


def _read_svg_lines(path: str) -> list[np.ndarray]:
    file = pathlib.Path(path).expanduser()
    if not file.is_file():
        raise SketchartError(f"no such SVG file: {path}")
    try:
        doc = vp.read_multilayer_svg(str(file), quantization=vp.convert_length("0.1mm"))
    except Exception as exc:  # svgelements raises many kinds of errors on bad files
        raise SketchartError(f"cannot read SVG {path}: {exc}") from exc
    return [line for lc in doc.layers.values() for line in layout.complex_to_lines(lc)]


def _layer_lines(document: vp.Document, layer_id: int) -> list[np.ndarray]:
    if layer_id not in document.layers:
        raise SketchartError(f"layer {layer_id} does not exist")
    return layout.complex_to_lines(document.layers[layer_id])


# -- sketchrnn-interpolate ----------------------------------------------------------------


def _parse_grid(grid: str | None) -> tuple[int, int] | None:
    if grid is None:
        return None
    parts = grid.lower().replace("*", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(
            f"expected ROWSxCOLUMNS, got {grid!r}", param_hint="'--grid'"
        ) from None
    if rows < 2 or cols < 2:
        raise click.BadParameter(f"needs at least 2x2, got {grid!r}", param_hint="'--grid'")
    return rows, cols


def _endpoint_z(net: Any, document: vp.Document, spec: str, max_len: int | None) -> np.ndarray:
    """Latent vector of an endpoint: ``seed:N``, a layer id (``3`` or ``layer:3``), or an
    SVG."""
    from sketchart.generate.sampling import encode

    z_size = int(net.hps.z_size)
    if spec.startswith("seed:"):
        try:
            seed = int(spec[5:])
        except ValueError:
            raise SketchartError(f"bad endpoint {spec!r}: expected seed:N") from None
        # a point of the prior N(0, I), the same draw on every backend
        return np.random.default_rng(seed).standard_normal(z_size).astype(np.float32)
    if spec.isdigit() or spec.startswith("layer:"):
        layer_id = int(spec.removeprefix("layer:"))
        lines, what = _layer_lines(document, layer_id), f"layer {layer_id}"
    else:
        lines, what = _read_svg_lines(spec), spec
    strokes3, _ = _to_model_strokes(lines, what, max_len)
    return np.asarray(encode(net, [strokes3]))[0]


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
@_apply(_MODEL_OPTIONS)
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
@_apply(_PEN_OPTIONS)
@vpype_cli.global_processor
def sketchrnn_interpolate(
    document: vp.Document,
    endpoints: tuple[str, ...],
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
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
    _check_temperature(temperature)
    shape = _parse_grid(grid)
    wanted = 4 if shape else 2
    if endpoints and len(endpoints) != wanted:
        raise click.UsageError(
            f"give {wanted} endpoints (-e){' for --grid' if shape else ''}, "
            f"got {len(endpoints)}"
        )
    if not shape and steps < 2:
        raise click.BadParameter(f"must be at least 2, got {steps}", param_hint="'--steps'")
    net, model_name = _load_model(category, model)
    if not _is_conditional(net):
        raise click.UsageError(
            f"sketchrnn-interpolate needs a conditional (VAE) model; {model_name} is "
            "decoder-only"
        )
    seed = _seed(seed)
    if not endpoints:
        # random points of the prior, reproducible through the sampling seed
        endpoints = tuple(f"seed:{seed + k + 1}" for k in range(wanted))
    page = _page(page_size, landscape)
    from sketchart.generate.sampling import grid as latent_grid
    from sketchart.generate.sampling import interpolate

    with _user_errors():
        zs = [_endpoint_z(net, document, spec, _max_seq_len(net)) for spec in endpoints]
        common = {
            "temperature": temperature,
            "greedy": greedy,
            "seed": seed,
            "max_len": max_len,
        }
        if shape:
            rows, cols = shape
            table = latent_grid(net, zs, rows=rows, cols=cols, **common)
            sketches = [sketch for row in table for sketch in row]
        else:
            rows, cols = 1, steps
            sketches = interpolate(net, zs[0], zs[1], steps=steps, method=method, **common)
        built = layout.layout_document(
            sketches,
            size=size,
            gap=gap,
            columns=cols,
            rows=rows,
            page_size=page,
            layers={"per-cell": "per-sketch"}.get(layers, layers),
            colors=colors if colors is not None else (None if layers != "single" else "black"),
            name=name or _model_name(net, model_name),
            name_suffix=_label(seed, temperature),
            pen_width=pen_width,
            optimize=optimize,
            optimize_seed=seed,
        )
    _add_layers(document, built)
    _record(
        document,
        command="sketchrnn-interpolate",
        model=model_name,
        seed=seed,
        temperature=temperature,
        greedy=greedy,
        endpoints=" ".join(endpoints),
        method=method,
    )
    return document


sketchrnn_interpolate.help_group = HELP_GROUP


# -- sketchrnn-reconstruct and sketchrnn-complete -----------------------------------------


def _source_drawings(
    document: vp.Document,
    layer: int | list[int] | None,
    svg: str | None,
    whole_layer: bool,
    margin: float,
) -> list[tuple[str, list[np.ndarray]]]:
    """The drawings to work on: each drawing of the chosen layers, or of an SVG file."""
    if svg is not None:
        sources = [(svg, _read_svg_lines(svg))]
    else:
        ids = vpype_cli.multiple_to_layer_ids(layer, document)
        if not ids:
            if not document.layers:
                raise SketchartError("no layer to read drawings from (the document is empty)")
            have = ", ".join(str(lid) for lid in sorted(document.layers))
            raise SketchartError(f"layer {layer} does not exist (layers: {have})")
        sources = [(f"layer {lid}", _layer_lines(document, lid)) for lid in ids]
    drawings = []
    for what, lines in sources:
        if not lines:
            raise SketchartError(f"{what} is empty: nothing to encode")
        if whole_layer:
            drawings.append((what, lines))
        else:
            parts = layout.split_drawings(lines, margin=margin)
            drawings.extend(
                (f"{what} drawing {k + 1}" if len(parts) > 1 else what, part)
                for k, part in enumerate(parts)
            )
    return drawings


_SOURCE_OPTIONS = (
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


def _variation_layers(
    document: vp.Document,
    per_variation: list[list[np.ndarray]],
    colors: str | None,
    pen_width: float,
    base: str,
    suffix: str,
    optimize: bool,
    seed: int,
) -> None:
    """One new layer per variation; colours start after black, kept for the originals."""
    palette = layout.parse_colors(colors) if colors else layout.parse_colors(None)[1:]
    for k, lines in enumerate(per_variation):
        lc = vp.LineCollection()
        for line in lines:
            if len(line) >= 2:
                lc.append(line[:, 0] + 1j * line[:, 1])
        lc.set_property(
            vp.METADATA_FIELD_NAME,
            (f"{base} {k + 1}" if len(per_variation) > 1 else base) + suffix,
        )
        lc.set_property(vp.METADATA_FIELD_COLOR, palette[k % len(palette)])
        lc.set_property(vp.METADATA_FIELD_PEN_WIDTH, float(pen_width))
        built = vp.Document()
        built.add(lc, 1, with_metadata=True)
        if optimize:
            layout.optimize_document(built, seed=seed + k)
        _add_layers(document, built)


@click.command("sketchrnn-reconstruct")
@_apply(_MODEL_OPTIONS)
@_apply(_SOURCE_OPTIONS)
@click.option("--replace", is_flag=True, help="Delete the source layers.")
@_apply(_PEN_OPTIONS)
@vpype_cli.global_processor
def sketchrnn_reconstruct(
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
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
    _check_temperature(temperature)
    if variations < 1:
        raise click.BadParameter(f"must be at least 1, got {variations}", param_hint="'-n'")
    net, model_name = _load_model(category, model)
    if not _is_conditional(net):
        raise click.UsageError(
            f"sketchrnn-reconstruct needs a conditional (VAE) model; {model_name} is "
            "decoder-only"
        )
    seed = _seed(seed)
    from sketchart.generate.sampling import decode, encode

    with _user_errors():
        drawings = _source_drawings(document, layer, svg, whole_layer, margin)
        prepared = [
            _to_model_strokes(lines, what, _max_seq_len(net)) for what, lines in drawings
        ]
        z = np.asarray(encode(net, [strokes3 for strokes3, _ in prepared]))
        # every variation of every drawing in one batch: row k * len(drawings) + i
        z_all = np.tile(z, (variations, 1))
        redrawn = decode(
            net, z_all, temperature=temperature, greedy=greedy, seed=seed, max_len=max_len
        )
    from sketchart.strokes import strokes3_to_lines

    per_variation: list[list[np.ndarray]] = [[] for _ in range(variations)]
    for k in range(variations):
        for i, (_, lines) in enumerate(drawings):
            box = layout.drawing_bounds(lines)
            assert box is not None  # empty drawings were refused above
            side = max(box[2] - box[0], box[3] - box[1])
            center = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
            strokes3 = redrawn[k * len(drawings) + i]
            per_variation[k].extend(
                layout.fit_lines(strokes3_to_lines(strokes3), side, center)
            )
    if replace:
        for lid in {int(w.split()[1]) for w, _ in drawings if w.startswith("layer ")}:
            document.pop(lid)
    _variation_layers(
        document,
        per_variation,
        colors,
        pen_width,
        name or f"{_model_name(net, model_name)} reconstruction",
        _label(seed, temperature),
        optimize,
        seed,
    )
    _record(
        document,
        command="sketchrnn-reconstruct",
        model=model_name,
        seed=seed,
        temperature=temperature,
        greedy=greedy,
        variations=variations,
    )
    return document


sketchrnn_reconstruct.help_group = HELP_GROUP


@click.command("sketchrnn-complete")
@_apply(_MODEL_OPTIONS)
@_apply(_SOURCE_OPTIONS)
@_apply(_PEN_OPTIONS)
@vpype_cli.global_processor
def sketchrnn_complete(
    document: vp.Document,
    category: str | None,
    model: str | None,
    temperature: float,
    seed: int | None,
    greedy: bool,
    max_len: int | None,
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
    _check_temperature(temperature)
    if variations < 1:
        raise click.BadParameter(f"must be at least 1, got {variations}", param_hint="'-n'")
    net, model_name = _load_model(category, model)
    seed = _seed(seed)
    from sketchart.generate.sampling import complete

    with _user_errors():
        drawings = _source_drawings(document, layer, svg, whole_layer, margin)
        per_variation: list[list[np.ndarray]] = [[] for _ in range(variations)]
        for i, (what, lines) in enumerate(drawings):
            # a conditional model encodes the partial drawing, so it must fit max_seq_len
            limit = _max_seq_len(net) if _is_conditional(net) else None
            partial, frame = _to_model_strokes(lines, what, limit)
            continuations = complete(
                net,
                partial,
                variations,
                temperature=temperature,
                greedy=greedy,
                seed=seed + i,
                max_len=max_len,
                include_partial=False,
            )
            start = np.cumsum(partial[:, :2], axis=0)[-1]
            for k, strokes3 in enumerate(continuations):
                per_variation[k].extend(frame.to_page(_continuation_lines(strokes3, start)))
    _variation_layers(
        document,
        per_variation,
        colors,
        pen_width,
        name or f"{_model_name(net, model_name)} completion",
        _label(seed, temperature),
        optimize,
        seed,
    )
    _record(
        document,
        command="sketchrnn-complete",
        model=model_name,
        seed=seed,
        temperature=temperature,
        greedy=greedy,
        variations=variations,
    )
    return document


sketchrnn_complete.help_group = HELP_GROUP


def _continuation_lines(strokes3: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
    """Polylines of new strokes that start where the partial drawing's pen is."""
    from sketchart.strokes import strokes3_to_lines

    strokes3 = np.asarray(strokes3, dtype=np.float64)
    if len(strokes3) == 0:
        return []
    # the pen is up after the partial drawing's last point: the first offset is a move
    return strokes3_to_lines(strokes3, start=(float(start[0]), float(start[1])))
