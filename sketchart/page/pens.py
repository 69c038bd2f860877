"""Pens: colour palettes, colour names checked, and layers that carry their pen."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError

__all__ = ["DEFAULT_PALETTE", "numbered", "pen_layer", "parse_colors", "renumbered"]

# Pen colours for multi-layer output: distinct, common fineliner colours, black first so a
# one-layer document is black.
DEFAULT_PALETTE: tuple[str, ...] = (
    "black",
    "#d62728",  # red
    "#1f77b4",  # blue
    "#2ca02c",  # green
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#17becf",  # teal
)


def parse_colors(colors: str | Sequence[str] | None) -> list[vp.Color]:
    """Pen colours from a comma-separated string or a list; None gives the default palette.

    Raises:
        SketchartError: a colour that neither SVG nor vpype knows.
    """
    if colors is None:
        names: Sequence[str] = DEFAULT_PALETTE
    elif isinstance(colors, str):
        # commas inside rgb(...) do not separate colours
        names = [c.strip() for c in re.split(r",(?![^()]*\))", colors) if c.strip()]
    else:
        names = list(colors)
    if not names:
        raise SketchartError("no pen colour given")
    out = []
    for name in names:
        if not _known_color(name):
            raise SketchartError(f"unknown colour {name!r}")
        out.append(vp.Color(name))
    return out


def _known_color(name: str) -> bool:
    # svgelements turns any unknown name into black: tell a real black from a typo
    import svgelements

    if svgelements.Color.parse(name) != svgelements.Color.parse("black"):
        return True
    low = name.replace(" ", "").lower()
    return low == "black" or any(
        regex.match(low)
        for regex in (
            svgelements.REGEX_COLOR_HEX,
            svgelements.REGEX_COLOR_RGB,
            svgelements.REGEX_COLOR_RGB_PERCENT,
            svgelements.REGEX_COLOR_HSL,
        )
    )


def pen_layer(
    name: str, color: vp.Color, pen_width: float | None, lines: Sequence[np.ndarray] = ()
) -> vp.LineCollection:
    """A layer of ``[k, 2]`` polylines with its name, colour and (optional) pen width.

    One-point polylines are left out: they have no length, and vpype's writers skip them.
    """
    lc = vp.LineCollection()
    for line in lines:
        if len(line) >= 2:
            lc.append(line[:, 0] + 1j * line[:, 1])
    lc.set_property(vp.METADATA_FIELD_NAME, name)
    lc.set_property(vp.METADATA_FIELD_COLOR, color)
    if pen_width is not None:
        lc.set_property(vp.METADATA_FIELD_PEN_WIDTH, float(pen_width))
    return lc


def numbered(layer_id: int, label: str) -> str:
    """A layer name that starts with its layer number: AxiDraw's layers mode (and its
    ``+H``/``+S``/``!`` options in a name) reads the leading number, the label follows."""
    return f"{layer_id} {label}"


def renumbered(name: str, old_id: int, new_id: int) -> str:
    """``name`` with its leading ``old_id`` (see :func:`numbered`) changed to ``new_id``."""
    prefix = f"{old_id} "
    return numbered(new_id, name[len(prefix):]) if name.startswith(prefix) else name
