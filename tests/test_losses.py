"""The losses against an independent NumPy implementation (float64) of magenta's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sketchart.hparams import HParams

pytestmark = pytest.mark.parity


def np_reference(
    raw: np.ndarray,
    targets: np.ndarray,
    mu: np.ndarray,
    presig: np.ndarray,
    m: int,
    kl_tolerance: float,
    kl_weight: float,
    training: bool,
) -> dict[str, float]:
    """magenta's get_lossfunc / KL in float64, written from the paper's equations."""
    raw = raw.astype(np.float64)
    pen_logits = raw[..., :3]
    pi_logits, mu_x, mu_y, ls_x, ls_y, corr = (
        raw[..., 3 + k * m : 3 + (k + 1) * m] for k in range(6)
    )
    s_x, s_y, rho = np.exp(ls_x), np.exp(ls_y), np.tanh(corr)
    pi = np.exp(pi_logits - pi_logits.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    x, y = targets[..., 0:1], targets[..., 1:2]
    zx, zy = (x - mu_x) / s_x, (y - mu_y) / s_y
    q = zx**2 + zy**2 - 2 * rho * zx * zy
    dens = np.exp(-q / (2 * (1 - rho**2))) / (2 * math.pi * s_x * s_y * np.sqrt(1 - rho**2))
    ls = -np.log((pi * dens).sum(-1) + 1e-6)
    mask = 1 - targets[..., 4]
    logp = pen_logits - pen_logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    lp = -(targets[..., 2:5] * logp).sum(-1)
    if not training:
        lp = lp * mask
    r = float((ls * mask + lp).mean())
    kl_raw = float(-0.5 * np.mean(1 + presig - mu**2 - np.exp(presig)))
    kl = max(kl_raw, kl_tolerance)
    return {"r_cost": r, "kl_cost": kl, "kl_raw": kl_raw, "cost": r + kl_weight * kl}


def make_batch(rng: np.random.Generator, lengths: list[int], steps: int) -> np.ndarray:
    """Targets ``[B, steps, 5]`` padded like magenta's pad_batch (end rows (0,0,0,0,1))."""
    out = np.zeros((len(lengths), steps, 5), np.float32)
    for b, n in enumerate(lengths):
        out[b, :n, :2] = rng.normal(size=(n, 2))
        lift = rng.random(n) < 0.2
        lift[n - 1] = True
        out[b, :n, 2] = ~lift
        out[b, :n, 3] = lift
        out[b, n:, 4] = 1
    return out


def run_ours(
    raw: np.ndarray,
    targets: np.ndarray,
    mu: np.ndarray,
    presig: np.ndarray,
    hps: HParams,
    kl_weight: float,
    training: bool,
) -> dict[str, float]:
    from keras import ops

    from sketchart.nn.losses import compute_losses, split_mixture

    params = split_mixture(ops.convert_to_tensor(raw), hps.num_mixture)
    out = {
        "params": params,
        "mu": ops.convert_to_tensor(mu),
        "presig": ops.convert_to_tensor(presig),
    }
    losses = compute_losses(out, targets, hps, kl_weight, training=training)
    return {k: float(v) for k, v in losses.items()}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("lengths", [[7, 3, 10], [10, 10, 10], [1, 2, 1]])
def test_losses_match_numpy(training: bool, lengths: list[int]) -> None:
    """Random mixture outputs and masks; [10, 10, 10] is the max-length edge case (no end
    row at all), [1, 2, 1] mostly padding."""
    rng = np.random.default_rng(sum(lengths) + training)
    m, steps = 4, 10
    hps = HParams(num_mixture=m, z_size=6, kl_tolerance=0.2)
    raw = rng.normal(scale=0.8, size=(3, steps, 3 + 6 * m)).astype(np.float32)
    targets = make_batch(rng, lengths, steps)
    mu = rng.normal(size=(3, 6)).astype(np.float32)
    presig = rng.normal(size=(3, 6)).astype(np.float32)
    ours = run_ours(raw, targets, mu, presig, hps, 0.37, training)
    ref = np_reference(raw, targets, mu, presig, m, 0.2, 0.37, training)
    for key in ("r_cost", "kl_cost", "kl_raw", "cost"):
        assert ours[key] == pytest.approx(ref[key], rel=2e-6, abs=1e-7), key


