"""Draw Sketch-RNN sketches into a vsketch sketch or a vpype ``Document``, at a place.

Creative-coding sketches want one call that says "a flamingo here, this big"::

    from sketchart.page.place import draw_sketch, draw_grid, draw_interpolation

    draw_sketch(vsk, "flamingo", x=100, y=100, size="4cm", temperature=0.4, seed=7)
    draw_grid(doc, "sheep", 0, 0, "20cm", "10cm", rows=2, cols=4, seed=1, layer=2)

Every function takes a *target* (a ``vsketch.Vsketch`` or any ``vpype.Document``), a
*model* (a name the model store knows, ``flamingo`` or ``sheep``, a path to a model
directory or a ``.gen.json``, or a :class:`NumpySketchRNN` already loaded) and a box: its
top-left corner ``x, y`` and its size, in CSS pixels or vpype length strings (``"3cm"``).
A sketch keeps its aspect ratio and is centred in its box, so a grid of boxes lines up.

On a ``Vsketch`` the lines go through ``vsk.polygon``, so vsketch's current transform,
stroke layer and stroke weight apply as to any vsketch primitive (a fill, if set, applies
too: call ``vsk.noFill()`` first). ``layer`` picks another stroke layer for these lines
only. On a ``Document`` the lines go into ``layer`` (default 1).

Seeds: ``seed=None`` on a ``Vsketch`` draws the seed from vsketch's own generator, so
``vsk save --seed 7`` (or the viewer's seed control) redraws the same page; on a
``Document`` it means a fresh drawing every call.

Sampling uses the NumPy engine: importing this module or drawing never imports TensorFlow,
Keras or JAX, and never imports vsketch either (a target is recognised by what it does),
so vsketch stays an optional extra. Engines are cached by model (:func:`load_engine`): a
vsketch ``draw()`` that runs again on every parameter change does not reload weights.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError
from sketchart.generate.numpy_engine import NumpySketchRNN
from sketchart.strokes import strokes3_to_lines

if TYPE_CHECKING:
    import vsketch

    Target: TypeAlias = vp.Document | vsketch.Vsketch

__all__ = [
    "PlaceError",
    "cell_boxes",
    "clear_engine_cache",
    "draw_grid",
    "draw_interpolation",
    "draw_sketch",
    "draw_strokes",
    "load_engine",
]

#: A length: CSS pixels, or a vpype length string such as ``"3cm"`` or ``"0.5in"``.
Length: TypeAlias = float | str
#: A model: a store name, a path, or an engine already loaded.
ModelLike: TypeAlias = str | os.PathLike[str] | NumpySketchRNN
#: A box ``(x, y, width, height)`` in CSS pixels.
Box: TypeAlias = tuple[float, float, float, float]

# How many engines stay loaded: a page rarely mixes more models than this, and each one
# holds a few MB of weights.
_CACHE_SIZE = 8
_engines: OrderedDict[tuple[str, int], NumpySketchRNN] = OrderedDict()


class PlaceError(SketchartError):
    """A box, layer or model that cannot be drawn."""


# ------------------------------------------------------------------ engines
def load_engine(model: ModelLike, *, download: bool = True) -> NumpySketchRNN:
    """The NumPy engine of ``model``, loaded once and then reused.

    vsketch calls ``draw()`` again on every parameter change; loading weights each time
    would make the viewer lag. The cache key is the resolved file and its modification
    time, so a name and its path share one engine and a retrained model is reloaded.

    Args:
        model: a store name (``flamingo``, ``google/cat``, ``sheep``), a path to a model
            directory or a ``.gen.json``/``.vae.json`` file, or an engine (returned as is).
        download: let the store download a Google catalog model that is not cached yet.
    """
    if isinstance(model, NumpySketchRNN):
        return model
    path = _model_path(model, download)
    key = (str(path.resolve()), _mtime_ns(path))
    engine = _engines.get(key)
    if engine is None:
        engine = NumpySketchRNN.load(path)
        _engines[key] = engine
        while len(_engines) > _CACHE_SIZE:
            _engines.popitem(last=False)
    _engines.move_to_end(key)
    return engine


def clear_engine_cache() -> None:
    """Forget every loaded engine (to free memory, or in tests)."""
    _engines.clear()


def _model_path(model: str | os.PathLike[str], download: bool) -> Path:
    # only the store's resolution and download: its load_model keeps no engine cache and
    # reads a magenta checkpoint through Keras; this module stays TF-free and cached
    from sketchart.hub import store

    source = store.resolve(model)
    if source.kind == "google":
        return store.fetch_google(source.name, download=download)
    if source.kind == "checkpoint" or source.path is None:
        raise PlaceError(
            f"{source.name}: a magenta TensorFlow checkpoint; convert it to a model "
            "directory first (`sketchart convert`)")
    return source.path


def _mtime_ns(path: Path) -> int:
    """Newest modification time of a file, or of a directory and the files in it."""
    if path.is_file():
        return path.stat().st_mtime_ns
    return max([path.stat().st_mtime_ns] +
               [p.stat().st_mtime_ns for p in path.iterdir() if p.is_file()])


# ------------------------------------------------------------------- boxes
def _px(value: Length, what: str) -> float:
    try:
        return float(vp.convert_length(value))
    except (TypeError, ValueError) as exc:
        raise PlaceError(f"{what}: not a length: {value!r} ({exc})") from None


def _box(x: Length, y: Length, width: Length, height: Length) -> Box:
    box = (_px(x, "x"), _px(y, "y"), _px(width, "width"), _px(height, "height"))
    if box[2] <= 0 or box[3] <= 0:
        raise PlaceError(f"a box needs a positive width and height, got {box[2:]}")
    return box


def cell_boxes(x: Length, y: Length, width: Length, height: Length, rows: int, cols: int,
               gap: Length = 0.0) -> list[Box]:
    """Row-major boxes of a ``rows × cols`` grid filling a box, ``gap`` between cells.

    Public so that a sketch can frame or label the cells that :func:`draw_grid` fills.
    """
    for name, n in (("rows", rows), ("cols", cols)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PlaceError(f"{name} must be a positive integer, got {n!r}")
    x0, y0, w, h = _box(x, y, width, height)
    g = _px(gap, "gap")
    cw, ch = (w - (cols - 1) * g) / cols, (h - (rows - 1) * g) / rows
    if cw <= 0 or ch <= 0:
        raise PlaceError(f"gap {g:.4g}px leaves no room for {rows}x{cols} cells")
    return [(x0 + c * (cw + g), y0 + r * (ch + g), cw, ch)
            for r in range(rows) for c in range(cols)]


def _fit(strokes3: np.ndarray, box: Box) -> list[np.ndarray]:
    """Polylines of a sketch scaled uniformly into ``box`` and centred in it."""
    lines = strokes3_to_lines(np.asarray(strokes3))
    if not lines:
        return []
    points = np.vstack(lines)
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = hi - lo
    x, y, w, h = box
    # the tighter side decides, so the aspect ratio stays; a dot stays a dot, unscaled
    ratios = [side / e for side, e in zip((w, h), extent) if e > 0]
    scale = min(ratios) if ratios else 1.0
    centre = np.array([x + w / 2.0, y + h / 2.0])
    return [(line - (lo + hi) / 2.0) * scale + centre for line in lines]


# ------------------------------------------------------------------ targets
def _is_document(target: Any) -> bool:
    return isinstance(target, vp.Document)


def _check_layer(layer: int | None) -> None:
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int)
                              or layer < 1):
        raise PlaceError(f"layer must be an integer >= 1, got {layer!r}")


def _emit(target: Target, lines: Sequence[np.ndarray], layer: int | None) -> None:
    """Add ``[k, 2]`` polylines to a ``Document`` layer or through ``vsk.polygon``."""
    paths = [line[:, 0] + 1j * line[:, 1] for line in lines]
    if _is_document(target):
        target.add(vp.LineCollection(paths), 1 if layer is None else layer)
        return
    if not hasattr(target, "polygon"):
        raise PlaceError(
            f"cannot draw into a {type(target).__name__}: expected a vpype Document or "
            "a vsketch.Vsketch")
    # vsketch has no public getter for the stroke layer: read it to restore it after
    previous = getattr(target, "_cur_stroke", None)
    if layer is not None:
        target.stroke(layer)
    try:
        for path in paths:
            target.polygon(path)
    finally:
        if layer is not None:
            if previous is None:
                target.noStroke()
            else:
                target.stroke(previous)


def _seed(target: Target, seed: int | None) -> int | None:
    """An explicit seed, else one from vsketch's generator (so vsketch's seed rules)."""
    if seed is not None or _is_document(target) or not hasattr(target, "random"):
        return seed
    return int(target.random(0, 2**31 - 1))


def _draw_all(target: Target, drawings: Sequence[np.ndarray], boxes: Sequence[Box],
              layer: int | None) -> list[list[np.ndarray]]:
    placed = [_fit(d, box) for d, box in zip(drawings, boxes)]
    _emit(target, [line for lines in placed for line in lines], layer)
    return placed


# ------------------------------------------------------------------ drawing
def draw_strokes(target: Target, strokes3: np.ndarray, x: Length, y: Length,
                 width: Length, height: Length | None = None, *,
                 layer: int | None = None) -> list[np.ndarray]:
    """Place a stroke-3 drawing you already have (sampled, interpolated, from a dataset).

    The drawing is scaled uniformly into the box with top-left corner ``x, y`` and size
    ``width × height`` (``height`` defaults to ``width``: a square box) and centred in it.

    Returns:
        The placed ``[k, 2]`` polylines, in the target's coordinates (before vsketch's
        transform), e.g. to frame or hatch around them.
    """
    _check_layer(layer)
    box = _box(x, y, width, width if height is None else height)
    return _draw_all(target, [strokes3], [box], layer)[0]


def draw_sketch(target: Target, model: ModelLike, x: Length, y: Length, size: Length,
                height: Length | None = None, *, temperature: float = 0.4,
                seed: int | None = None, layer: int | None = None, z: Any = None,
                temperature_mode: str = "js") -> list[np.ndarray]:
    """Sample one sketch from ``model`` and draw it into the box ``x, y, size[, height]``.

    Args:
        target: a ``vsketch.Vsketch`` or a ``vpype.Document``.
        model: a store name, a path or a loaded engine (see :func:`load_engine`).
        x, y: top-left corner of the box.
        size: the box's width (and height, unless ``height`` is given).
        height: the box's height, for a box that is not square.
        temperature: lower is tidier, higher wilder (``temperature_mode``, default ``js``).
        seed: the same seed draws the same sketch; ``None``: see the module docstring.
        layer: vpype layer id (Document, default 1) or vsketch stroke layer.
        z: a latent vector for a conditional model (default: drawn from N(0, I)).
        temperature_mode: ``js``, ``paper`` or ``reference`` (the engine's conventions).

    Returns:
        The placed polylines (see :func:`draw_strokes`).
    """
    _check_layer(layer)
    box = _box(x, y, size, size if height is None else height)
    engine = load_engine(model)
    drawing = engine.sample(1, temperature=temperature, seed=_seed(target, seed), z=z,
                            temperature_mode=temperature_mode)[0]
    return _draw_all(target, [drawing], [box], layer)[0]


def draw_grid(target: Target, model: ModelLike, x: Length, y: Length, width: Length,
              height: Length, rows: int, cols: int, *, gap: Length = 0.0,
              temperature: float = 0.4, seed: int | None = None, layer: int | None = None,
              temperature_mode: str = "js") -> list[list[np.ndarray]]:
    """A ``rows × cols`` grid of independent sketches filling the box ``x, y, width,
    height``, ``gap`` between cells.

    All cells are sampled in one batch (one array program per step), much faster than a
    call per cell, and one ``seed`` fixes the whole grid.

    Returns:
        The placed polylines of each cell, row by row.
    """
    _check_layer(layer)
    boxes = cell_boxes(x, y, width, height, rows, cols, gap)
    engine = load_engine(model)
    drawings = engine.sample(rows * cols, temperature=temperature, seed=_seed(target, seed),
                             temperature_mode=temperature_mode)
    return _draw_all(target, drawings, boxes, layer)


def draw_interpolation(target: Target, model: ModelLike, x: Length, y: Length,
                       width: Length, height: Length, rows: int, cols: int, *,
                       corners: Sequence[Any] | None = None, gap: Length = 0.0,
                       temperature: float = 0.4, seed: int | None = None,
                       layer: int | None = None,
                       temperature_mode: str = "js") -> list[list[np.ndarray]]:
    """A grid that morphs between four sketches: the latent vector is bilinear between
    the corners (top-left, top-right, bottom-left, bottom-right), so neighbours look
    alike and the page shows the model's latent space. Needs a conditional (VAE) model.

    Args:
        corners: four latent vectors or stroke-3 drawings (encoded to their mean); default
            four random latent vectors drawn from ``seed``, so one seed fixes the page.
        Others: as :func:`draw_grid`. A single row goes from top-left to top-right.

    Returns:
        The placed polylines of each cell, row by row.
    """
    _check_layer(layer)
    boxes = cell_boxes(x, y, width, height, rows, cols, gap)
    engine = load_engine(model)
    if not engine.conditional:
        raise PlaceError("draw_interpolation needs a conditional (VAE) model; this one is "
                         "decoder-only: use draw_grid")
    # one generator for corners and strokes, so that one seed gives one page
    rng = np.random.default_rng(_seed(target, seed))
    if corners is None:
        corners = list(rng.standard_normal((4, engine.z_size)).astype(np.float32))
    grid = engine.grid(corners, rows, cols, temperature=temperature, seed=rng,
                       temperature_mode=temperature_mode)
    return _draw_all(target, [d for row in grid for d in row], boxes, layer)
