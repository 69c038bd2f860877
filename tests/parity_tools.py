"""An independent float64 NumPy forward pass of magenta's layer-norm Sketch-RNN.

Written from the reference's description (``../shared/notes/sketch-rnn-reference.md``
sections 4 and 6), not from ``sketchart``: it reads the fixture's weights by their TF
names and follows the reference's own order of operations (one matmul of
``concat([x, h])`` with ``concat([W_xh; W_hh])`` per step, ``layer_norm_all`` then
``layer_norm`` on ``c``, state ``[h, c]``). The parity tests use it to check our model's
maths in float64, where rounding no longer hides a difference, and to show how far the
float32 fixture itself is from exact arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ln_decode", "ln_encode", "ln_lstm_step"]

#: the reference's layer-norm epsilon, inside the square root
LN_EPSILON = 1e-3
#: the reference's forget bias, added inside the sigmoid at run time
FORGET_BIAS = 1.0

_CELL_NAMES = (
    "W_xh",
    "W_hh",
    "ln_all/ln_gamma",
    "ln_all/ln_beta",
    "ln_c/ln_gamma",
    "ln_c/ln_beta",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _cell_weights(data: Any, scope: str) -> list[np.ndarray]:
    prefix = f"w:{scope}/LayerNormLSTMCell/"
    return [np.asarray(data[f"{prefix}{n}:0"], np.float64) for n in _CELL_NAMES]


def ln_lstm_step(
    weights: list[np.ndarray], x: np.ndarray, h: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One ``LayerNormLSTMCell`` step: ``(new_h, new_c)`` for ``x [B, k]``, ``h, c [B, H]``."""
    w_xh, w_hh, gamma_all, beta_all, gamma_c, beta_c = weights
    units = w_hh.shape[0]
    pre = np.concatenate([x, h], 1) @ np.concatenate([w_xh, w_hh], 0)  # [B, 4H], no bias
    gates = pre.reshape(-1, 4, units)  # each gate block normalised on its own
    mean = gates.mean(2, keepdims=True)
    var = np.square(gates - mean).mean(2, keepdims=True)  # biased variance
    gates = (gates - mean) / np.sqrt(var + LN_EPSILON)
    pre = gates.reshape(-1, 4 * units) * gamma_all + beta_all
    i, j, f, o = np.split(pre, 4, axis=1)
    new_c = c * _sigmoid(f + FORGET_BIAS) + _sigmoid(i) * np.tanh(j)
    shifted = new_c - new_c.mean(1, keepdims=True)
    var_c = np.square(shifted).mean(1, keepdims=True)
    normed_c = gamma_c * shifted / np.sqrt(var_c + LN_EPSILON) + beta_c  # c itself is stored
    return np.tanh(normed_c) * _sigmoid(o), new_c


def ln_encode(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, presig)`` of the fixture's batch: a bidirectional encoder over real lengths."""
    targets = np.asarray(data["input_data"], np.float64)[:, 1:]  # the encoder sees targets
    lengths = np.asarray(data["sequence_lengths"], np.int64)
    batch = targets.shape[0]
    t_max = int(lengths.max())
    finals = []
    for scope, backward in (("fw", False), ("bw", True)):
        weights = _cell_weights(data, f"vector_rnn/ENC_RNN/{scope}")
        units = weights[1].shape[0]
        h, c = np.zeros((batch, units)), np.zeros((batch, units))
        for t in range(t_max):
            # the backward cell reads the reversed valid prefix (tf.reverse_sequence)
            index = (
                np.where(t < lengths, lengths - 1 - t, t) if backward else np.full(batch, t)
            )
            x = targets[np.arange(batch), np.minimum(index, targets.shape[1] - 1)]
            new_h, new_c = ln_lstm_step(weights, x, h, c)
            live = (t < lengths)[:, None]  # past the end the state is copied through
            h, c = np.where(live, new_h, h), np.where(live, new_c, c)
        finals.append(h)
    last_h = np.concatenate(finals, 1)

    def dense(scope: str) -> np.ndarray:
        w = np.asarray(data[f"w:vector_rnn/{scope}/super_linear_w:0"], np.float64)
        b = np.asarray(data[f"w:vector_rnn/{scope}/super_linear_b:0"], np.float64)
        return last_h @ w + b

    return dense("ENC_RNN_mu"), dense("ENC_RNN_sigma")


def ln_decode(data: Any, z: np.ndarray) -> dict[str, np.ndarray]:
    """The decoder and mixture head on the fixture's batch with latent ``z [B, z_size]``.

    Returns the fixture's keys (``pi``, ``mu1``, ``mu2``, ``sigma1``, ``sigma2``,
    ``corr``, ``pen_logits`` as ``[B * N, .]`` rows ordered (batch, time), after softmax,
    exp and tanh as the reference stores them; ``initial_state``, ``final_state``
    ``[B, 2H]`` in the layout ``[h, c]``).
    """
    inputs = np.asarray(data["input_data"], np.float64)[:, :-1]  # starts with the S0 token
    z = np.asarray(z, np.float64)
    weights = _cell_weights(data, "vector_rnn/RNN")
    units = weights[1].shape[0]
    w_init = np.asarray(data["w:vector_rnn/linear/super_linear_w:0"], np.float64)
    b_init = np.asarray(data["w:vector_rnn/linear/super_linear_b:0"], np.float64)
    state0 = np.tanh(z @ w_init + b_init)
    h, c = state0[:, :units], state0[:, units:]
    outputs = []
    for t in range(inputs.shape[1]):
        h, c = ln_lstm_step(weights, np.concatenate([inputs[:, t], z], 1), h, c)
        outputs.append(h)
    flat = np.stack(outputs, 1).reshape(-1, units)
    w_out = np.asarray(data["w:vector_rnn/RNN/output_w:0"], np.float64)
    b_out = np.asarray(data["w:vector_rnn/RNN/output_b:0"], np.float64)
    raw = flat @ w_out + b_out
    pi, mu1, mu2, log_s1, log_s2, corr = np.split(raw[:, 3:], 6, axis=1)  # blocks of M
    pi = np.exp(pi - pi.max(1, keepdims=True))
    return {
        "pi": pi / pi.sum(1, keepdims=True),
        "mu1": mu1,
        "mu2": mu2,
        "sigma1": np.exp(log_s1),
        "sigma2": np.exp(log_s2),
        "corr": np.tanh(corr),
        "pen_logits": raw[:, :3],
        "initial_state": state0,
        "final_state": np.concatenate([h, c], 1),
    }
