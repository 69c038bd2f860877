"""The NumPy engine's sampling loop, its random draws and its temperature conventions.

**Random draws (one generator, a fixed order).** A sampling run takes every random number
from one ``numpy.random.Generator(PCG64(seed))``, drawn up front by :func:`draw_noise` in
this order:

1. ``z``: the latent noise ``eps``, ``standard_normal((batch, z_size))`` in float64, then
   cast to float32 (conditional models only; drawn even when the caller gives ``z``, so
   that the step draws always start at the same place in the stream);
2. the steps: one block ``random((steps, batch, 4))`` in float64, step-major, so that
   step ``t`` of sketch ``b`` uses the four numbers ``[t, b, 0:4]``, in this order: the
   pen-state uniform, the mixture-component uniform, and two uniforms ``u1, u2`` that give
   the two standard normals of the correlated bivariate normal by Box-Muller:
   ``r = sqrt(-2 log(1 - u1))``, ``n1 = r cos(2 pi u2)``, ``n2 = r sin(2 pi u2)`` (in float64,
   then cast to float32). Because the block is step-major, a run of ``T`` steps uses a
   prefix of the draws of a longer one.

Uniforms are cast to float32 too. Categorical draws (pen state, mixture component) are
by inverse CDF: the number of cumulative probabilities below the uniform, clipped to the
last category (magenta-js's ``sampleSoftmax``). The offset is
``dx = mu_x + sx (sqrt(1 - rho^2) n1 + rho n2)``, ``dy = mu_y + sy n2`` (magenta-js's
``birandn``). Any other engine fed these very arrays (see :func:`compiled_inputs` for the
compiled TensorFlow/JAX samplers' ``u``/``g`` layout, which ``sketchart.generate.loops``
uses) draws the same sketch, up to float rounding.

A sampling call that draws again (``redraw_empty``) continues the same generator: its
second round's draws are :func:`draw_noise` called again after the first round's.

**Temperatures** (``temperature_mode``): ``sketchart.generate.common.temperature_factors``,
shared by every engine.

**The loop.** One array program per step for the whole batch. A sketch that has drawn its
end state leaves the batch (its rows are dropped from the state arrays), so later steps
cost only what the unfinished sketches need; its rows after the end are never written.
The loop runs NumPy's OpenBLAS on one thread (restored after): its matrix products are
small, and on a busy 2-core machine two BLAS threads made one flamingo sketch 115 ms
instead of 13 ms (batch 100: 11.6 instead of 2.3 ms per sketch).

Importing this module imports NumPy and ``sketchart.generate.common`` only.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from sketchart.generate.common import TEMPERATURE_MODES, SampleError, temperature_factors
from sketchart.generate.numpy_cells import FORGET_BIAS, NumpyCell

__all__ = [
    "TEMPERATURE_MODES",
    "SampleError",
    "compiled_inputs",
    "draw_noise",
    "make_rng",
    "run_loop",
    "single_blas_thread",
    "temperature_factors",
]

Array = np.ndarray


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """``Generator(PCG64(seed))``; a Generator given is used as is (its stream continues)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(seed))


def draw_noise(rng: np.random.Generator, batch: int, steps: int, z_size: int = 0,
               ) -> dict[str, Array]:
    """Every random number of one sampling run, in the documented order.

    Returns:
        ``{"z": [batch, z_size], "pen": [steps, batch], "component": [steps, batch],
        "normal": [steps, batch, 2]}``, all float32 (``z`` has 0 columns when
        ``z_size`` is 0: a decoder-only model draws no latent noise).
    """
    if z_size:
        z = rng.standard_normal((batch, z_size)).astype(np.float32)
    else:
        z = np.zeros((batch, 0), np.float32)
    raw = rng.random((steps, batch, 4))
    radius = np.sqrt(-2.0 * np.log1p(-raw[..., 2]))  # 1 - u1 is in (0, 1]: finite log
    angle = 2.0 * np.pi * raw[..., 3]
    normal = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    return {
        "z": z,
        "pen": raw[..., 0].astype(np.float32),
        "component": raw[..., 1].astype(np.float32),
        "normal": normal.astype(np.float32),
    }


def compiled_inputs(noise: dict[str, Array]) -> tuple[Array, Array]:
    """The step draws in the compiled samplers' layout: ``u [T, B, 2]`` (component, pen)
    and ``g [T, B, 2]`` (``sketchart.generate.sampling``'s loops)."""
    u = np.stack([noise["component"], noise["pen"]], axis=-1)
    return np.ascontiguousarray(u), np.ascontiguousarray(noise["normal"])


