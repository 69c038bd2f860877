"""The project's vpype-gcode ``gwrite`` profiles for pen plotters, and a renderer for them.

``sketchart/resources/gwrite.toml`` holds the profiles: ``grbl-servo`` (servo pen on
``M3 S``/``M5`` with ``G4`` dwells), ``grbl-z`` (pen on the Z axis), their ``-pause``
variants (``M0`` and a comment naming the next layer's pen between layers) and their
``-bl`` variants (origin at the page's bottom-left, Y up). :func:`load_gwrite_profiles` adds
the ones the user has not defined to vpype's configuration, once, so ``vpype ... gwrite -p
grbl-servo out.gcode`` works; the vpype plugin package calls it on import.

:func:`render_program` expands the same templates with the same variables and transforms as
vpype-gcode's ``gwrite`` (the tests compare the two byte for byte), but keeps the G-code of
every path apart: the GRBL driver streams it path by path and journals each path once GRBL
has executed it.
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.paths import MM_PER_PX, PlotDocument

__all__ = [
    "DEFAULT_PROFILE",
    "GcodeProgram",
    "check_defaults",
    "default_profile",
    "get_profile",
    "gwrite_profiles_path",
    "load_gwrite_profiles",
    "render_program",
]


def gwrite_profiles_path() -> Path:
    """Path of the shipped ``gwrite.toml``."""
    return Path(__file__).resolve().parents[1] / "resources" / "gwrite.toml"


#: the profile used when neither ``--profile`` nor ``gwrite.default_profile`` names one
DEFAULT_PROFILE = "grbl-servo"

_loaded = False


def load_gwrite_profiles() -> list[str]:
    """Add the project's ``gwrite`` profiles that vpype's configuration lacks; once.

    vpype reads ``~/.vpype.toml`` before it imports plugins: a profile the user defined
    there (or in ``vpype -c``, read later) is theirs, never replaced or merged with ours, and
    ``gwrite`` and the plot commands see the same one. The shipped file sets no
    ``default_profile``: that key is the user's.

    Returns:
        The names added (empty after the first call).
    """
    global _loaded
    if _loaded:
        return []
    _loaded = True
    import tomllib

    import vpype as vp

    with gwrite_profiles_path().open("rb") as fh:
        ours = tomllib.load(fh).get("gwrite", {})
    config = vp.config_manager.config.setdefault("gwrite", {})
    added = [name for name in ours if name not in config]
    for name in added:
        config[name] = ours[name]
    return added


def default_profile() -> str:
    """``gwrite.default_profile`` from vpype's configuration, else :data:`DEFAULT_PROFILE`."""
    import vpype as vp

    load_gwrite_profiles()
    name = vp.config_manager.config.get("gwrite", {}).get("default_profile")
    return str(name) if name else DEFAULT_PROFILE


def get_profile(name: str | None = None) -> dict[str, Any]:
    """The ``gwrite`` profile ``name`` (None: :func:`default_profile`) as vpype has it.

    Raises:
        SketchartError: no such profile (the message lists the available ones).
    """
    import vpype as vp

    load_gwrite_profiles()
    name = name or default_profile()
    profiles = vp.config_manager.config.get("gwrite", {})
    if name not in profiles or not isinstance(profiles[name], dict):
        names = sorted(k for k, v in profiles.items() if isinstance(v, dict))
        raise SketchartError(f"no gwrite profile {name!r}; available: {', '.join(names)}")
    return dict(profiles[name])


_COMMENT = re.compile(r"\([^)]*\)|;.*$")
_PROGRAM_PAUSE = re.compile(r"^M0*[01]$", re.IGNORECASE)


#: the fields gwrite fills in itself: not values a user sets with ``-d``
_CONTEXT_FIELDS = frozenset(
    "x y dx dy _x _y _dx _dy ix iy idx idy index index1 segment_index segment_index1 "
    "lines_index lines_index1 layer_index layer_index1 layer_id filename".split()
)


