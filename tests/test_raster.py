"""The stroke rasteriser (sketchart.util.raster): size, background, where lines land."""

from __future__ import annotations

import numpy as np

from sketchart.util.raster import draw_fitted, render_grid, render_lines


def test_size_and_white_background() -> None:
    image = render_lines([np.array([[0.0, 0.0], [1.0, 1.0]])], size=40)
    assert image.shape == (40, 40, 3) and image.dtype == np.uint8
    assert (image[0] == 255).all() and (image[-1] == 255).all()  # the margin stays blank


def test_a_horizontal_line_lands_across_the_middle() -> None:
    size, margin = 64, 6
    image = render_lines([np.array([[10.0, 5.0], [30.0, 5.0]])], size=size, margin=margin)
    rows, cols = np.nonzero(image.min(axis=2) < 128)
    assert set(rows) <= {31, 32, 33}  # centred vertically
    assert cols.min() <= margin + 1 and cols.max() >= size - margin - 2  # fitted to the margin
    assert cols.min() >= margin - 1 and cols.max() <= size - margin


def test_empty_input_draws_nothing() -> None:
    assert (render_lines([], size=16) == 255).all()
    grid = render_grid([], cols=None, cell=8, gap=1)
    assert grid.shape == (10, 10, 3)


def test_grid_cells_and_gaps() -> None:
    dot = [np.array([[1.0, 1.0]])]
    grid = render_grid([dot, [], dot], cols=2, cell=10, gap=2)
    assert grid.shape == (2 * 12 + 2, 2 * 12 + 2, 3)
    assert (grid[0] == 160).all() and (grid[:, 0] == 160).all()  # grey gaps
    assert (grid[2:12, 14:24] == 255).all()  # the empty cell is white
    assert grid[2:12, 2:12].min() == 0  # the dot is drawn


def test_draw_fitted_honours_origin_and_dot_radius() -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (60, 30), "white")
    draw_fitted(ImageDraw.Draw(image), [np.array([[3.0, 4.0]])], (30, 0), 30, 2, 1,
                dot_radius=3)
    rows, cols = np.nonzero(np.asarray(image).min(axis=2) < 128)
    assert cols.min() >= 30 and abs(cols.mean() - 45) < 1 and abs(rows.mean() - 15) < 1
    assert len(rows) > 9  # a filled circle, not one pixel
