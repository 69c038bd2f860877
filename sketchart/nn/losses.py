"""Sketch-RNN's losses, exactly as magenta's ``model.py`` computes them (paper eq. 9-10).

* Offset loss ``L_s``: ``-log(sum_k pi_k N(dx, dy | mu_k, sigma_k, rho_k) + 1e-6)`` with the
  bivariate normal density written out (Graves eq. 24-25; *not* a log-sum-exp), masked by
  ``1 - p3`` of the target so only real points count.
* Pen loss ``L_p``: softmax cross-entropy of the pen logits against ``(p1, p2, p3)`` over
  **all** ``N_max`` steps in training (the model learns to keep emitting the end state);
  masked like ``L_s`` when ``training`` is false (magenta's ``is_training=False``).
* ``r_cost``: the mean over batch x ``N_max`` (so divided by ``N_max``, not by the
  sketch's length).
* ``kl_cost``: ``-0.5 * mean(1 + presig - mu^2 - exp(presig))`` over batch *and* latent
  dimensions, floored at ``kl_tolerance`` (the floored value is what is reported).
* ``cost = r_cost + kl_weight * kl_cost``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from keras import ops

from sketchart.hparams import HParams

__all__ = [
    "MixtureParams",
    "bivariate_normal",
    "compute_losses",
    "kl_loss",
    "reconstruction_loss",
    "split_mixture",
]

#: added to the mixture density inside the log (the reference's ``epsilon``)
DENSITY_EPSILON = 1e-6


class MixtureParams(NamedTuple):
    """The mixture-density head's output; every field has shape ``[..., M]`` (pen: 3).

    ``sigma_x``/``sigma_y`` are already exponentiated, ``rho`` already ``tanh``-ed; the
    logits are raw (apply softmax / temperature as needed).
    """

    pen_logits: Any
    pi_logits: Any
    mu_x: Any
    mu_y: Any
    sigma_x: Any
    sigma_y: Any
    rho: Any


def split_mixture(raw: Any, num_mixture: int) -> MixtureParams:
    """Split the head's ``[..., 3 + 6M]`` output in the reference's block order.

    ``[0:3]`` pen logits, then six blocks of ``M``: pi logits, mu_x, mu_y, log sigma_x,
    log sigma_y, raw correlation (blocks, not interleaved).
    """
    m = num_mixture
    # one split, not seven slices: its gradient is one concatenation, where each slice's
    # would fill a zero tensor of the whole [N, B, 3 + 6M] output and all seven be summed
    pen, pi, mu_x, mu_y, s_x, s_y, corr = ops.split(
        raw, [3 + k * m for k in range(6)], axis=-1
    )
    return MixtureParams(pen, pi, mu_x, mu_y, ops.exp(s_x), ops.exp(s_y), ops.tanh(corr))


def bivariate_normal(
    x: Any, y: Any, mu_x: Any, mu_y: Any, sigma_x: Any, sigma_y: Any, rho: Any
) -> Any:
    """Density of ``(x, y)`` under each bivariate normal (Graves 2013, eq. 24-25)."""
    nx = x - mu_x
    ny = y - mu_y
    sxsy = sigma_x * sigma_y
    z = ops.square(nx / sigma_x) + ops.square(ny / sigma_y) - 2 * (rho * (nx * ny)) / sxsy
    one_minus_rho2 = 1 - ops.square(rho)
    density = ops.exp(-z / (2 * one_minus_rho2))
    return density / (2 * math.pi * (sxsy * ops.sqrt(one_minus_rho2)))


def reconstruction_loss(params: MixtureParams, targets: Any, training: bool = True) -> Any:
    """``r_cost``: mean over batch x steps of the masked offset loss plus the pen loss.

    Args:
        params: mixture parameters over ``[B, N, ...]``.
        targets: ``strokes5 [B, N, 5]`` without the start token (``batch[:, 1:]``).
        training: pen loss over all steps (True, as in training and in magenta's own
            validation) or only over real points (False).
    """
    targets = ops.cast(targets, params.mu_x.dtype)
    dx = targets[..., 0:1]
    dy = targets[..., 1:2]
    pen = targets[..., 2:5]
    density = bivariate_normal(
        dx, dy, params.mu_x, params.mu_y, params.sigma_x, params.sigma_y, params.rho
    )  # [B, N, M]
    pi = ops.softmax(params.pi_logits, axis=-1)
    offset_loss = -ops.log(ops.sum(density * pi, axis=-1) + DENSITY_EPSILON)  # [B, N]
    real = 1.0 - pen[..., 2]  # 1 on real points, 0 on end-of-sketch padding
    pen_loss = -ops.sum(pen * ops.log_softmax(params.pen_logits, axis=-1), axis=-1)
    if not training:
        pen_loss = pen_loss * real
    return ops.mean(offset_loss * real + pen_loss)


def kl_loss(mu: Any, presig: Any, kl_tolerance: float) -> tuple[Any, Any]:
    """``(kl_cost, kl_raw)``: the KL divergence to N(0, I), mean over batch and latent,
    and its value floored at ``kl_tolerance`` (below the floor it has no gradient)."""
    kl_raw = -0.5 * ops.mean(1 + presig - ops.square(mu) - ops.exp(presig))
    return ops.maximum(kl_raw, kl_tolerance), kl_raw


def compute_losses(
    outputs: dict[str, Any],
    targets: Any,
    hps: HParams,
    kl_weight: Any,
    training: bool = True,
    kl_tolerance: Any = None,
) -> dict[str, Any]:
    """The reference's training objective.

    Args:
        outputs: the model's output dict (``params``, and ``mu``/``presig`` when
            ``hps.conditional``).
        targets: ``strokes5 [B, N, 5]`` without the start token (``batch[:, 1:]``).
        hps: hyperparameters (``conditional``, ``kl_tolerance``).
        kl_weight: weight of the KL term (annealed by the trainer).
        training: see :func:`reconstruction_loss`.
        kl_tolerance: overrides ``hps.kl_tolerance`` (may be a tensor, so one compiled
            function serves several values).

    Returns:
        dict with scalar ``cost``, ``r_cost``, ``kl_cost`` (floored) and ``kl_raw``.
    """
    r_cost = reconstruction_loss(outputs["params"], targets, training=training)
    if hps.conditional:
        floor = hps.kl_tolerance if kl_tolerance is None else kl_tolerance
        kl_cost, kl_raw = kl_loss(outputs["mu"], outputs["presig"], floor)
    else:
        kl_cost = kl_raw = ops.zeros((), dtype=r_cost.dtype)
    cost = r_cost + kl_weight * kl_cost
    return {"cost": cost, "r_cost": r_cost, "kl_cost": kl_cost, "kl_raw": kl_raw}
