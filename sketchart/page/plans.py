"""Pages of new drawings: a sampled grid, and interpolations through the latent space.

Each ``*_page`` function is one command of the vpype plugin and of the ``sketchart`` CLI:
it draws with the model, lays the drawings out, adds them as new layers to ``document``
and records how they were made in its properties. The model is passed through to
:mod:`sketchart.generate.sampling`, imported when a function runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import vpype as vp

from sketchart.page.layout import add_layers, check_layout, layout_document, record_sketch
from sketchart.page.models import SketchModel, model_label, require_conditional
from sketchart.page.options import (
    OptionError,
    Pens,
    Sampling,
    check_at_least,
    check_temperature,
    parse_grid,
    seed_label,
)
from sketchart.page.sources import endpoint_z

__all__ = [
    "check_interpolate",
    "check_sample",
    "interpolate_page",
    "record_sampling",
    "sample_page",
]


def check_sample(
    temperature: float, count: int, layout: str, *, size: float | None = None,
    gap: float = 0.0, columns: int | None = None,
    page_size: tuple[float, float] | None = None,
) -> None:
    """The options of :func:`sample_page` that can be checked before loading a model;
    the page and grid too when a ``size`` or ``page_size`` is given."""
    check_temperature(temperature)
    check_at_least(count, 1, "'-n'")
    if layout == "cell" and count != 1:
        raise OptionError(
            "--layout cell draws one sketch per call (for vpype's grid block); "
            "use -n 1 or --layout grid"
        )
    if size is not None or page_size is not None:
        check_layout(count, size=size, gap=gap, layout=layout, columns=columns,
                     page_size=page_size)


def sample_page(
    document: vp.Document,
    model: SketchModel,
    model_name: str,
    sampling: Sampling,
    *,
    count: int = 1,
    size: float | None,
    layout: str = "grid",
    columns: int | None = None,
    gap: float = 0.0,
    page_size: tuple[float, float] | None = None,
    layers: str = "single",
    pens: Pens,
    target: int | None = None,
    keep_empty: bool = False,
    command: str = "sketchrnn-sample",
) -> vp.Document:
    """Sample ``count`` sketches into a grid (or one box) and add them to ``document``.

    Args:
        target: id of the first new layer (default: the first free id).
        keep_empty: keep sketches that end before drawing a line (default: drawn again).
        Others: as :func:`~sketchart.page.layout.layout_document`, sizes in px.
    """
    from sketchart.generate.sampling import REDRAW_ROUNDS, sample

    check_layout(count, size=size, gap=gap, layout=layout, columns=columns,
                 page_size=page_size, layers=layers)
    sketches = sample(
        model, count, **sampling.kwargs(), redraw_empty=0 if keep_empty else REDRAW_ROUNDS
    )
    built = layout_document(
        sketches,
        size=size,
        gap=gap,
        layout=layout,
        columns=columns,
        page_size=page_size,
        layers=layers,
        **_pen_keywords(pens, layers, model, model_name, sampling),
    )
    add_layers(document, built, target)
    record_sampling(document, command, model_name, sampling, count=count)
    return document


def check_interpolate(
    temperature: float, grid: str | None, endpoints: Sequence[str], steps: int, *,
    size: float | None = None, gap: float = 0.0,
    page_size: tuple[float, float] | None = None,
) -> tuple[int, int] | None:
    """The options of :func:`interpolate_page` checked before loading a model (the page
    and grid too when a ``size`` or ``page_size`` is given); returns the ``--grid`` shape."""
    check_temperature(temperature)
    shape = parse_grid(grid)
    wanted = 4 if shape else 2
    if endpoints and len(endpoints) != wanted:
        raise OptionError(
            f"give {wanted} endpoints (-e){' for --grid' if shape else ''}, "
            f"got {len(endpoints)}"
        )
    if not shape:
        check_at_least(steps, 2, "'--steps'")
    if size is not None or page_size is not None:
        _check_path_layout(shape, steps, size, gap, page_size, "single")
    return shape


def _check_path_layout(grid: tuple[int, int] | None, steps: int, size: float | None,
                       gap: float, page_size: tuple[float, float] | None, layers: str,
                       ) -> None:
    """:func:`check_layout` for an interpolation: a ``grid``, or one row of ``steps``."""
    rows, cols = grid or (1, steps)
    check_layout(rows * cols, size=size, gap=gap, columns=cols, rows=rows,
                 page_size=page_size, layers=layers)


def interpolate_page(
    document: vp.Document,
    model: SketchModel,
    model_name: str,
    sampling: Sampling,
    endpoints: Sequence[str] = (),
    *,
    steps: int = 8,
    method: str = "slerp",
    grid: tuple[int, int] | None = None,
    size: float | None = None,
    gap: float = 0.0,
    page_size: tuple[float, float] | None = None,
    layers: str = "per-row",
    pens: Pens,
    command: str = "sketchrnn-interpolate",
) -> vp.Document:
    """Decode a path (or a ``(rows, columns)`` grid) between endpoints; add it as layers.

    Args:
        endpoints: 2 (4 with ``grid``: top-left, top-right, bottom-left, bottom-right)
            specs of :func:`~sketchart.page.sources.endpoint_z`; none: points of the
            prior from the sampling seed.
        layers: ``per-row``, ``per-cell`` or ``single``.
        Others: as :func:`~sketchart.page.layout.layout_document`, sizes in px.

    Raises:
        OptionError: a decoder-only model; SketchartError: a grid that does not fit the
            page (both before anything is encoded or decoded).
    """
    require_conditional(model, model_name, command)
    _check_path_layout(grid, steps, size, gap, page_size,
                       {"per-cell": "per-sketch"}.get(layers, layers))
    if not endpoints:
        # random points of the prior, reproducible through the sampling seed
        wanted = 4 if grid else 2
        endpoints = tuple(f"seed:{sampling.seed + k + 1}" for k in range(wanted))
    zs = [endpoint_z(model, document, spec) for spec in endpoints]
    sketches, rows, cols = _latent_path(model, zs, sampling, steps, method, grid)
    built = layout_document(
        sketches,
        size=size,
        gap=gap,
        columns=cols,
        rows=rows,
        page_size=page_size,
        layers={"per-cell": "per-sketch"}.get(layers, layers),
        **_pen_keywords(pens, layers, model, model_name, sampling),
    )
    add_layers(document, built)
    record_sampling(document, command, model_name, sampling, endpoints=" ".join(endpoints),
            method=method)
    return document


def _pen_keywords(pens: Pens, layers: str, model: SketchModel, model_name: str,
                  sampling: Sampling) -> dict[str, Any]:
    """:func:`~sketchart.page.layout.layout_document`'s pen, name and optimisation
    keywords for a page command: layer names end with the seed and temperature."""
    return {
        "colors": pens.grid_colors(layers),
        "name": pens.name or model_label(model, model_name),
        "name_suffix": seed_label(sampling.seed, sampling.temperature),
        "pen_width": pens.pen_width,
        "optimize": pens.optimize,
        "optimize_seed": sampling.seed,
    }


def _latent_path(
    model: SketchModel,
    zs: list[np.ndarray],
    sampling: Sampling,
    steps: int,
    method: str,
    grid: tuple[int, int] | None,
) -> tuple[list[np.ndarray], int, int]:
    """The decoded drawings in reading order, and the rows and columns they fill."""
    from sketchart.generate.sampling import grid as latent_grid
    from sketchart.generate.sampling import interpolate

    if grid:
        rows, cols = grid
        table = latent_grid(model, zs, rows=rows, cols=cols, **sampling.kwargs())
        return [sketch for row in table for sketch in row], rows, cols
    path = interpolate(model, zs[0], zs[1], steps=steps, method=method, **sampling.kwargs())
    return list(path), 1, steps


def record_sampling(
    document: vp.Document, command: str, model_name: str, sampling: Sampling, **extra: object
) -> None:
    """Record a page command in ``document``'s properties (:func:`record_sketch`): the
    command, the model, the sampling settings and ``extra``."""
    record_sketch(
        document,
        command=command,
        model=model_name,
        seed=sampling.seed,
        temperature=sampling.temperature,
        greedy=sampling.greedy,
        **extra,
    )
