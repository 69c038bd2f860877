"""Drawings on the page to the model's units and back.

A drawing read from a page (px polylines) is fitted into the 255-unit box of QuickDraw's
simplified drawings, which the sketch-rnn datasets are made of, and simplified the way
Google simplified them (:func:`sketchart.data.simplify.quickdraw_simplify`), so that a
drawing from any source looks like the training data. :class:`ModelFrame` remembers the
fit, so the model's strokes can be put back where the drawing was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sketchart.data.simplify import quickdraw_simplify
from sketchart.errors import SketchartError
from sketchart.page.geometry import drawing_bounds
from sketchart.strokes import lines_to_strokes3, strokes3_to_lines

__all__ = [
    "MODEL_BOX",
    "MODEL_RDP_EPSILON",
    "ModelFrame",
    "continuation_lines",
    "to_model_strokes",
]

# QuickDraw's simplified drawings fill a 0-255 box; Google's RDP tolerance is 2 units of it
MODEL_BOX = 255.0
MODEL_RDP_EPSILON = 2.0


@dataclass(frozen=True)
class ModelFrame:
    """How a drawing on the page maps to the model's units: ``px = model / scale + origin``."""

    scale: float
    origin: np.ndarray

    def to_model(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Page polylines (px) in model units."""
        return [(np.asarray(line) - self.origin) * self.scale for line in lines]

    def to_page(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Model-unit polylines back on the page (px)."""
        return [np.asarray(line) / self.scale + self.origin for line in lines]


def to_model_strokes(
    lines: Sequence[np.ndarray], what: str, max_len: int | None
) -> tuple[np.ndarray, ModelFrame]:
    """A drawing (px polylines) as model-ready stroke-3 in dataset units, and its frame.

    Args:
        lines: the drawing's ``[k, 2]`` polylines.
        what: how messages name the drawing (``"layer 2 drawing 3"``).
        max_len: the most points the model accepts (its ``max_seq_len``), or None.

    Raises:
        SketchartError: an empty drawing, a single point, or too many points.
    """
    bounds = drawing_bounds(lines)
    if bounds is None:
        raise SketchartError(f"{what} is empty: nothing to encode")
    extent = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    if extent <= 0:
        raise SketchartError(f"{what} has no extent (a single point)")
    # quickdraw_simplify aligns to the same corner and scales by the same extent
    frame = ModelFrame(MODEL_BOX / extent, np.array(bounds[:2]))
    strokes = [np.asarray(line).T.tolist() for line in lines if len(line)]
    simplified = quickdraw_simplify(strokes, size=MODEL_BOX, epsilon=MODEL_RDP_EPSILON)
    strokes3 = lines_to_strokes3(simplified, dtype=np.float64)
    if max_len is not None and len(strokes3) > max_len:
        raise SketchartError(
            f"{what} has {len(strokes3)} points after simplification, more than the "
            f"model's max_seq_len {max_len}"
        )
    return strokes3, frame


def continuation_lines(strokes3: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
    """Polylines of new strokes that start where the partial drawing's pen is."""
    strokes3 = np.asarray(strokes3, dtype=np.float64)
    if len(strokes3) == 0:
        return []
    # the pen is up after the partial drawing's last point: the first offset is a move
    return strokes3_to_lines(strokes3, start=(float(start[0]), float(start[1])))
