"""The cells' initialisers (magenta's, seeded from NumPy so that a seed gives the same
weights on every backend), and a switch that skips them when weights will be loaded."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = ["NumpyRandom", "PerGateOrthogonal", "seeded", "weights_will_be_loaded"]


# Set while a model is built only to receive loaded weights: drawing random values (four
# QR decompositions per LSTM) would be thrown away, and costs seconds on a busy CPU.
_LOADING = contextvars.ContextVar("sketchart_loading_weights", default=False)


@contextlib.contextmanager
def weights_will_be_loaded() -> Iterator[None]:
    """Within this block the project's initialisers return zeros instead of random draws.

    Use it around ``SketchRNN(hps)`` when every weight is overwritten right after.
    """
    token = _LOADING.set(True)
    try:
        yield
    finally:
        _LOADING.reset(token)


@keras.saving.register_keras_serializable(package="sketchart")
class PerGateOrthogonal(keras.initializers.Initializer):
    """The reference's ``lstm_ortho_initializer``: one independent orthogonal block per gate.

    ``shape`` is ``[n, 4 * n]``; each ``[n, n]`` block is an orthogonal matrix (the
    reference orthogonalises each gate separately rather than the whole matrix).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        # NumPy, like the reference's rnn.orthogonal (which takes the SVD of a Gaussian
        # matrix; a sign-corrected QR gives the same Haar distribution, faster). On JAX
        # this is also much faster than Keras' Orthogonal, which compiles per shape.
        if _LOADING.get():
            return ops.zeros(tuple(int(n) for n in shape), dtype=dtype or "float32")
        rows, cols = int(shape[0]), int(shape[1])
        block = cols // 4
        rng = np.random.default_rng(self.seed)
        blocks = []
        for _ in range(4):
            a = rng.normal(0.0, 1.0, (max(rows, block), min(rows, block)))
            q, r = np.linalg.qr(a)
            q = q * np.sign(np.diag(r))
            blocks.append(q if rows >= block else q.T)
        return ops.convert_to_tensor(np.concatenate(blocks, axis=1), dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="sketchart")
class NumpyRandom(keras.initializers.Initializer):
    """``glorot_uniform`` or ``normal(stddev)`` drawn with NumPy.

    The same distributions as Keras' initializers (and TF1's defaults in the reference);
    NumPy because on the JAX backend every new weight shape would otherwise compile a
    random kernel (seconds per model on a small CPU).
    """

    def __init__(
        self, kind: str = "glorot_uniform", stddev: float = 1.0, seed: int | None = None
    ) -> None:
        if kind not in ("glorot_uniform", "normal"):
            raise ValueError(f"NumpyRandom: unknown kind {kind!r}")
        self.kind = kind
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        shape = tuple(int(n) for n in shape)
        if _LOADING.get():
            return ops.zeros(shape, dtype=dtype or "float32")
        rng = np.random.default_rng(self.seed)
        if self.kind == "normal":
            values = rng.normal(0.0, self.stddev, shape)
        else:
            # TF1 / Keras fans: a 1-D shape (magenta's output bias) has fan_in = fan_out = n
            fan_in = shape[0] if len(shape) == 1 else int(np.prod(shape[:-1]))
            fan_out = shape[0] if len(shape) == 1 else shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            values = rng.uniform(-limit, limit, shape)
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "stddev": self.stddev, "seed": self.seed}


def seeded(seed: int | None, k: int) -> int | None:
    return None if seed is None else seed * 1000 + k
