"""Training curves and sample grids as PNG, drawn with Pillow (for a shipped model's README).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tools.tbevents import RunEvents

__all__ = ["render_curves", "render_sketches"]


_BLUE = (31, 119, 180)
_LIGHT_BLUE = (174, 199, 232)
_ORANGE = (230, 110, 20)
_GREEN = (44, 160, 44)
_GREY = (120, 120, 120)
_GRID = (228, 228, 228)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 x 10^k) covering
    ``[lo, hi]``."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _step_label(step: float, span: float) -> str:
    if span >= 2000:
        return f"{step / 1000:g}k"
    return f"{step:g}"


def _value_label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    scaled = step * 10 ** digits
    extra = 1 if abs(scaled - round(scaled)) > 1e-6 else 0  # steps of 2.5 x 10^k
    return f"{value:.{min(digits + extra, 4)}f}"


def _ema(values: Sequence[float], weight: float) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else weight * acc + (1 - weight) * v
        out.append(acc)
    return out


def _panel(draw: Any, image: Any, box: tuple[int, int, int, int], title: str,
           series: dict[str, list[tuple[int, float]]], x_max: int, s: int,
           floor: float | None) -> None:
    """One chart: axes, ticks, grid, train/valid/test series, legend; ``s`` is the
    supersampling factor (every size below is multiplied by it)."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = box
    title_font, tick_font = _font(17 * s), _font(13 * s)
    pad_l, pad_b, pad_t = 62 * s, 40 * s, 30 * s
    x0, y0, x1, y1 = left + pad_l, top + pad_t, right - 12 * s, bottom - pad_b
    draw.text(((x0 + x1) / 2, top + 2 * s), title, fill="black", font=title_font, anchor="mt")

    train = series.get("train", [])
    evals = series.get("valid", []) + series.get("test", [])
    values = [v for _, v in evals]
    if train:
        tv = np.array([v for _, v in train])
        # the first steps' train loss is far above the rest: keep the scale on what matters
        values += [float(np.quantile(tv, 0.03)), float(np.quantile(tv, 0.9 if evals else 1))]
    if floor is not None:
        values.append(floor)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    # a flat series (kl_cost held at its floor) still gets a readable range around it
    margin = max((hi - lo) * 0.08, abs(hi) * 0.05, 1e-3)
    yticks = _nice_ticks(lo - margin, hi + margin)
    y_lo, y_hi = yticks[0], yticks[-1]
    xticks = _nice_ticks(0, max(x_max, 1), 5)
    x_hi = xticks[-1]

    inset = 10 * s  # the first and last steps sit inside the frame, their markers whole

    def px(step: float, value: float) -> tuple[float, float]:
        return (x0 + inset + (x1 - x0 - 2 * inset) * step / x_hi,
                y1 - (y1 - y0) * (value - y_lo) / (y_hi - y_lo))

    ystep = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0
    for v in yticks:
        _, y = px(0, v)
        draw.line([(x0, y), (x1, y)], fill=_GRID, width=s)
        draw.text((x0 - 8 * s, y), _value_label(v, ystep), fill="black", font=tick_font,
                  anchor="rm")
    for t in xticks:
        x, _ = px(t, y_lo)
        draw.line([(x, y0), (x, y1)], fill=_GRID, width=s)
        draw.line([(x, y1), (x, y1 + 5 * s)], fill="black", width=s)
        draw.text((x, y1 + 8 * s), _step_label(t, x_hi), fill="black", font=tick_font,
                  anchor="mt")
    draw.text(((x0 + x1) / 2, bottom - 4 * s), "training step", fill="black", font=tick_font,
              anchor="mb")

    # series drawn on a layer the size of the plot area: Pillow clips what falls outside
    layer = Image.new("RGBA", (int(x1 - x0), int(y1 - y0)), (255, 255, 255, 0))
    ld = ImageDraw.Draw(layer)

    def local(step: float, value: float) -> tuple[float, float]:
        x, y = px(step, value)
        return (x - x0, y - y0)

    if floor is not None:
        y = local(0, floor)[1]
        for xs in range(0, layer.width, 14 * s):
            ld.line([(xs, y), (min(xs + 7 * s, layer.width), y)], fill=_GREY, width=s)
    if len(train) == 1:
        x, y = local(*train[0])
        ld.ellipse([x - 2 * s, y - 2 * s, x + 2 * s, y + 2 * s], fill=_BLUE + (255,))
    if len(train) > 1:
        ld.line([local(*p) for p in train], fill=_LIGHT_BLUE + (255,), width=s, joint="curve")
        # smoothing grows with the number of points: none for a handful, at most 0.9
        smooth = _ema([v for _, v in train], min(0.9, max(0.0, 1 - 8 / len(train))))
        ld.line([local(st, v) for (st, _), v in zip(train, smooth, strict=True)],
                fill=_BLUE + (255,), width=2 * s, joint="curve")
    valid = series.get("valid", [])
    if len(valid) > 1:
        ld.line([local(*p) for p in valid], fill=_ORANGE + (255,), width=2 * s, joint="curve")
    r = 4 * s
    for p in valid:
        x, y = local(*p)
        ld.ellipse([x - r, y - r, x + r, y + r], fill=_ORANGE + (255,))
    for p in series.get("test", []):
        x, y = local(*p)
        ld.polygon([(x, y - r - s), (x + r + s, y), (x, y + r + s), (x - r - s, y)],
                   fill=_GREEN + (255,), outline="white")
    image.paste(layer, (int(x0), int(y0)), layer)
    draw.rectangle([x0, y0, x1, y1], outline="black", width=s)

    # the legend goes in the corner of the plot that hides the fewest drawn points
    entries = [("train", _BLUE, "line"), ("valid", _ORANGE, "dot"),
               ("test", _GREEN, "diamond")]
    if floor is not None:
        entries.append(("kl_tolerance", _GREY, "dash"))
    entries = [e for e in entries if series.get(e[0]) or e[0] == "kl_tolerance"]
    if not entries:
        return
    row = 20 * s
    width = 120 * s
    height = row * len(entries) + 6 * s
    drawn = []
    for split in ("train", "valid", "test"):
        pts = [px(*p) for p in series.get(split, [])]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            drawn += [(ax + (bx - ax) * t / 8, ay + (by - ay) * t / 8) for t in range(8)]
        drawn += pts[-1:]
    if floor is not None:
        fy = px(0, floor)[1]
        drawn += [(x0 + (x1 - x0) * t / 40, fy) for t in range(41)]
    corners = [(x1 - width - 8 * s, y0 + 8 * s), (x1 - width - 8 * s, y1 - height - 8 * s),
               (x0 + 8 * s, y0 + 8 * s), (x0 + 8 * s, y1 - height - 8 * s)]

    def hidden(corner: tuple[float, float]) -> int:
        cx, cy = corner
        return sum(cx <= x <= cx + width and cy <= y <= cy + height for x, y in drawn)

    lx0, ly0 = min(corners, key=hidden)  # first of the least covered: top right on ties
    draw.rectangle([lx0, ly0, lx0 + width, ly0 + height], fill="white",
                   outline=(190, 190, 190), width=s)
    for i, (label, colour, mark) in enumerate(entries):
        cy = ly0 + 3 * s + row * i + row / 2
        sx = lx0 + 10 * s
        if mark == "line":
            draw.line([(sx, cy), (sx + 24 * s, cy)], fill=colour, width=2 * s)
        elif mark == "dash":
            draw.line([(sx, cy), (sx + 9 * s, cy)], fill=colour, width=s)
            draw.line([(sx + 15 * s, cy), (sx + 24 * s, cy)], fill=colour, width=s)
        elif mark == "dot":
            draw.line([(sx, cy), (sx + 24 * s, cy)], fill=colour, width=2 * s)
            draw.ellipse([sx + 12 * s - r, cy - r, sx + 12 * s + r, cy + r], fill=colour)
        else:
            c = sx + 12 * s
            draw.polygon([(c, cy - r - s), (c + r + s, cy), (c, cy + r + s), (c - r - s, cy)],
                         fill=colour)
        draw.text((sx + 32 * s, cy), label, fill="black", font=tick_font, anchor="lm")


