"""The commands' shared settings: sampling, pens, seeds, labels and option checks.

The vpype plugin and the ``sketchart`` CLI take the same options; their checks live here,
raising :class:`OptionError`, which each UI turns into its own kind of usage error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError

__all__ = [
    "DEFAULT_PEN_WIDTH",
    "OptionError",
    "Pens",
    "Sampling",
    "check_at_least",
    "check_temperature",
    "draw_seed",
    "oriented_page",
    "parse_grid",
    "parse_length",
    "seed_label",
]

DEFAULT_PEN_WIDTH = vp.convert_length("0.3mm")

_log = logging.getLogger(__name__)


class OptionError(SketchartError):
    """A bad command-line option: ``option`` names it (``"'--grid'"``), or None when the
    combination of options is wrong."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Sampling:
    """How the model draws: the options every generating command shares."""

    temperature: float
    seed: int
    greedy: bool = False
    max_len: int | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :mod:`sketchart.generate.sampling`'s functions."""
        return {
            "temperature": self.temperature,
            "greedy": self.greedy,
            "seed": self.seed,
            "max_len": self.max_len,
        }


@dataclass(frozen=True)
class Pens:
    """How the new layers are drawn: colours, pen width (px), base name, optimisation."""

    colors: str | None = None
    pen_width: float = DEFAULT_PEN_WIDTH
    name: str | None = None
    optimize: bool = False

    def grid_colors(self, layers: str) -> str | None:
        """The colours of a grid: black for one layer, else the palette, unless given."""
        if self.colors is not None:
            return self.colors
        return None if layers != "single" else "black"


def check_temperature(temperature: float) -> None:
    """Refuse a temperature that is not positive."""
    if not temperature > 0:
        raise OptionError(f"must be positive, got {temperature:g}", "'-t' / '--temperature'")


def check_at_least(value: int, minimum: int, option: str) -> None:
    """Refuse a count below ``minimum``."""
    if value < minimum:
        raise OptionError(f"must be at least {minimum}, got {value}", option)


def parse_length(value: str | float, option: str) -> float:
    """A length with vpype's units (``4cm``, ``1in``, ``5mm``; px without a unit) in px."""
    try:
        length = float(vp.convert_length(value))
    except ValueError:
        raise OptionError(f"not a length: {value!r} (e.g. 4cm, 40mm, 96)", option) from None
    if not length > 0:
        raise OptionError(f"must be positive, got {value!r}", option)
    return length


def parse_grid(grid: str | None) -> tuple[int, int] | None:
    """``--grid ROWSxCOLUMNS`` (at least 2x2) as ``(rows, columns)``; None when not given."""
    if grid is None:
        return None
    parts = grid.lower().replace("*", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise OptionError(f"expected ROWSxCOLUMNS, got {grid!r}", "'--grid'") from None
    if rows < 2 or cols < 2:
        raise OptionError(f"needs at least 2x2, got {grid!r}", "'--grid'")
    return rows, cols


def oriented_page(
    page_size: tuple[float, float] | None, landscape: bool
) -> tuple[float, float] | None:
    """The page as given, or turned to landscape (the longer side across)."""
    if page_size is None:
        return None
    w, h = page_size
    return (max(w, h), min(w, h)) if landscape else (w, h)


def draw_seed(seed: int | None, command: str = "sketchart") -> int:
    """The given seed, or one drawn from numpy's global generator and logged at INFO.

    vpype seeds that generator from its ``-s`` option, so a pipeline without ``--seed`` is
    still reproducible, and every call (every cell of a ``grid`` block) gets its own seed.
    A drawn seed is logged (``vpype -v``) as vpype logs its own, so a drawing worth keeping
    can be made again with ``--seed``.
    """
    if seed is not None:
        return int(seed)
    drawn = int(np.random.randint(2**31))
    _log.info("%s: no --seed given, drawn seed %d", command, drawn)
    return drawn


def seed_label(seed: int, temperature: float) -> str:
    """Layer-name suffix: a plain ``write`` keeps layer names, so the SVG says how to remake
    it."""
    return f" (seed {seed}, T={temperature:g})"