def test_pen_loss_masking_only_outside_training() -> None:
    """Padding rows add pen loss in training only; offsets never count there."""
    rng = np.random.default_rng(1)
    m = 2
    hps = HParams(num_mixture=m, z_size=2)
    raw = rng.normal(size=(1, 6, 3 + 6 * m)).astype(np.float32)
    targets = make_batch(rng, [3], 6)
    mu = presig = np.zeros((1, 2), np.float32)
    train = run_ours(raw, targets, mu, presig, hps, 0.0, True)["r_cost"]
    evaluate = run_ours(raw, targets, mu, presig, hps, 0.0, False)["r_cost"]
    assert train > evaluate
    # changing the offsets predicted for padding rows changes nothing
    raw2 = raw.copy()
    raw2[:, 3:, 3 + m :] += 5.0
    assert run_ours(raw2, targets, mu, presig, hps, 0.0, True)["r_cost"] == pytest.approx(
        train
    )
    # the denominator is N_max, not the sketch's length: evaluation of a sketch with all
    # its losses on 3 of 6 rows equals the per-row mean times 3/6
    per_row = np_reference(raw[:, :3], targets[:, :3], mu, presig, m, 0, 0, False)["r_cost"]
    assert evaluate == pytest.approx(per_row * 3 / 6, rel=1e-5)


def test_kl_floor() -> None:
    """kl_cost never goes below kl_tolerance and has no gradient below it."""
    from keras import ops

    from sketchart.nn.losses import kl_loss

    mu = np.full((2, 4), 0.01, np.float32)
    presig = np.zeros((2, 4), np.float32)
    cost, raw = kl_loss(ops.convert_to_tensor(mu), ops.convert_to_tensor(presig), 0.2)
    assert float(raw) == pytest.approx(0.5 * 0.01**2, rel=1e-3)  # float32 cancellation
    assert float(cost) == pytest.approx(0.2)
    cost, raw = kl_loss(ops.convert_to_tensor(mu * 100), ops.convert_to_tensor(presig), 0.2)
    assert float(cost) == float(raw) == pytest.approx(0.5, rel=1e-5)


def test_unconditional_has_no_kl() -> None:
    rng = np.random.default_rng(2)
    hps = HParams(num_mixture=2, conditional=False)
    raw = rng.normal(size=(2, 5, 15)).astype(np.float32)
    targets = make_batch(rng, [5, 2], 5)
    from keras import ops

    from sketchart.nn.losses import compute_losses, split_mixture

    out = {"params": split_mixture(ops.convert_to_tensor(raw), 2)}
    losses = compute_losses(out, targets, hps, 0.5)
    assert float(losses["kl_cost"]) == 0.0
    assert float(losses["cost"]) == pytest.approx(float(losses["r_cost"]))


def test_bivariate_normal_integrates_to_one() -> None:
    """The density (with correlation) integrates to 1 on a grid."""
    from keras import ops

    from sketchart.nn.losses import bivariate_normal

    g = np.linspace(-6, 6, 401, dtype=np.float32)
    x, y = np.meshgrid(g, g)
    d = bivariate_normal(x, y, 0.3, -0.2, 0.9, 1.3, 0.6)
    total = float(ops.sum(d)) * (g[1] - g[0]) ** 2
    assert total == pytest.approx(1.0, abs=2e-3)


def test_split_mixture_block_order() -> None:
    """pen logits, then blocks pi, mu_x, mu_y, log sigma_x, log sigma_y, corr."""
    from keras import ops

    from sketchart.nn.losses import split_mixture

    m = 3
    raw = np.arange(3 + 6 * m, dtype=np.float32)[None] / 100
    p = split_mixture(ops.convert_to_tensor(raw), m)
    np.testing.assert_allclose(np.asarray(p.pen_logits), raw[:, :3])
    np.testing.assert_allclose(np.asarray(p.pi_logits), raw[:, 3:6])
    np.testing.assert_allclose(np.asarray(p.mu_y), raw[:, 9:12])
    np.testing.assert_allclose(np.asarray(p.sigma_x), np.exp(raw[:, 12:15]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.rho), np.tanh(raw[:, 18:21]), rtol=1e-6)
