"""What the sampling operations share, whichever engine draws: argument checks, temperature
conventions, latent interpolation, the model facts they read, and :class:`SampleError`.

The lowest module of ``sketchart.generate``: it imports NumPy and ``sketchart.errors`` only
(Keras inside the two functions that convert tensors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sketchart.errors import SketchartError
from sketchart.strokes import strokes5_to_strokes3

if TYPE_CHECKING:
    from sketchart.hparams import HParams

__all__ = [
    "REDRAW_ROUNDS",
    "AnyModel",
    "TEMPERATURE_MODES",
    "SampleError",
    "draws_a_line",
    "lerp",
    "slerp",
    "temperature_factors",
]


#: Rounds of redrawing sketches that draw no line, by default (``sample(redraw_empty=)``).
REDRAW_ROUNDS = 8


#: Accepted values of ``temperature_mode``.
TEMPERATURE_MODES = ("js", "paper", "reference")

Array = np.ndarray


class SampleError(SketchartError):
    """Bad input to a sampling or latent operation (every engine)."""


class AnyModel(Protocol):
    """What the sampling functions take: a
    :class:`~sketchart.generate.numpy_engine.NumpySketchRNN` or a Keras
    :class:`~sketchart.nn.model.SketchRNN` (they dispatch on the type; anything that is not
    the NumPy engine is drawn as a Keras model). ``meta`` is read when present."""

    hps: HParams


# ---------------------------------------------------------------------------- helpers
def temperature_factors(
    temperature: float, mode: str = "js", softmax_temperature: float | None = None
) -> tuple[float, float]:
    """What a temperature does to the mixture: ``(logit divisor, sigma multiplier)``.

    Args:
        temperature: ``T > 0``.
        mode: ``"js"`` (logits / ``0.5 + 0.5·T``, sigma × ``sqrt(T)``), ``"paper"``
            (logits / T, sigma × ``sqrt(T)``) or ``"reference"`` (logits / T, sigma × T).
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


def lerp(z0: Any, z1: Any, t: float) -> Array:
    """Linear interpolation ``(1 - t)·z0 + t·z1`` (float64 maths, float32 result)."""
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(z0: Any, z1: Any, t: float) -> Array:
    """Spherical interpolation (Shoemake), as the sketch-rnn notebook does; lerp if
    parallel."""
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    omega = math.acos(float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0)))
    so = math.sin(omega)
    if so < 1e-6:
        return lerp(a, b, t)
    return ((math.sin((1.0 - t) * omega) / so) * a + (math.sin(t * omega) / so) * b).astype(
        np.float32)


def draws_a_line(strokes3: Array) -> bool:
    """Whether a stroke-3 sketch puts the pen down between two of its points."""
    arr = np.asarray(strokes3)
    return bool(len(arr) >= 2 and np.any(arr[:-1, 2] < 0.5))


@dataclass(frozen=True)
class _ModelInfo:
    scale_factor: float
    max_seq_len: int
    conditional: bool
    z_size: int


def _info(model: AnyModel) -> _ModelInfo:
    """What sampling reads of a model (Keras ``SketchRNN`` or NumPy engine): hps, meta."""
    hps = model.hps
    meta = getattr(model, "meta", None)
    scale = float(getattr(meta, "scale_factor", None) or 1.0)
    max_len = int(getattr(meta, "max_seq_len", None) or hps.max_seq_len)
    return _ModelInfo(scale, max_len, bool(hps.conditional), int(hps.z_size))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _to_numpy(x: Any) -> Array:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def _check_strokes3(strokes3: Any, what: str) -> Array:
    arr = np.asarray(strokes3, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SampleError(
            f"{what}: expected a stroke-3 array [n, 3], got shape {list(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise SampleError(f"{what}: holds NaN or infinite values")
    return arr


def _strokes3_inputs(strokes3: Array, scale_factor: float) -> Array:
    """Stroke-3 (dataset units) -> stroke-5 decoder inputs in model units, no start token."""
    rows = np.zeros((len(strokes3), 5), dtype=np.float32)
    rows[:, 0:2] = strokes3[:, 0:2] / np.float32(scale_factor)
    lift = (strokes3[:, 2] > 0.5).astype(np.float32)
    rows[:, 2] = 1.0 - lift
    rows[:, 3] = lift
    return rows


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise SampleError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _check_max_len(max_len: Any, default: int) -> int:
    if max_len is None:
        return default
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise SampleError(f"max_len must be a positive integer, got {max_len!r}")
    return int(max_len)


def _as_list(drawings: Any) -> list[Any]:
    """One stroke-3 array or a sequence of them -> a list."""
    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        return [drawings]
    return list(drawings)


def _given_z(info: _ModelInfo, z: Any, n: int) -> Array | None:
    """A caller's ``z`` as a contiguous float32 ``[n, z_size]`` (None when not given)."""
    if z is None:
        return None
    if not info.conditional:
        raise SampleError("z given, but this model is decoder-only (it has no latent space)")
    z_np = np.asarray(z, dtype=np.float32)
    if z_np.ndim == 1:
        z_np = np.broadcast_to(z_np, (n, z_np.shape[0]))
    if z_np.shape != (n, info.z_size):
        raise SampleError(f"z must have shape [{n}, {info.z_size}] (or [{info.z_size}]), "
                          f"got {list(np.shape(z))}")
    if not np.all(np.isfinite(z_np)):
        raise SampleError("z holds NaN or infinite values")
    return np.ascontiguousarray(z_np)


def _rows_to_drawings(rows: Array, scale_factor: float,
                      prefix: Array | None = None) -> list[Array]:
    """Sampled stroke-5 rows ``[steps, B, 5]`` (model units) -> B stroke-3 drawings in
    dataset units, each cut before its end state (after ``prefix`` if given)."""
    drawings = []
    for b in range(rows.shape[1]):
        strokes3 = strokes5_to_strokes3(rows[:, b])
        strokes3[:, 0:2] *= scale_factor
        if prefix is not None:
            strokes3 = np.concatenate([prefix, strokes3], axis=0)
        drawings.append(strokes3)
    return drawings
