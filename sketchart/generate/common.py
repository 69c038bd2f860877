"""What the sampling operations share: argument checks, temperature conventions, the
model facts they read, and :class:`SampleError`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sketchart.errors import SketchartError

__all__ = ["REDRAW_ROUNDS", "SampleError", "TEMPERATURE_MODES", "temperature_factors"]


#: Rounds of redrawing sketches that draw no line, by default (``sample(redraw_empty=)``).
REDRAW_ROUNDS = 8


#: Accepted values of ``temperature_mode``.
TEMPERATURE_MODES = ("js", "paper", "reference")


class SampleError(SketchartError):
    """Bad input to a sampling or latent operation."""


# ---------------------------------------------------------------------------- helpers
def temperature_factors(
    temperature: float, mode: str = "js", softmax_temperature: float | None = None
) -> tuple[float, float]:
    """What a temperature does to the mixture: ``(logit divisor, sigma multiplier)``.

    Args:
        temperature: ``T > 0``.
        mode: ``"js"``, ``"paper"`` or ``"reference"`` (see the module docstring).
        softmax_temperature: in ``"js"`` mode, the logit divisor (default ``0.5 + 0.5·T``).

    Raises:
        SampleError: ``T <= 0`` or an unknown mode.
    """
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise SampleError(f"temperature must be > 0, got {temperature}")
    if mode == "js":
        div = 0.5 + 0.5 * t if softmax_temperature is None else float(softmax_temperature)
        if not (math.isfinite(div) and div > 0):
            raise SampleError(f"softmax_temperature must be > 0, got {softmax_temperature}")
        return div, math.sqrt(t)
    if mode == "paper":
        return t, math.sqrt(t)
    if mode == "reference":
        return t, t
    raise SampleError(
        f"unknown temperature_mode {mode!r}: expected one of {', '.join(TEMPERATURE_MODES)}")


@dataclass(frozen=True)
class _ModelInfo:
    scale_factor: float
    max_seq_len: int
    conditional: bool
    z_size: int


def _info(model: Any) -> _ModelInfo:
    hps = model.hps
    meta = getattr(model, "meta", None)
    scale = float(getattr(meta, "scale_factor", None) or 1.0)
    max_len = int(getattr(meta, "max_seq_len", None) or hps.max_seq_len)
    return _ModelInfo(scale, max_len, bool(hps.conditional), int(hps.z_size))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _to_numpy(x: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def _check_strokes3(strokes3: Any, what: str) -> np.ndarray:
    arr = np.asarray(strokes3, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SampleError(
            f"{what}: expected a stroke-3 array [n, 3], got shape {list(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise SampleError(f"{what}: holds NaN or infinite values")
    return arr


def _strokes3_inputs(strokes3: np.ndarray, scale_factor: float) -> np.ndarray:
    """Stroke-3 (dataset units) -> stroke-5 decoder inputs in model units, no start token."""
    rows = np.zeros((len(strokes3), 5), dtype=np.float32)
    rows[:, 0:2] = strokes3[:, 0:2] / scale_factor
    lift = (strokes3[:, 2] > 0.5).astype(np.float32)
    rows[:, 2] = 1.0 - lift
    rows[:, 3] = lift
    return rows


# ----------------------------------------------------------------- public API
def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise SampleError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _check_max_len(max_len: int | None, default: int) -> int:
    if max_len is None:
        return default
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise SampleError(f"max_len must be a positive integer, got {max_len!r}")
    return int(max_len)


def _as_list(drawings: Any) -> list[np.ndarray]:
    """One stroke-3 array or a sequence of them -> a list."""
    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        return [drawings]
    return list(drawings)