def template_keys(profile: dict[str, Any]) -> list[str]:
    """The values a profile's templates read that ``-d KEY VALUE`` may set, sorted."""
    keys = set(profile.get("default_values", {}))
    for template in profile.values():
        if isinstance(template, str):
            for _, field, _, _ in string.Formatter().parse(template):
                if field:
                    keys.add(field.split(".")[0].split("[")[0])
    return sorted(keys - _CONTEXT_FIELDS)


def _checked_value(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the profile's ``default``; rates, delays and positions that
    default to a positive number must not be negative (``feed`` and ``*_feed`` above 0)."""
    if not isinstance(default, int | float) or isinstance(default, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SketchartError(f"-d {key} {value}: not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SketchartError(f"-d {key} {value}: not a finite number")
    feed = key == "feed" or key.endswith("_feed")
    if (feed and number <= 0) or (default > 0 and number < 0):
        raise SketchartError(f"-d {key} {value}: must be {'above 0' if feed else '0 or more'}")
    return int(number) if isinstance(default, int) and number.is_integer() else number


def check_defaults(name: str, profile: dict[str, Any], values: dict[str, Any]
                   ) -> dict[str, Any]:
    """``-d KEY VALUE`` pairs checked against profile ``name`` before anything moves.

    Raises:
        SketchartError: a key the profile does not read (the message lists the valid keys),
            or a value of the wrong type or sign.
    """
    keys = template_keys(profile)
    defaults = profile.get("default_values", {})
    out = {}
    for key, value in values.items():
        if key not in keys:
            raise SketchartError(
                f"-d {key}: profile {name!r} has no such value; valid keys: {', '.join(keys)}"
            )
        out[key] = _checked_value(key, value, defaults.get(key))
    return out


def _lines(text: str) -> list[str]:
    """The lines a driver streams: comments cut (a layer's name can be longer than GRBL's
    receive buffer), empty lines left out."""
    out = []
    for part in text.split("\n"):
        line = _COMMENT.sub("", part).strip()
        if line:
            out.append(line)
    return out


def _without_pauses(lines: list[str]) -> list[str]:
    """``lines`` less ``M0``/``M1``: a plot run by sketchart pauses between layers itself
    (a prompt), where GRBL's program pause would hold the machine under the driver."""
    return [line for line in lines if not _PROGRAM_PAUSE.match(line.replace(" ", ""))]


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
        pen_down: lines that lower the pen where it is (``sketchart_pen_down``; may be
            empty).
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
    pen_down: list[str] = field(default_factory=list)

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


class _Renderer:
    """gwrite's template expansion, one document: the fields, the pen position, the text.

    ``parts`` collects every expansion in order, which is the whole program as ``gwrite``
    writes it; the structured lists are cut from the same expansions.
    """

    def __init__(
        self,
        doc: PlotDocument,
        profile: dict[str, Any],
        defaults: dict[str, Any],
        filename: str,
    ) -> None:
        self.doc = doc
        self.profile = profile
        self.defaults = defaults
        self.filename = filename
        self.parts: list[str] = []
        self.layer_meta: dict[str, Any] = {}
        self.last_x = self.last_y = 0.0
        self.ix = self.iy = 0  # gwrite's integer positions ({ix} {iy}), rounded per step

    def fill(self, key: str, **ctx: Any) -> str:
        """Expand template ``key`` (empty when the profile has none) and record it."""
        template = self.profile.get(key)
        if template is None:
            return ""
        maps = [
            ctx,
            self.doc.metadata,
            self.layer_meta,
            self.defaults,
            self.profile.get("default_values", {}),
        ]
        try:
            text = str(template).format_map(collections.ChainMap(*maps))
        except KeyError as exc:
            raise SketchartError(
                f"gwrite template {key!r}: no value for {{{exc.args[0]}}} "
                f"(set it with -d {exc.args[0]} VALUE)"
            ) from None
        self.parts.append(text)
        return text

    def here(self, index: int) -> dict[str, Any]:
        """The fields of a template expanded at the current position."""
        return {
            "x": self.last_x,
            "y": self.last_y,
            "ix": self.ix,
            "iy": self.iy,
            "index": index,
            "index1": index + 1,
        }

    def segment(self, point: complex, seg_index: int, last: int, ctx: dict[str, Any]) -> str:
        x, y = float(point.real), float(point.imag)
        dx, dy = x - self.last_x, y - self.last_y
        idx, idy = round(x - self.ix), round(y - self.iy)
        self.ix += idx
        self.iy += idy
        if seg_index == 0 and self.profile.get("segment_first") is not None:
            key = "segment_first"
        elif seg_index == last and self.profile.get("segment_last") is not None:
            key = "segment_last"
        else:
            key = "segment"
        text = self.fill(
            key,
            x=x,
            y=y,
            dx=dx,
            dy=dy,
            _x=-x,
            _y=-y,
            _dx=-dx,
            _dy=-dy,
            ix=self.ix,
            iy=self.iy,
            idx=idx,
            idy=idy,
            index=seg_index,
            index1=seg_index + 1,
            segment_index=seg_index,
            segment_index1=seg_index + 1,
            **ctx,
        )
        self.last_x, self.last_y = x, y
        return text

    def path(self, line: Any, lines_index: int, is_last: bool, common: dict[str, Any]) -> str:
        """``line_start``, the segments, ``line_end`` and ``line_join`` of one path."""
        ctx = {"lines_index": lines_index, "lines_index1": lines_index + 1, **common}
        text = self.fill("line_start", **self.here(lines_index), **ctx)
        for seg_index, point in enumerate(line):
            text += self.segment(point, seg_index, len(line) - 1, ctx)
        text += self.fill("line_end", **self.here(lines_index), **ctx)
        if not is_last:
            text += self.fill("line_join", **self.here(lines_index), **ctx)
        return text

    def layer(
        self, layer_index: int, layer: Any, lines: list[Any], program: GcodeProgram
    ) -> None:
        """Append one layer's start, paths, machine XY and end to ``program``."""
        self.layer_meta = layer.metadata
        common = {
            "layer_index": layer_index,
            "layer_index1": layer_index + 1,
            "layer_id": layer.layer_id,
            "filename": self.filename,
        }
        program.layer_start.append(
            _without_pauses(
                _lines(self.fill("layer_start", **self.here(layer_index), **common))
            )
        )
        program.paths.append(
            [
                _lines(self.path(line, i, i == len(lines) - 1, common))
                for i, line in enumerate(lines)
            ]
        )
        program.xy.append([[(float(p.real), float(p.imag)) for p in line] for line in lines])
        end = self.fill("layer_end", **self.here(layer_index), **common)
        if layer_index != len(self.doc.layers) - 1:
            end += self.fill("layer_join", **self.here(layer_index), **common)
        program.layer_end.append(_without_pauses(_lines(end)))

    def pen_lift(self, key: str, fallback: str | None) -> list[str]:
        """Lines of template ``key`` (else of ``fallback`` at the current position), kept
        out of the program's text: they are sent only by the driver."""
        saved = list(self.parts)
        if key in self.profile:
            text = self.fill(key)
        elif fallback is not None:
            text = self.fill(
                fallback,
                **self.here(0),
                lines_index=0,
                lines_index1=1,
                layer_index=0,
                layer_index1=1,
                layer_id=1,
                filename=self.filename,
            )
        else:
            text = ""
        self.parts[:] = saved
        return _lines(text)


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
    layers_xy = _transform(doc, profile)
    r = _Renderer(doc, profile, dict(defaults or {}), filename)
    program = GcodeProgram(
        _lines(r.fill("document_start", filename=filename)), [], [], [], [], []
    )
    for layer_index, (layer, lines) in enumerate(zip(doc.layers, layers_xy)):
        r.layer(layer_index, layer, lines, program)
    r.layer_meta = {}
    program.document_end = _lines(r.fill("document_end", filename=filename))
    program.text = "".join(r.parts)
    # the lift sent after an abort: the profile's own, else its line_end
    program.pen_up = r.pen_lift("sketchart_pen_up", "line_end")
    program.pen_down = r.pen_lift("sketchart_pen_down", None)
    return program
