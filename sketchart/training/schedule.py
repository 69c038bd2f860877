"""The reference's schedules: learning rate and KL weight per step, and the decoder steps a
length-bucketed batch runs."""

from __future__ import annotations

import numpy as np

from sketchart.hparams import HParams

__all__ = [
    "BUCKET_STEP_MULTIPLE",
    "BUCKET_STEP_MULTIPLE_COMPILED",
    "bucket_multiple",
    "bucket_steps",
    "kl_weight_at",
    "learning_rate_at",
]

#: bucketed batches run a multiple of this many decoder steps: 8 where the compiled step
#: takes any length (tf.function without XLA), 25 where each length is compiled anew
#: (jax.jit, XLA), so at most N_max / 25 programs are built
BUCKET_STEP_MULTIPLE = 8
BUCKET_STEP_MULTIPLE_COMPILED = 25


def learning_rate_at(hps: HParams, step: int) -> float:
    """The reference's learning rate for the update at ``step`` (updates done before it).

    ``(learning_rate - min_learning_rate) * decay_rate**step + min_learning_rate``: it
    decays towards ``min_learning_rate`` and never below.
    """
    return ((hps.learning_rate - hps.min_learning_rate) * hps.decay_rate ** step
            + hps.min_learning_rate)


def kl_weight_at(hps: HParams, step: int) -> float:
    """The reference's KL weight for the update at ``step``.

    ``kl_weight - (kl_weight - kl_weight_start) * kl_decay_rate**step``: starts at
    ``kl_weight_start`` and rises towards ``kl_weight``.
    """
    return hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * hps.kl_decay_rate ** step


def bucket_multiple(jit_compile: bool = False) -> int:
    """The rounding of bucketed step counts for the active backend (see the constants)."""
    import keras

    if keras.backend.backend() == "tensorflow" and not jit_compile:
        return BUCKET_STEP_MULTIPLE
    return BUCKET_STEP_MULTIPLE_COMPILED


def bucket_steps(lengths: np.ndarray, max_seq_len: int,
                 multiple: int = BUCKET_STEP_MULTIPLE) -> int:
    """Decoder steps a bucketed batch runs: its longest sketch + 1 (the end-of-sketch
    step), rounded up to ``multiple`` and capped at ``max_seq_len``."""
    need = int(np.max(lengths)) + 1
    return min(max_seq_len, -(-need // multiple) * multiple)