def render_curves(events: RunEvents, path: str | os.PathLike[str], *, title: str = "",
                  kl_floor: float | None = None, size: tuple[int, int] = (1200, 480)) -> Path:
    """Draw the training curves as a PNG: r_cost and kl_cost against steps.

    Train values are drawn raw (light) and smoothed (dark); valid values as a line with
    dots; test values (evaluated when ``best/`` improved) as diamonds. The kl_cost panel is
    left out when the model has no KL term (decoder-only: every kl_cost is 0).

    Args:
        events: the run's events (:func:`read_events`).
        path: the PNG to write.
        title: a line above the charts.
        kl_floor: draw the KL floor (``kl_tolerance``) as a dashed line.
        size: ``(width, height)`` in pixels.

    Returns:
        ``path``.
    """
    from PIL import Image, ImageDraw

    s = 2  # drawn at twice the size and scaled down: Pillow's lines are not antialiased
    width, height = size
    image = Image.new("RGB", (width * s, height * s), "white")
    draw = ImageDraw.Draw(image)
    head = 34 * s if title else 0
    if title:
        draw.text((width * s / 2, 8 * s), title, fill="black", font=_font(19 * s), anchor="mt")
    kl_values = [v for split in ("train", "valid", "test")
                 for _, v in events.series(f"{split}/kl_cost")]
    metrics = [("r_cost", "reconstruction loss (r_cost)")]
    if any(v != 0 for v in kl_values):
        metrics.append(("kl_cost", "KL loss (kl_cost)"))
    x_max = events.last_step() or 1
    panel_w = width * s // len(metrics)
    for i, (metric, label) in enumerate(metrics):
        series = {split: events.series(f"{split}/{metric}")
                  for split in ("train", "valid", "test")}
        box = (i * panel_w + 6 * s, head, (i + 1) * panel_w - 6 * s, height * s - 4 * s)
        _panel(draw, image, box, label, series, x_max, s,
               kl_floor if metric == "kl_cost" else None)
    out = image.resize(size, Image.Resampling.LANCZOS)
    path = Path(path)
    out.save(path, format="PNG", optimize=True)
    return path


