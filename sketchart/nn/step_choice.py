"""How TensorFlow's recurrence step runs on this CPU, chosen once per machine.

Two choices, both exact (the same sums, up to float rounding):

* ``xla_step``: the step's elementwise work (gates, layer norms) as one XLA cluster each
  way, or op by op;
* ``transposed``: a step's product with a wide weight as ``(W^T @ c^T)^T`` or plain.

On the CPUs whose figures ``benchmarks/README.md`` holds (no AMX), both are faster; the
choice keeps them there without measuring (a measurement on a busy machine could only move
them off the faster path). A CPU with AMX, or whose features cannot be read, is measured
once: a short loop of a layer-norm LSTM step at default sizes, each variant timed
alternately inside one compiled loop, and the result cached per CPU model, TensorFlow
version and thread count. Overrides: ``SKETCHART_XLA_STEP=0/1``,
``SKETCHART_TRANSPOSED_PRODUCTS=0/1``, and ``SKETCHART_STEP_CHOICE=measure`` or
``default`` (measure on any CPU, or never). The choice is logged on ``sketchart.nn``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CpuInfo", "StepChoice", "cpu_info", "step_choice"]

log = logging.getLogger("sketchart.nn")

#: a measured variant must beat the default by this factor to replace it (noise margin)
SWITCH_MARGIN = 1.08


@dataclass(frozen=True)
class CpuInfo:
    """What the choice and the benchmarks need to know about the CPU."""

    model: str
    vendor: str
    amx: bool
    avx512_bf16: bool
    threads: int


@dataclass(frozen=True)
class StepChoice:
    """How ``tf_loop`` runs a step; ``source`` says where the choice came from."""

    xla_step: bool
    transposed: bool
    source: str
    detail: str = ""


@functools.cache
def cpu_info() -> CpuInfo:
    """The CPU's model name, vendor and matrix features (Linux ``/proc/cpuinfo``; elsewhere
    the model from ``platform`` and no features)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if not key:
            break  # the first processor's block is enough
        fields.setdefault(key, value.strip())
    flags = set(fields.get("flags", "").split())
    return CpuInfo(
        model=fields.get("model name") or platform.processor() or "unknown",
        vendor=fields.get("vendor_id", "unknown"),
        amx=bool(flags & {"amx_bf16", "amx_tile"}),
        avx512_bf16="avx512_bf16" in flags,
        threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else (os.cpu_count() or 1),
    )


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None or value == "" else value != "0"


def step_choice() -> StepChoice:
    """The choice for this process: made (or measured) once, the environment's overrides
    applied at every call (a benchmark may switch them between models)."""
    return _logged(_overridden(_base_choice()))


@functools.cache
def _logged(choice: StepChoice) -> StepChoice:
    # once per distinct choice
    log.info("sketchart: TensorFlow step %s, wide products %s (%s%s)",
             "XLA" if choice.xla_step else "op by op",
             "transposed" if choice.transposed else "plain", choice.source,
             f": {choice.detail}" if choice.detail else "")
    return choice


def _overridden(choice: StepChoice) -> StepChoice:
    xla = _env_bool("SKETCHART_XLA_STEP")
    transposed = _env_bool("SKETCHART_TRANSPOSED_PRODUCTS")
    if xla is None and transposed is None:
        return choice
    return StepChoice(
        xla_step=choice.xla_step if xla is None else xla,
        transposed=choice.transposed if transposed is None else transposed,
        source=f"{choice.source}, environment override", detail=choice.detail)


@functools.cache
def _base_choice() -> StepChoice:
    mode = os.environ.get("SKETCHART_STEP_CHOICE", "auto")
    info = cpu_info()
    default = StepChoice(True, True, "default")
    if mode == "default" or (mode != "measure" and _has_figures(info)):
        return StepChoice(True, True, "default: no AMX, the benchmarked path")
    if _env_bool("SKETCHART_XLA_STEP") is not None and _env_bool(
            "SKETCHART_TRANSPOSED_PRODUCTS") is not None:
        return default  # both overridden: nothing to measure
    cached = _read_cache(info)
    if cached is not None:
        return cached
    import tensorflow as tf

    if not tf.executing_eagerly():
        # first asked while a function is traced (a model called outside TrainStep, which
        # asks up front): no measurement possible there
        return StepChoice(True, True, "default: first asked inside a traced function")
    try:
        measured = measure()
    except Exception as exc:  # noqa: BLE001 (a failed measurement keeps the default)
        log.warning("sketchart: step measurement failed (%s); using the default", exc)
        return default
    _write_cache(info, measured)
    return measured


