"""Drawings redrawn in place: reconstructions by a conditional model, and completions.

Each variation of every source drawing goes to one new layer, in the place and at the
scale of the drawing it redraws or continues, so the page keeps its composition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vpype as vp

from sketchart.page.frame import continuation_lines, to_model_strokes
from sketchart.page.geometry import drawing_bounds, fit_lines
from sketchart.page.layout import add_layers
from sketchart.page.models import (
    SketchModel,
    is_conditional,
    max_seq_len,
    model_label,
    require_conditional,
)
from sketchart.page.optimize import optimize_document
from sketchart.page.options import Pens, Sampling, seed_label
from sketchart.page.pens import numbered, parse_colors, pen_layer
from sketchart.page.plans import record_sampling
from sketchart.page.sources import SourceDrawing

__all__ = [
    "add_variation_layers",
    "complete_page",
    "completion_lines",
    "reconstruct_page",
    "reconstruction_lines",
]


def reconstruction_lines(
    model: SketchModel,
    drawings: Sequence[SourceDrawing],
    variations: int,
    sampling: Sampling,
) -> list[list[np.ndarray]]:
    """Encode every drawing, decode it ``variations`` times, fit each into the original's
    square box: the polylines (px) of each variation."""
    from sketchart.generate.sampling import decode, encode
    from sketchart.strokes import strokes3_to_lines

    limit = max_seq_len(model)
    prepared = [to_model_strokes(d.lines, d.what, limit)[0] for d in drawings]
    z = np.asarray(encode(model, prepared))
    # every variation of every drawing in one batch: row k * len(drawings) + i
    redrawn = decode(model, np.tile(z, (variations, 1)), **sampling.kwargs())
    per_variation: list[list[np.ndarray]] = [[] for _ in range(variations)]
    for k in range(variations):
        for i, drawing in enumerate(drawings):
            box = drawing_bounds(drawing.lines)
            assert box is not None  # source_drawings refuses empty drawings
            side = max(box[2] - box[0], box[3] - box[1])
            center = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
            strokes3 = redrawn[k * len(drawings) + i]
            per_variation[k].extend(fit_lines(strokes3_to_lines(strokes3), side, center))
    return per_variation


def completion_lines(
    model: SketchModel,
    drawings: Sequence[SourceDrawing],
    variations: int,
    sampling: Sampling,
) -> list[list[np.ndarray]]:
    """Continue every (partial) drawing ``variations`` times: the new polylines (px) of
    each variation, starting where the drawing's pen stopped. Drawing ``i`` is sampled
    with seed ``seed + i``."""
    from sketchart.generate.sampling import complete

    # a conditional model encodes the partial drawing, so it must fit max_seq_len
    limit = max_seq_len(model) if is_conditional(model) else None
    per_variation: list[list[np.ndarray]] = [[] for _ in range(variations)]
    for i, drawing in enumerate(drawings):
        partial, frame = to_model_strokes(drawing.lines, drawing.what, limit)
        continuations = complete(
            model,
            partial,
            variations,
            **{**sampling.kwargs(), "seed": sampling.seed + i},
            include_partial=False,
        )
        start = np.cumsum(partial[:, :2], axis=0)[-1]
        for k, strokes3 in enumerate(continuations):
            per_variation[k].extend(frame.to_page(continuation_lines(strokes3, start)))
    return per_variation


def add_variation_layers(
    document: vp.Document,
    per_variation: list[list[np.ndarray]],
    pens: Pens,
    base: str,
    suffix: str,
    seed: int,
) -> None:
    """One new layer per variation; colours start after black, kept for the originals.

    With ``pens.optimize``, variation ``k``'s layer is optimised with seed ``seed + k``.
    """
    palette = parse_colors(pens.colors) if pens.colors else parse_colors(None)[1:]
    for k, lines in enumerate(per_variation):
        label = (f"{base} {k + 1}" if len(per_variation) > 1 else base) + suffix
        name = numbered(1, label)  # renumbered to its id by add_layers
        built = vp.Document()
        built.add(pen_layer(name, palette[k % len(palette)], pens.pen_width, lines), 1,
                  with_metadata=True)
        if pens.optimize:
            optimize_document(built, seed=seed + k)
        add_layers(document, built)


def reconstruct_page(
    document: vp.Document,
    model: SketchModel,
    model_name: str,
    sampling: Sampling,
    drawings: Sequence[SourceDrawing],
    *,
    variations: int = 1,
    replace: bool = False,
    pens: Pens,
    command: str = "sketchrnn-reconstruct",
) -> vp.Document:
    """Redraw every drawing with a conditional model, in place, on new layers.

    Args:
        drawings: from :func:`~sketchart.page.sources.source_drawings`.
        replace: delete the layers the drawings came from.

    Raises:
        OptionError: a decoder-only model (before anything is encoded).
    """
    require_conditional(model, model_name, command)
    per_variation = reconstruction_lines(model, drawings, variations, sampling)
    if replace:
        for lid in {d.layer_id for d in drawings if d.layer_id is not None}:
            document.pop(lid)
    base = pens.name or f"{model_label(model, model_name)} reconstruction"
    suffix = seed_label(sampling.seed, sampling.temperature)
    add_variation_layers(document, per_variation, pens, base, suffix, sampling.seed)
    record_sampling(document, command, model_name, sampling, variations=variations)
    return document


def complete_page(
    document: vp.Document,
    model: SketchModel,
    model_name: str,
    sampling: Sampling,
    drawings: Sequence[SourceDrawing],
    *,
    variations: int = 1,
    pens: Pens,
    command: str = "sketchrnn-complete",
) -> vp.Document:
    """Continue every partial drawing (any model), in place, on new layers."""
    per_variation = completion_lines(model, drawings, variations, sampling)
    base = pens.name or f"{model_label(model, model_name)} completion"
    suffix = seed_label(sampling.seed, sampling.temperature)
    add_variation_layers(document, per_variation, pens, base, suffix, sampling.seed)
    record_sampling(document, command, model_name, sampling, variations=variations)
    return document