def render_sketches(drawings: Sequence[np.ndarray], path: str | os.PathLike[str], *,
                    cols: int = 4, cell: int = 200, caption: str = "") -> Path:
    """Draw stroke-3 sketches as a grid PNG (each fitted into its cell), with a caption.

    Args:
        drawings: stroke-3 arrays (any units).
        path: the PNG to write.
        cols: columns of the grid.
        cell: side of each cell in pixels.
        caption: a line of text under the grid.

    Returns:
        ``path``.
    """
    from PIL import Image, ImageDraw

    from sketchart.strokes import strokes3_to_lines
    from sketchart.util.raster import draw_fitted

    s = 3  # supersampling, for smooth lines
    rows = max(1, math.ceil(len(drawings) / cols))
    foot = 30 if caption else 0
    image = Image.new("RGB", (cols * cell * s, (rows * cell + foot) * s), "white")
    draw = ImageDraw.Draw(image)
    margin = 14 * s
    for k, strokes3 in enumerate(drawings):
        r, c = divmod(k, cols)
        ox, oy = c * cell * s, r * cell * s
        draw.rectangle([ox, oy, ox + cell * s - 1, oy + cell * s - 1], outline=_GRID, width=s)
        lines = strokes3_to_lines(np.asarray(strokes3, dtype=np.float64)) if len(strokes3) \
            else []
        draw_fitted(draw, lines, (ox, oy), cell * s, margin, width=2 * s, dot_radius=s)
    if caption:
        draw.text((cols * cell * s / 2, (rows * cell + foot / 2) * s), caption, fill=_GREY,
                  font=_font(14 * s), anchor="mm")
    out = image.resize((cols * cell, rows * cell + foot), Image.Resampling.LANCZOS)
    path = Path(path)
    out.save(path, format="PNG", optimize=True)
    return path