def _has_figures(info: CpuInfo) -> bool:
    """Whether the benchmarked default applies without measuring: a readable x86 CPU
    without AMX (the kind ``benchmarks/README.md`` measured)."""
    return info.vendor != "unknown" and not info.amx


# ------------------------------------------------------------------ the cache
def _cache_path() -> Path:
    base = os.environ.get("SKETCHART_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sketchart")
    return Path(base) / "step_choice.json"


def _cache_key(info: CpuInfo) -> str:
    import tensorflow as tf

    return f"{info.model}|{info.threads} threads|tensorflow {tf.__version__}"


def _read_cache(info: CpuInfo) -> StepChoice | None:
    try:
        entry = json.loads(_cache_path().read_text(encoding="utf-8"))[_cache_key(info)]
        return StepChoice(bool(entry["xla_step"]), bool(entry["transposed"]),
                          "measured earlier on this CPU", str(entry.get("detail", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(info: CpuInfo, choice: StepChoice) -> None:
    path = _cache_path()
    try:
        table = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        table = {}
    table[_cache_key(info)] = asdict(choice)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.info("sketchart: step choice not cached (%s)", exc)


# ------------------------------------------------------------------ the measurement
def measure(batch: int = 100, units: int = 512, steps: int = 25,
            rounds: int = 3) -> StepChoice:
    """Time the four variants of a layer-norm LSTM step loop (forward and the step's VJP,
    the recurrent product outside the step), alternately, ``rounds`` times each; keep the
    default (XLA, transposed) unless another variant is :data:`SWITCH_MARGIN` faster."""
    import tensorflow as tf

    if not tf.executing_eagerly():
        raise RuntimeError("measure() runs eagerly, not while a function is traced")
    loops = {(x, t): _loop_fn(batch, units, steps, x, t)
             for x in (True, False) for t in (True, False)}
    for fn in loops.values():
        fn()  # compile
    best: dict[tuple[bool, bool], float] = {}
    cpu: dict[tuple[bool, bool], float] = {}
    for _ in range(rounds):
        for key, fn in loops.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn().numpy()
            wall = time.perf_counter() - t0
            if wall < best.get(key, float("inf")):
                best[key], cpu[key] = wall, time.process_time() - c0
    fastest = min(best, key=lambda k: best[k])
    pick = fastest if best[(True, True)] > SWITCH_MARGIN * best[fastest] else (True, True)
    detail = ", ".join(
        f"{'xla' if x else 'ops'}/{'T' if t else 'plain'} {best[(x, t)] * 1e3:.1f} ms "
        f"(cpu/wall {cpu[(x, t)] / max(best[(x, t)], 1e-9):.1f})" for x, t in best)
    return StepChoice(pick[0], pick[1], "measured", detail)


def _loop_fn(batch: int, units: int, steps: int, xla: bool, transposed: bool) -> Any:
    """A compiled loop of ``steps`` layer-norm LSTM steps, forward then the VJP of each."""
    import tensorflow as tf

    from sketchart.nn.cell_base import layer_norm, layer_norm_gates

    rng = tf.random.Generator.from_seed(0)
    w = rng.normal((units, 4 * units)) * 0.05
    w_t = tf.transpose(w)
    gain = tf.ones((4 * units,))
    c_gain = tf.ones((units,))

    def cell(h: Any, c: Any, p: Any) -> tuple[Any, Any]:
        pre = layer_norm_gates(p, gain, 0.0 * gain, 4, units)
        i, j, f, o = tf.split(pre, 4, axis=-1)
        new_c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
        return tf.tanh(layer_norm(new_c, c_gain, 0.0 * c_gain)) * tf.sigmoid(o), new_c

    def vjp(h: Any, c: Any, p: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([c, p])
            new_h, new_c = cell(h, c, p)
        return tape.gradient([new_h, new_c], [c, p])

    fwd = tf.function(cell, jit_compile=True) if xla else cell
    bwd = tf.function(vjp, jit_compile=True) if xla else vjp

    def product(h: Any) -> Any:
        return tf.transpose(tf.matmul(w_t, h, transpose_b=True)) if transposed else h @ w

    def body(t: Any, h: Any, c: Any, acc: Any) -> tuple[Any, Any, Any, Any]:
        p = product(h)
        new_h, new_c = fwd(h, c, p)
        dc, dp = bwd(h, c, p)
        return t + 1, new_h, new_c + 1e-3 * dc, acc + tf.reduce_sum(dp @ w_t)

    h0 = tf.zeros((batch, units))

    @tf.function(autograph=False)
    def run() -> Any:
        out = tf.while_loop(lambda t, *_: t < steps, body,
                            (tf.constant(0), h0, h0, tf.constant(0.0)))
        return out[3]

    return run
