"""The project's vpype-gcode ``gwrite`` profiles for pen plotters, and a renderer for them.

``sketchart/resources/gwrite.toml`` holds ``[gwrite.grbl-servo]`` (servo pen on ``M3 S``/
``M5`` with ``G4`` dwells) and ``[gwrite.grbl-z]`` (pen on the Z axis).
:func:`load_gwrite_profiles` adds them to vpype's configuration, so ``vpype ... gwrite -p
grbl-servo out.gcode`` works; the vpype plugin package calls it on import.

:func:`render_program` expands the same templates with the same variables and transforms as
vpype-gcode's ``gwrite`` (the tests compare the two byte for byte), but keeps the G-code of
every path apart: the GRBL driver streams it path by path and journals each path once GRBL
has executed it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.paths import MM_PER_PX, PlotDocument

__all__ = [
    "GcodeProgram",
    "get_profile",
    "gwrite_profiles_path",
    "load_gwrite_profiles",
    "render_program",
]


def gwrite_profiles_path() -> Path:
    """Path of the shipped ``gwrite.toml``."""
    return Path(__file__).resolve().parents[1] / "resources" / "gwrite.toml"


def load_gwrite_profiles() -> None:
    """Add the project's ``gwrite`` profiles to vpype's configuration (idempotent)."""
    import vpype as vp

    vp.config_manager.load_config_file(str(gwrite_profiles_path()))


def get_profile(name: str) -> dict[str, Any]:
    """The ``gwrite`` profile ``name`` from vpype's configuration (ours loaded first).

    Raises:
        SketchartError: no such profile (the message lists the available ones).
    """
    import vpype as vp

    load_gwrite_profiles()
    profiles = vp.config_manager.config.get("gwrite", {})
    if name not in profiles or not isinstance(profiles[name], dict):
        names = sorted(k for k, v in profiles.items() if isinstance(v, dict))
        raise SketchartError(f"no gwrite profile {name!r}; available: {', '.join(names)}")
    return dict(profiles[name])


def _lines(text: str) -> list[str]:
    return [part.strip() for part in text.split("\n") if part.strip()]


@dataclass
class GcodeProgram:
    """G-code split by structure so that a plot can start (or resume) at any path.

    Attributes:
        document_start: lines sent once at the start of every run (and of a resume).
        layer_start: per layer, lines sent before its first path.
        paths: ``paths[layer][path]`` the lines of one path (its ``line_start``, segments,
            ``line_end`` and ``line_join``).
        layer_end: per layer, lines after its last path (``layer_end`` and ``layer_join``).
        document_end: lines sent once at the end.
        pen_up: lines that lift the pen (sent after an abort).
        xy: ``paths[layer][path]`` as machine XY coordinates, for the bounds check.
        text: the whole program as ``gwrite`` would write it.
    """

    document_start: list[str]
    layer_start: list[list[str]]
    paths: list[list[list[str]]]
    layer_end: list[list[str]]
    document_end: list[str]
    pen_up: list[str]
    xy: list[list[list[tuple[float, float]]]] = field(default_factory=list)
    text: str = ""

    def all_lines(self) -> list[str]:
        """Every line in order, as a full (unresumed) run sends them."""
        out = list(self.document_start)
        for li, layer in enumerate(self.paths):
            out += self.layer_start[li]
            for path in layer:
                out += path
            out += self.layer_end[li]
        return out + self.document_end


def _transform(doc: PlotDocument, config: dict[str, Any]) -> list[list[Any]]:
    """Per layer, per path, complex coordinates in the profile's unit (gwrite's transforms)."""
    import numpy as np
    import vpype as vp

    unit = config.get("unit", "mm")
    unit_scale = vp.convert_length(unit)
    sx = config.get("scale_x", 1.0) / unit_scale
    sy = config.get("scale_y", 1.0) / unit_scale
    ox, oy = config.get("offset_x", 0.0), config.get("offset_y", 0.0)
    layers = [
        [
            (line[:, 0] / MM_PER_PX * sx + ox) + 1j * (line[:, 1] / MM_PER_PX * sy + oy)
            for line in layer.lines
        ]
        for layer in doc.layers
    ]

    def invert(flip_x: bool, flip_y: bool, bounds: tuple[float, float, float, float]) -> None:
        cx = 0.5 * (bounds[0] + bounds[2])
        cy = 0.5 * (bounds[1] + bounds[3])
        for layer in layers:
            for i, line in enumerate(layer):
                x = (line.real - cx) * (-1 if flip_x else 1) + cx
                y = (line.imag - cy) * (-1 if flip_y else 1) + cy
                layer[i] = x + 1j * y

    if config.get("invert_x", False) or config.get("invert_y", False):
        pts = [line for layer in layers for line in layer]
        if pts:
            allp = np.concatenate(pts)
            invert(
                config.get("invert_x", False),
                config.get("invert_y", False),
                (allp.real.min(), allp.imag.min(), allp.real.max(), allp.imag.max()),
            )
    if config.get("horizontal_flip", False) or config.get("vertical_flip", False):
        if doc.page_size_mm is None:
            raise SketchartError(
                f"{doc.source}: the gwrite profile flips the page but the document has no "
                "page size (set one with vpype pagesize/layout)"
            )
        w = doc.page_size_mm[0] / MM_PER_PX / unit_scale
        h = doc.page_size_mm[1] / MM_PER_PX / unit_scale
        invert(
            config.get("horizontal_flip", False),
            config.get("vertical_flip", False),
            (0.0, 0.0, w, h),
        )
    return layers


def render_program(
    doc: PlotDocument,
    profile: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    filename: str = "<plot>",
) -> GcodeProgram:
    """Expand a ``gwrite`` profile over ``doc`` exactly as vpype-gcode's ``gwrite`` would.

    Args:
        doc: the drawing.
        profile: a ``gwrite`` profile (see :func:`get_profile`).
        defaults: values for template fields, like ``gwrite -d KEY VALUE`` (they win over the
            profile's ``default_values`` but not over document or layer properties).
        filename: the ``{filename}`` template field.

    Raises:
        SketchartError: a template names a field that has no value.
    """
    defaults = dict(defaults or {})
    layers_xy = _transform(doc, profile)
    parts: list[str] = []

    current_meta: dict[str, Any] = {}

    def fill(key: str, **ctx: Any) -> str:
        template = profile.get(key)
        if template is None:
            return ""
        maps = [ctx, doc.metadata, current_meta, defaults, profile.get("default_values", {})]
        try:
            text = template.format_map(collections.ChainMap(*maps))
        except KeyError as exc:
            raise SketchartError(
                f"gwrite template {key!r}: no value for {{{exc.args[0]}}} "
                f"(set it with -d {exc.args[0]} VALUE)"
            ) from None
        parts.append(text)
        return text

    document_start = _lines(fill("document_start", filename=filename))
    layer_start: list[list[str]] = []
    layer_end: list[list[str]] = []
    paths: list[list[list[str]]] = []
    xy: list[list[list[tuple[float, float]]]] = []
    last_x = last_y = 0.0
    xx = yy = 0
    n_layers = len(doc.layers)
    for layer_index, (layer, lines) in enumerate(zip(doc.layers, layers_xy)):
        current_meta = layer.metadata
        common = {
            "layer_index": layer_index,
            "layer_index1": layer_index + 1,
            "layer_id": layer.layer_id,
            "filename": filename,
        }
        layer_start.append(
            _lines(
                fill(
                    "layer_start",
                    x=last_x,
                    y=last_y,
                    ix=xx,
                    iy=yy,
                    index=layer_index,
                    index1=layer_index + 1,
                    **common,
                )
            )
        )
        layer_paths: list[list[str]] = []
        layer_xy: list[list[tuple[float, float]]] = []
        for lines_index, line in enumerate(lines):
            text = ""
            lctx = {"lines_index": lines_index, "lines_index1": lines_index + 1, **common}
            text += fill(
                "line_start",
                x=last_x,
                y=last_y,
                ix=xx,
                iy=yy,
                index=lines_index,
                index1=lines_index + 1,
                **lctx,
            )
            last_seg = len(line) - 1
            for seg_index, seg in enumerate(line):
                x, y = float(seg.real), float(seg.imag)
                dx, dy = x - last_x, y - last_y
                idx, idy = round(x - xx), round(y - yy)
                xx += idx
                yy += idy
                if seg_index == 0 and profile.get("segment_first") is not None:
                    key = "segment_first"
                elif seg_index == last_seg and profile.get("segment_last") is not None:
                    key = "segment_last"
                else:
                    key = "segment"
                text += fill(
                    key,
                    x=x,
                    y=y,
                    dx=dx,
                    dy=dy,
                    _x=-x,
                    _y=-y,
                    _dx=-dx,
                    _dy=-dy,
                    ix=xx,
                    iy=yy,
                    idx=idx,
                    idy=idy,
                    index=seg_index,
                    index1=seg_index + 1,
                    segment_index=seg_index,
                    segment_index1=seg_index + 1,
                    **lctx,
                )
                last_x, last_y = x, y
            text += fill(
                "line_end",
                x=last_x,
                y=last_y,
                ix=xx,
                iy=yy,
                index=lines_index,
                index1=lines_index + 1,
                **lctx,
            )
            if lines_index != len(lines) - 1:
                text += fill(
                    "line_join",
                    x=last_x,
                    y=last_y,
                    ix=xx,
                    iy=yy,
                    index=lines_index,
                    index1=lines_index + 1,
                    **lctx,
                )
            layer_paths.append(_lines(text))
            layer_xy.append([(float(p.real), float(p.imag)) for p in line])
        end = fill(
            "layer_end",
            x=last_x,
            y=last_y,
            ix=xx,
            iy=yy,
            index=layer_index,
            index1=layer_index + 1,
            **common,
        )
        if layer_index != n_layers - 1:
            end += fill(
                "layer_join",
                x=last_x,
                y=last_y,
                ix=xx,
                iy=yy,
                index=layer_index,
                index1=layer_index + 1,
                **common,
            )
        layer_end.append(_lines(end))
        paths.append(layer_paths)
        xy.append(layer_xy)
    current_meta = {}
    document_end = _lines(fill("document_end", filename=filename))
    text = "".join(parts)
    # the lift used after an abort: the profile's own, else its line_end
    saved = list(parts)
    pen_up = _lines(
        fill("sketchart_pen_up")
        if "sketchart_pen_up" in profile
        else fill(
            "line_end",
            x=last_x,
            y=last_y,
            ix=xx,
            iy=yy,
            index=0,
            index1=1,
            lines_index=0,
            lines_index1=1,
            layer_index=0,
            layer_index1=1,
            layer_id=1,
            filename=filename,
        )
    )
    parts[:] = saved
    return GcodeProgram(
        document_start, layer_start, paths, layer_end, document_end, pen_up, xy, text
    )
