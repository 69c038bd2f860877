"""The drawings a command works on: layers of the document, SVG files, points of the prior."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError
from sketchart.page.frame import to_model_strokes
from sketchart.page.geometry import complex_to_lines, split_drawings
from sketchart.page.models import SketchModel, max_seq_len

__all__ = [
    "SourceDrawing",
    "endpoint_z",
    "layer_lines",
    "note_source",
    "read_svg_lines",
    "source_drawings",
]


@dataclass(frozen=True)
class SourceDrawing:
    """One drawing to encode or continue: how messages name it, its polylines (px) and the
    layer it came from (None for an SVG file)."""

    what: str
    lines: list[np.ndarray]
    layer_id: int | None = None


def read_svg_lines(path: str) -> list[np.ndarray]:
    """Every path of an SVG file (all layers) as ``[k, 2]`` polylines in px."""
    file = pathlib.Path(path).expanduser()
    if not file.is_file():
        raise SketchartError(f"no such SVG file: {path}")
    try:
        doc = vp.read_multilayer_svg(str(file), quantization=vp.convert_length("0.1mm"))
    except Exception as exc:  # svgelements raises many kinds of errors on bad files
        raise SketchartError(f"cannot read SVG {path}: {exc}") from exc
    return [line for lc in doc.layers.values() for line in complex_to_lines(lc)]


def note_source(document: vp.Document, path: str) -> None:
    """Append an input file to the document's ``vp_sources``, as vpype's ``read`` does.

    ``vp_source`` (the file the document came from) is left alone: the file is an input of
    one command, not the document's origin.
    """
    file = pathlib.Path(path).expanduser()
    if file.exists():
        document.sources = document.sources | {file.absolute()}


def layer_lines(document: vp.Document, layer_id: int) -> list[np.ndarray]:
    """The paths of one layer of the document as ``[k, 2]`` polylines."""
    if layer_id not in document.layers:
        raise SketchartError(f"layer {layer_id} does not exist")
    return complex_to_lines(document.layers[layer_id])


def source_drawings(
    document: vp.Document,
    layer_ids: Sequence[int],
    svg: str | None,
    whole_layer: bool,
    margin: float,
) -> list[SourceDrawing]:
    """The drawings to work on: each drawing of the given layers, or of an SVG file.

    Args:
        document: the document whose layers are read (when ``svg`` is None).
        layer_ids: the layers to read.
        svg: an SVG file to read instead of the document.
        whole_layer: each layer (or the file) is one drawing; else it is split where
            drawings are more than ``margin`` apart (:func:`split_drawings`).
        margin: px.

    Raises:
        SketchartError: a missing or empty layer or file.
    """
    if svg is not None:
        sources = [SourceDrawing(svg, read_svg_lines(svg))]
        note_source(document, svg)
    else:
        sources = [
            SourceDrawing(f"layer {lid}", layer_lines(document, lid), lid) for lid in layer_ids
        ]
    drawings = []
    for source in sources:
        if not source.lines:
            raise SketchartError(f"{source.what} is empty: nothing to encode")
        if whole_layer:
            drawings.append(source)
            continue
        parts = split_drawings(source.lines, margin=margin)
        drawings.extend(
            SourceDrawing(
                f"{source.what} drawing {k + 1}" if len(parts) > 1 else source.what,
                part,
                source.layer_id,
            )
            for k, part in enumerate(parts)
        )
    return drawings


def endpoint_z(model: SketchModel, document: vp.Document, spec: str) -> np.ndarray:
    """Latent vector of an interpolation endpoint.

    Args:
        model: a conditional model.
        document: where layer endpoints are read.
        spec: ``seed:N`` (a point of the prior), a layer id (``3`` or ``layer:3``), or the
            path of an SVG file.
    """
    from sketchart.generate.sampling import encode

    z_size = int(model.hps.z_size)
    if spec.startswith("seed:"):
        try:
            seed = int(spec[5:])
        except ValueError:
            raise SketchartError(f"bad endpoint {spec!r}: expected seed:N") from None
        # a point of the prior N(0, I), the same draw on every backend
        return np.random.default_rng(seed).standard_normal(z_size).astype(np.float32)
    if spec.isdigit() or spec.startswith("layer:"):
        layer_id = int(spec.removeprefix("layer:"))
        lines, what = layer_lines(document, layer_id), f"layer {layer_id}"
    else:
        lines, what = read_svg_lines(spec), spec
        note_source(document, spec)
    strokes3, _ = to_model_strokes(lines, what, max_seq_len(model))
    return np.asarray(encode(model, [strokes3]))[0]
