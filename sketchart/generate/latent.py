"""Latent-space operations: interpolation between two drawings or vectors, and grids
between four corners, on either engine (through :func:`~sketchart.generate.draw.encode`
and :func:`~sketchart.generate.draw.decode`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sketchart.generate.common import AnyModel, SampleError, _info, lerp, slerp
from sketchart.generate.draw import Seed, decode, encode

__all__ = ["grid", "interpolate", "lerp", "slerp"]


def _latent_or_encode(model: AnyModel, item: Any) -> np.ndarray:
    """A latent vector given directly (``[z_size]``), or the mu of a stroke-3 drawing."""
    info = _info(model)
    arr = np.asarray(item, dtype=np.float32)
    if arr.ndim == 1:
        if arr.shape[0] != info.z_size:
            raise SampleError(
                f"latent vector must have {info.z_size} values, got {arr.shape[0]}"
            )
        return arr
    return encode(model, arr)[0]


def interpolate(model: AnyModel, start: Any, end: Any, steps: int = 5, method: str = "slerp",
                temperature: float = 0.65, greedy: bool = False, seed: Seed = None,
                max_len: int | None = None, temperature_mode: str = "js") -> list[np.ndarray]:
    """Drawings along a path in latent space from ``start`` to ``end`` (both included).

    Args:
        model: a conditional model (NumPy engine or Keras SketchRNN).
        start, end: stroke-3 drawings (encoded to their mu) or latent vectors ``[z_size]``.
        steps: number of drawings (>= 2).
        method: ``"slerp"`` (default) or ``"lerp"``.
    """
    if method not in ("lerp", "slerp"):
        raise SampleError(f"unknown interpolation method {method!r}: expected lerp or slerp")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise SampleError(f"steps must be an integer >= 2, got {steps!r}")
    if not _info(model).conditional:
        raise SampleError(
            "interpolate needs a conditional (VAE) model; this one is decoder-only"
        )
    z0, z1 = _latent_or_encode(model, start), _latent_or_encode(model, end)
    mix = slerp if method == "slerp" else lerp
    zs = np.stack([mix(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)])
    return decode(model, zs, temperature, greedy=greedy, seed=seed, max_len=max_len,
                  temperature_mode=temperature_mode)


def grid(model: AnyModel, corners: Sequence[Any], rows: int = 5, cols: int = 5,
         temperature: float = 0.65, greedy: bool = False, seed: Seed = None,
         max_len: int | None = None, temperature_mode: str = "js") -> list[list[np.ndarray]]:
    """A ``rows × cols`` grid of drawings, bilinear in z between four corners.

    Args:
        corners: four drawings or latent vectors: top-left, top-right, bottom-left,
            bottom-right.

    Returns:
        ``rows`` lists of ``cols`` stroke-3 drawings.
    """
    if len(corners) != 4:
        raise SampleError(f"grid needs 4 corners (tl, tr, bl, br), got {len(corners)}")
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SampleError(f"{name} must be a positive integer, got {v!r}")
    if not _info(model).conditional:
        raise SampleError("grid needs a conditional (VAE) model; this one is decoder-only")
    tl, tr, bl, br = (_latent_or_encode(model, c).astype(np.float64) for c in corners)
    zs = []
    for r in range(rows):
        fv = r / (rows - 1) if rows > 1 else 0.0
        for c in range(cols):
            h = c / (cols - 1) if cols > 1 else 0.0
            zs.append((1 - fv) * ((1 - h) * tl + h * tr) + fv * ((1 - h) * bl + h * br))
    flat = decode(model, np.asarray(zs, np.float32), temperature, greedy=greedy, seed=seed,
                  max_len=max_len, temperature_mode=temperature_mode)
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]
