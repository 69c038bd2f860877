"""Sketch grids written as PNG (Pillow), for ``sketchart sample -o name.png``.

The drawing is the TensorBoard renderer's (:func:`sketchart.util.raster.render_grid`):
black lines on white, each sketch fitted into its square cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_png_grid"]


def write_png_grid(drawings: Sequence[np.ndarray], output: Path, cell: float,
                   columns: int | None = None) -> None:
    """Write stroke-3 ``drawings`` as a PNG grid, atomically.

    Args:
        drawings: stroke-3 arrays.
        output: the ``.png`` to write.
        cell: side of a cell in pixels (at least 16).
        columns: grid columns (default about square).
    """
    from PIL import Image

    from sketchart.training.tblog import render_grid
    from sketchart.util.atomic import atomic_file

    cols = columns or max(1, math.ceil(math.sqrt(len(drawings))))
    pixels = render_grid(list(drawings), cols=cols, cell=max(16, round(cell)), gap=0)
    with atomic_file(output, "wb") as fh:
        Image.fromarray(pixels).save(fh, format="PNG")