# ------------------------------------------------------------------ BLAS threads
@functools.cache
def _blas_threads_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """OpenBLAS's get/set number of threads, as linked into NumPy (None if not found)."""
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
        lib = ctypes.CDLL(umath.__file__)
    except (ImportError, OSError, AttributeError):
        return None
    for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                           ("openblas", "64_"), ("openblas", "")):
        get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
        set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
        if get is not None and set_ is not None:
            get.restype = ctypes.c_int
            set_.argtypes = [ctypes.c_int]
            return get, set_
    return None


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run NumPy's OpenBLAS on one thread within the block (a no-op where the library is
    not OpenBLAS). Process-wide while it lasts, as every BLAS thread setting is."""
    api = _blas_threads_api()
    if api is None:
        yield
        return
    get, set_ = api
    before = int(get())
    set_(1)
    try:
        yield
    finally:
        set_(before)


# ------------------------------------------------------------------ one point
def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _inverse_cdf(p: Array, u: Array) -> Array:
    below = (np.cumsum(p, axis=-1) < u[:, None]).sum(axis=-1)
    return np.minimum(below, p.shape[-1] - 1)


#: offsets of mu_x, mu_y, log sigma_x, log sigma_y, corr from the pi block, in blocks
_BLOCKS = np.arange(1, 6)


def sample_points(raw: Array, num_mixture: int, draws: Sequence[Array], logit_div: float,
                  sigma_mul: float, greedy: bool, out: Array) -> Array:
    """One stroke-5 point per row of the head's output ``raw [b, 3 + 6M]``, into ``out``.

    ``draws`` = ``(pen uniform [b], component uniform [b], normals [b, 2])``. Returns the
    pen state (0, 1, 2) of each row. (Few NumPy calls: at batch 1 their overhead is
    most of this function's time.)
    """
    m = num_mixture
    logits = raw[:, :3 + m] / np.float32(logit_div)
    pen_p, pi_p = _softmax(logits[:, :3]), _softmax(logits[:, 3:])
    if greedy:
        k, pen = pi_p.argmax(axis=-1), pen_p.argmax(axis=-1)
    else:
        k, pen = _inverse_cdf(pi_p, draws[1]), _inverse_cdf(pen_p, draws[0])
    rows = np.arange(raw.shape[0])
    # the chosen component's mu_x, mu_y, log sigma_x, log sigma_y, corr in one gather
    chosen = raw[rows[:, None], (3 + k)[:, None] + m * _BLOCKS]
    out[:] = 0.0
    if greedy:
        out[:, 0:2] = chosen[:, 0:2]
    else:
        sigma = np.exp(chosen[:, 2:4]) * np.float32(sigma_mul)
        rho = np.tanh(chosen[:, 4])
        n1, n2 = draws[2][:, 0], draws[2][:, 1]
        spread = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
        out[:, 0] = chosen[:, 0] + sigma[:, 0] * (spread * n1 + rho * n2)
        out[:, 1] = chosen[:, 1] + sigma[:, 1] * n2
    out[rows, 2 + pen] = 1.0
    return pen


# ---------------------------------------------------------------- steppers
class _GenericStepper:
    """Any cell: the cell's own step, the strokes' projection per step."""

    def __init__(self, cell: NumpyCell, head: tuple[Array, Array], state: Sequence[Array],
                 offsets: Sequence[Array]) -> None:
        self.cell, self.head = cell, head
        names = ("W_xh", "hyper_W_xh") if cell.kind == "hyper" else ("W_xh",)
        self.kernels = [np.ascontiguousarray(cell.w[n][:5]) for n in names]
        self.state = [np.array(s, np.float32) for s in state]
        self.offsets = [np.asarray(o, np.float32) for o in offsets]

    def step(self, x: Array) -> Array:
        projected = [x @ k + o for k, o in zip(self.kernels, self.offsets)]
        h, self.state = self.cell.step(projected, self.state)
        return h @ self.head[0] + self.head[1]

    def keep(self, mask: Array) -> None:
        b = mask.shape[0]
        self.state = [s[mask] for s in self.state]
        self.offsets = [o[mask] if o.shape[0] == b else o for o in self.offsets]


class _LSTMStepper:
    """magenta's LSTM, fast: one matmul of ``[h, x]`` with ``[W_hh; W_xh[:5]]`` per step
    into preallocated buffers, gates reordered to ``i, f, o, j`` and the sigmoid gates'
    columns halved (exact in float) so that one ``tanh`` gives all four:
    ``sigmoid(x) = 0.5 tanh(x / 2) + 0.5``. The same maths as the cell, other rounding."""

    def __init__(self, cell: NumpyCell, head: tuple[Array, Array], state: Sequence[Array],
                 offsets: Sequence[Array]) -> None:
        units = self.units = cell.units
        order = np.r_[0:units, 2 * units:4 * units, units:2 * units]  # i, f, o, j
        scale = np.ones(4 * units, np.float32)
        scale[:3 * units] = 0.5
        w = np.concatenate([cell.w["W_hh"], cell.w["W_xh"][:5]])[:, order] * scale
        self.w = np.ascontiguousarray(w)
        off = np.array(np.atleast_2d(offsets[0])[:, order], np.float32)
        off[:, units:2 * units] += FORGET_BIAS
        self.off = np.ascontiguousarray(off * scale)
        self.per_row = self.off.shape[0] > 1
        c, h = state
        batch = self.b = c.shape[0]
        self.hx = np.zeros((batch, units + 5), np.float32)
        self.hx[:, :units] = h
        self.c = np.array(c, np.float32)
        self.pre = np.empty((batch, 4 * units), np.float32)
        self.tmp = np.empty((batch, units), np.float32)
        self.head_w, self.head_b = head
        self.raw = np.empty((batch, head[0].shape[1]), np.float32)

    def step(self, x: Array) -> Array:
        b, n = self.b, self.units
        hx, pre, c, tmp = self.hx[:b], self.pre[:b], self.c[:b], self.tmp[:b]
        hx[:, n:] = x
        np.dot(hx, self.w, out=pre)
        pre += self.off[:b] if self.per_row else self.off
        np.tanh(pre, out=pre)
        sig = pre[:, :3 * n]
        sig *= 0.5
        sig += 0.5
        c *= pre[:, n:2 * n]
        np.multiply(pre[:, :n], pre[:, 3 * n:], out=tmp)
        c += tmp
        np.tanh(c, out=tmp)
        np.multiply(tmp, pre[:, 2 * n:3 * n], out=hx[:, :n])
        raw = self.raw[:b]
        np.dot(hx[:, :n], self.head_w, out=raw)
        raw += self.head_b
        return raw

    def keep(self, mask: Array) -> None:
        b, nb = self.b, int(np.count_nonzero(mask))
        self.hx[:nb] = self.hx[:b][mask]
        self.c[:nb] = self.c[:b][mask]
        if self.per_row:
            self.off[:nb] = self.off[:b][mask]
        self.b = nb


def run_loop(cell: NumpyCell, head: tuple[Array, Array], num_mixture: int, x0: Array,
             state: Sequence[Array], offsets: Sequence[Array], noise: dict[str, Array],
             logit_div: float, sigma_mul: float, greedy: bool, fast: bool = True) -> Array:
    """Sample from the decoder until every sketch has ended or the draws run out.

    Args:
        cell, head: the decoder cell and the output layer ``(W, b)``.
        x0: ``[B, 5]`` first inputs; ``state``: the decoder state (cell layout).
        offsets: per input projection, what is added to the strokes' share at every step
            (z's share and the LSTM's bias): ``[B, n]`` or ``[1, n]``.
        noise: :func:`draw_noise`'s arrays; their ``steps`` bound the loop.
        fast: use the fused LSTM step for an LSTM decoder.

    Returns:
        ``[steps, B, 5]`` sampled stroke-5 rows (model units); a sketch's rows after its
        end state are zero.
    """
    with single_blas_thread():
        return _loop(cell, head, num_mixture, x0, state, offsets, noise, logit_div,
                     sigma_mul, greedy, fast)


def _loop(cell: NumpyCell, head: tuple[Array, Array], num_mixture: int, x0: Array,
          state: Sequence[Array], offsets: Sequence[Array], noise: dict[str, Array],
          logit_div: float, sigma_mul: float, greedy: bool, fast: bool) -> Array:
    steps, batch = noise["pen"].shape
    stepper: Any = (_LSTMStepper if fast and cell.kind == "lstm" else _GenericStepper)(
        cell, head, state, offsets)
    rows = np.zeros((steps, batch, 5), np.float32)
    active = np.arange(batch)
    x = np.array(x0, np.float32)
    t = 0
    while t < steps and active.size:
        raw = stepper.step(x)
        # until a sketch ends, the batch is the whole batch: views instead of gathers
        pick = slice(None) if active.size == batch else active
        draws = (noise["pen"][t, pick], noise["component"][t, pick],
                 noise["normal"][t, pick])
        pen = sample_points(raw, num_mixture, draws, logit_div, sigma_mul, greedy, x)
        rows[t, pick] = x
        t += 1
        ended = pen == 2
        if ended.any():
            keep = ~ended
            stepper.keep(keep)
            active, x = active[keep], x[keep]
    return rows[:t]
