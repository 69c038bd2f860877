"""Stroke formats: stroke-3, stroke-5 and absolute polylines (NumPy only).

Formats (``docs/architecture.md``):

- ``strokes3``: ``[n, 3]`` rows ``(dx, dy, lift)``; ``lift=1`` lifts the pen *after* the
  point. The first row is the offset of the first point from the origin ``(0, 0)``.
- ``strokes5``: ``[n, 5]`` rows ``(dx, dy, p1, p2, p3)`` = (pen down, pen up, end of sketch).
- ``lines``: ``list[np.ndarray [k, 2]]`` of absolute polylines.

Conversions follow magenta's ``sketch_rnn/utils.py`` exactly where the model depends on it
(``pad_batch``, ``to_normal_strokes``, ``random_scale``, ``augment_strokes``,
``calculate_normalizing_scale_factor``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sketchart.errors import SketchartError

__all__ = [
    "END_ROW",
    "START_TOKEN",
    "augment_strokes",
    "bounds",
    "clamp",
    "fit_to_box",
    "lines_to_strokes3",
    "normalize",
    "pad_batch",
    "random_scale",
    "scale_factor",
    "strokes3_to_lines",
    "strokes3_to_strokes5",
    "strokes5_to_strokes3",
]

#: Row 0 of every model batch: the decoder's first input ``S0``.
START_TOKEN = np.array([0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
#: Padding rows after the end of a sketch: end-of-sketch, no offset.
END_ROW = np.array([0.0, 0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def _check_strokes3(strokes3: np.ndarray, what: str = "strokes3") -> np.ndarray:
    arr = np.asarray(strokes3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SketchartError(f"{what}: expected shape [n, 3], got {list(arr.shape)}")
    return arr


def strokes3_to_strokes5(strokes3: np.ndarray, max_len: int) -> np.ndarray:
    """One sketch as the model's padded stroke-5 input, start token included.

    Exactly the reference's ``pad_batch`` for one sketch: rows ``1..n`` hold the sketch
    (``p1 = 1 - lift``, ``p2 = lift``), rows ``n+1..max_len`` are ``(0, 0, 0, 0, 1)`` and
    row 0 is the start token ``(0, 0, 1, 0, 0)``. A sketch exactly ``max_len`` long gets no
    end row: the reference writes it at index ``max_len`` and shifts it out.

    Args:
        strokes3: ``[n, 3]`` with ``n <= max_len``.
        max_len: the model's ``max_seq_len``.

    Returns:
        ``float32 [max_len + 1, 5]``.

    Raises:
        SketchartError: the sketch is longer than ``max_len`` or not ``[n, 3]``.
    """
    arr = _check_strokes3(strokes3)
    n = arr.shape[0]
    if n > max_len:
        raise SketchartError(f"sketch of {n} points is longer than max_len={max_len}")
    out = np.zeros((max_len + 1, 5), dtype=np.float32)
    out[0] = START_TOKEN
    lift = arr[:, 2].astype(np.float32)
    out[1 : n + 1, 0:2] = arr[:, 0:2]
    out[1 : n + 1, 2] = 1.0 - lift
    out[1 : n + 1, 3] = lift
    out[n + 1 :, 4] = 1.0
    return out


def pad_batch(
    list_of_strokes3: Sequence[np.ndarray], max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """A batch in the model's input layout (the reference's ``DataLoader.pad_batch``).

    Args:
        list_of_strokes3: ``B`` sketches, each ``[n_i, 3]`` with ``n_i <= max_len``.
        max_len: the model's ``max_seq_len``.

    Returns:
        ``(strokes5 float32 [B, max_len + 1, 5], lengths int32 [B])``; ``lengths`` counts
        real points (the start token and padding excluded).
    """
    batch = np.zeros((len(list_of_strokes3), max_len + 1, 5), dtype=np.float32)
    lengths = np.zeros(len(list_of_strokes3), dtype=np.int32)
    for i, strokes3 in enumerate(list_of_strokes3):
        batch[i] = strokes3_to_strokes5(strokes3, max_len)
        lengths[i] = len(strokes3)
    return batch, lengths


def strokes5_to_strokes3(strokes5: np.ndarray) -> np.ndarray:
    """Stroke-5 rows (no start token) back to stroke-3 (the reference's ``to_normal_strokes``).

    The sketch ends before the first row with ``p3 > 0``; with none, every row is kept.
    The lift bit comes from ``p2`` (column 3), as in the reference.

    Args:
        strokes5: ``[n, 5]`` rows ``(dx, dy, p1, p2, p3)``, e.g. ``batch[i, 1:]`` or a
            sampled sequence.

    Returns:
        ``float32 [m, 3]`` with ``m <= n``.
    """
    arr = np.asarray(strokes5)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise SketchartError(f"strokes5: expected shape [n, 5], got {list(arr.shape)}")
    ends = np.flatnonzero(arr[:, 4] > 0)
    n = int(ends[0]) if len(ends) else len(arr)
    out = np.empty((n, 3), dtype=np.float32)
    out[:, 0:2] = arr[:n, 0:2]
    out[:, 2] = arr[:n, 3]
    return out


def strokes3_to_lines(
    strokes3: np.ndarray, start: tuple[float, float] = (0.0, 0.0)
) -> list[np.ndarray]:
    """Absolute polylines of a sketch: a new line starts after every lifted point.

    Args:
        strokes3: ``[n, 3]``.
        start: the absolute position the first offset is taken from.

    Returns:
        ``list[float64 [k, 2]]``; a single-point line is a dot. A trailing stroke without a
        final lift still becomes a line.
    """
    arr = _check_strokes3(strokes3)
    if len(arr) == 0:
        return []
    # float64 so that long sketches accumulate no visible rounding
    points = np.cumsum(arr[:, 0:2].astype(np.float64), axis=0) + np.asarray(start, np.float64)
    ends = np.flatnonzero(arr[:, 2] > 0.5) + 1
    return [p for p in np.split(points, ends) if len(p)]


def lines_to_strokes3(lines: Sequence[np.ndarray], dtype: type = np.float32) -> np.ndarray:
    """Stroke-3 of absolute polylines; the first offset is taken from the origin.

    The last point of every line gets ``lift=1``. Empty lines are skipped.

    Args:
        lines: polylines ``[k, 2]`` of absolute coordinates.
        dtype: output dtype (``float32`` by default; ``float64`` keeps exact round trips).

    Returns:
        ``[n, 3]`` where ``n`` is the total number of points.
    """
    kept = [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines]
    kept = [line for line in kept if len(line)]
    if not kept:
        return np.zeros((0, 3), dtype=dtype)
    points = np.concatenate(kept)
    out = np.zeros((len(points), 3), dtype=np.float64)
    out[0, 0:2] = points[0]
    out[1:, 0:2] = np.diff(points, axis=0)
    out[np.cumsum([len(line) for line in kept]) - 1, 2] = 1.0
    return out.astype(dtype)


def bounds(strokes3: np.ndarray) -> tuple[float, float, float, float]:
    """``(min_x, min_y, max_x, max_y)`` of the drawn points, taking offsets from the origin.

    Unlike the reference's ``get_bounds``, the origin itself is not included: it is not a
    drawn point, and fitting a sketch to a box must not depend on it.

    Raises:
        SketchartError: the sketch is empty.
    """
    arr = _check_strokes3(strokes3)
    if len(arr) == 0:
        raise SketchartError("bounds of an empty sketch")
    points = np.cumsum(arr[:, 0:2].astype(np.float64), axis=0)
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def fit_to_box(
    strokes3: np.ndarray, width: float, height: float, *, center: bool = True
) -> np.ndarray:
    """Scale a sketch uniformly to fit a ``width x height`` box with its corner at the origin.

    The larger relative side fills the box; with ``center`` the other side is centred.
    A sketch of one point (or a zero-size one) is placed at the box's centre, unscaled.

    Returns:
        ``float32 [n, 3]`` whose drawn points lie in ``[0, width] x [0, height]``.
    """
    arr = _check_strokes3(strokes3).astype(np.float64)
    min_x, min_y, max_x, max_y = bounds(arr)
    w, h = max_x - min_x, max_y - min_y
    scale = min(width / w if w > 0 else np.inf, height / h if h > 0 else np.inf)
    if not np.isfinite(scale):
        scale = 1.0
    out = arr.copy()
    out[:, 0:2] *= scale
    off_x = (width - w * scale) / 2 if center else 0.0
    off_y = (height - h * scale) / 2 if center else 0.0
    # only the first offset carries the absolute position
    out[0, 0] += off_x - min_x * scale
    out[0, 1] += off_y - min_y * scale
    return out.astype(np.float32)


def clamp(strokes3: np.ndarray, limit: float = 1000.0) -> np.ndarray:
    """Clamp ``dx, dy`` to ``[-limit, limit]`` (the reference's preprocess uses 1000).

    The reference clamps the pen column as well, which changes nothing for 0/1 values.
    """
    arr = _check_strokes3(strokes3)
    out = np.array(arr, dtype=np.float32)
    np.clip(out[:, 0:2], -limit, limit, out=out[:, 0:2])
    return out


def scale_factor(list_of_strokes3: Sequence[np.ndarray]) -> float:
    """The normalising scale factor: population std of all ``dx`` and ``dy``, pooled.

    The reference's ``calculate_normalizing_scale_factor``: one scalar over the training
    split (data are not mean-centred); valid and test use the training value. The trainer
    calls this on the training sketches (aaron_sheep: 18.5198).

    Raises:
        SketchartError: no points at all.
    """
    if not list_of_strokes3:
        raise SketchartError("scale factor of an empty dataset")
    offsets = np.concatenate([np.asarray(s)[:, 0:2].ravel() for s in list_of_strokes3])
    if offsets.size == 0:
        raise SketchartError("scale factor of a dataset with no points")
    return float(np.std(offsets.astype(np.float64)))


def normalize(strokes3: np.ndarray, factor: float) -> np.ndarray:
    """``dx, dy`` divided by ``factor`` (from :func:`scale_factor`), as ``float32``."""
    if not factor > 0:
        raise SketchartError(f"scale factor must be positive, got {factor}")
    out = np.array(_check_strokes3(strokes3), dtype=np.float32)
    out[:, 0:2] /= factor
    return out


def random_scale(
    strokes3: np.ndarray, random_scale_factor: float, rng: np.random.Generator
) -> np.ndarray:
    """Independent random x and y scaling, as the reference's ``DataLoader.random_scale``.

    Draws exactly two uniforms (x first, then y) even when ``random_scale_factor`` is 0,
    as the reference does; each factor is uniform in ``[1 - f, 1 + f)``.

    Returns:
        A scaled ``float32`` copy.
    """
    x_scale = (rng.random() - 0.5) * 2 * random_scale_factor + 1.0
    y_scale = (rng.random() - 0.5) * 2 * random_scale_factor + 1.0
    out = np.array(strokes3, dtype=np.float32)
    out[:, 0] *= x_scale
    out[:, 1] *= y_scale
    return out


def augment_strokes(strokes3: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Randomly drop points, as the reference's ``augment_strokes``.

    A point may be dropped only when it and the last *kept* point are both pen-down and it
    is at least the third point after a pen-up (or the sketch start); its offset is added
    to the last kept point, so the total displacement is unchanged. Lifted points are never
    dropped. One uniform is drawn for every row, dropped or not.

    Returns:
        ``float32 [m, 3]`` with ``m <= n``.
    """
    arr = np.asarray(_check_strokes3(strokes3), dtype=np.float32)
    n = len(arr)
    # the same draws as one rng.random() per row, in row order
    draws = rng.random(n)
    lifts = arr[:, 2]
    keep = np.ones(n, dtype=bool)
    out = arr.copy()
    last_kept = -1
    prev_lift = 1.0  # the reference's prev_stroke starts as [0, 0, 1]
    count = 0
    for i in range(n):
        lift = lifts[i]
        count = 0 if (lift == 1 or prev_lift == 1) else count + 1
        if lift == 0 and prev_lift == 0 and count > 2 and draws[i] < prob:
            out[last_kept, 0:2] += arr[i, 0:2]
            keep[i] = False
        else:
            last_kept = i
            prev_lift = lift
    return out[keep]
