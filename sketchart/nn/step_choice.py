"""How TensorFlow's recurrence step runs on this CPU, chosen once per machine.

Three choices, all exact (the same sums, up to float rounding):

* ``transposed``: a step's product with a wide weight as ``(W^T @ c^T)^T`` or plain. Which
  is faster depends on the CPU (``benchmarks/README.md``: 30 % faster transposed on one
  EPYC, 15-20 % slower on a newer one), so it is measured on every CPU: a compiled loop
  of products at default sizes each way, timed alternately (about a second);
* ``xla_step``: the step's elementwise work (gates, layer norms) as one XLA cluster each
  way, or op by op. On the CPUs the figures come from (x86 without AMX) the XLA step is
  the faster and stays, unmeasured (its gain is within one sitting's noise, so a
  measurement on a busy machine could only move it off the faster path); a CPU with AMX
  or unreadable features is measured: a loop of layer-norm LSTM steps each way;
* ``lanes``: each recurrence as one loop or as two over the batch's halves. A loop's steps
  alternate between a product (oneDNN, every core) and the step's gate maths (mostly one
  core), so on two cores one chain leaves a core idle that a second chain fills (two
  lanes 7-10 % faster a training step on a two-core EPYC). Measured on every CPU: the
  layer-norm step loop at the encoder's and the decoder's default sizes, one chain of the
  batch against two of its halves.

A variant replaces the default (transposed, XLA, one lane) only when :data:`SWITCH_MARGIN`
faster.
The result is cached per CPU model, thread count, TensorFlow version and products'
dtype (``$SKETCHART_HOME`` or ``~/.cache/sketchart``, ``step_choice.json``) and logged on the
``sketchart.nn`` logger. Overrides: ``SKETCHART_XLA_STEP=0/1``,
``SKETCHART_TRANSPOSED_PRODUCTS=0/1``, ``SKETCHART_LANES=1/2`` (read at every call), and
``SKETCHART_STEP_CHOICE=default`` (no measurement) or ``measure`` (the step too).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CpuInfo", "StepChoice", "cpu_info", "describe_lanes", "measure_lanes",
           "measure_products", "measure_step", "step_choice"]

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
    #: family, model and a digest of the feature flags: CPUs that a virtual machine names
    #: alike (``AMD EPYC``) still differ here
    signature: str = ""


@dataclass(frozen=True)
class StepChoice:
    """How ``tf_loop`` runs a step; ``source`` says where the choice came from."""

    xla_step: bool
    transposed: bool
    source: str
    detail: str = ""
    #: independent loops over parts of the batch (two keep both cores of a small CPU busy
    #: where one chain leaves one idle during each step's elementwise work)
    lanes: int = 1


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
    digest = hashlib.sha1(" ".join(sorted(flags)).encode()).hexdigest()[:8]
    return CpuInfo(
        model=fields.get("model name") or platform.processor() or "unknown",
        vendor=fields.get("vendor_id", "unknown"),
        amx=bool(flags & {"amx_bf16", "amx_tile"}),
        avx512_bf16="avx512_bf16" in flags,
        threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else (os.cpu_count() or 1),
        signature=f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')} "
                  f"flags {digest}",
    )


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None or value == "" else value != "0"


def step_choice(dtype: str = "float32") -> StepChoice:
    """The choice for this process and products of ``dtype`` (``bfloat16`` under mixed
    precision: oneDNN runs other kernels, so the wide products' way is measured again):
    made (or measured) once, the environment's overrides applied at every call (a
    benchmark may switch them between models)."""
    return _logged(_overridden(_base_choice(dtype)))


@functools.cache
def _logged(choice: StepChoice) -> StepChoice:
    # once per distinct choice
    log.info("sketchart: TensorFlow step %s, wide products %s, %s (%s%s)",
             "XLA" if choice.xla_step else "op by op",
             "transposed" if choice.transposed else "plain", describe_lanes(choice.lanes),
             choice.source, f": {choice.detail}" if choice.detail else "")
    return choice


def describe_lanes(lanes: int) -> str:
    """``one lane`` / ``2 lanes``, for logs and benchmark lines."""
    return "one lane" if lanes == 1 else f"{lanes} lanes"


def _env_lanes() -> int | None:
    value = os.environ.get("SKETCHART_LANES", "")
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        log.warning("sketchart: SKETCHART_LANES=%r is not a number; ignored", value)
        return None


def _overridden(choice: StepChoice) -> StepChoice:
    xla = _env_bool("SKETCHART_XLA_STEP")
    transposed = _env_bool("SKETCHART_TRANSPOSED_PRODUCTS")
    lanes = _env_lanes()
    if xla is None and transposed is None and lanes is None:
        return choice
    return StepChoice(
        xla_step=choice.xla_step if xla is None else xla,
        transposed=choice.transposed if transposed is None else transposed,
        source=f"{choice.source}, environment override", detail=choice.detail,
        lanes=choice.lanes if lanes is None else lanes)


@functools.cache
def _base_choice(dtype: str = "float32") -> StepChoice:
    mode = os.environ.get("SKETCHART_STEP_CHOICE", "auto")
    if mode == "default":
        return StepChoice(True, True, "default (SKETCHART_STEP_CHOICE=default)")
    info = cpu_info()
    cached = _read_cache(info, dtype)
    if cached is not None:
        return cached
    import tensorflow as tf

    if not tf.executing_eagerly():
        # first asked while a function is traced (a model called outside TrainStep, which
        # asks up front): no measurement possible there
        return StepChoice(True, True, "default: first asked inside a traced function")
    try:
        measured = _measure_all(info, mode == "measure", dtype)
    except Exception as exc:  # noqa: BLE001 (a failed measurement keeps the default)
        log.warning("sketchart: step measurement failed (%s); using the default", exc)
        return StepChoice(True, True, "default: the measurement failed")
    _write_cache(info, measured, dtype)
    return measured


def _measure_all(info: CpuInfo, force: bool, dtype: str = "float32") -> StepChoice:
    """The products measured on every CPU (a second or two; the two ways differ by 15-40 %
    where measured, far beyond noise); the XLA step only where :func:`_has_figures` says
    the benchmarked XLA default is not known to hold, or when forced. The step's maths
    are float32 whatever the products' dtype, so other dtypes take float32's XLA choice."""
    transposed, product_detail = measure_products(dtype=dtype)
    product_detail += f"; {_threading()}"
    if dtype != "float32":
        base = _base_choice("float32")
        lanes, lane_detail = measure_lanes(base.xla_step, transposed, dtype=dtype)
        return StepChoice(base.xla_step, transposed, f"{dtype} products measured",
                          f"{product_detail}; XLA step as float32's ({base.source}); "
                          f"{lane_detail}", lanes)
    if force or not _has_figures(info):
        xla, step_detail = measure_step(transposed)
        source, product_detail = "measured", f"{product_detail}; {step_detail}"
    else:
        xla, source = True, "products measured, XLA step: no AMX, as benchmarked"
    lanes, lane_detail = measure_lanes(xla, transposed)
    return StepChoice(xla, transposed, source, f"{product_detail}; {lane_detail}", lanes)


def _threading() -> str:
    """TensorFlow's thread settings and XLA's flags, for the log: nothing in sketchart sets
    them, but a user's ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` or one intra-op
    thread would pin the step to one core."""
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or "default"
    flags = os.environ.get("XLA_FLAGS", "")
    return f"threads intra {intra} inter {inter}" + (f", XLA_FLAGS {flags}" if flags else "")


def _has_figures(info: CpuInfo) -> bool:
    """Whether the XLA step is known to be the faster on this kind of CPU: a readable x86
    CPU without AMX (the kind ``benchmarks/README.md`` measured)."""
    return info.vendor != "unknown" and not info.amx


# ------------------------------------------------------------------ the cache
def _cache_path() -> Path:
    base = os.environ.get("SKETCHART_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sketchart")
    return Path(base) / "step_choice.json"


def _cache_key(info: CpuInfo, dtype: str = "float32") -> str:
    import tensorflow as tf

    key = f"{info.model}|{info.signature}|{info.threads} threads|tensorflow {tf.__version__}"
    return key if dtype == "float32" else f"{key}|{dtype} products"


def _read_cache(info: CpuInfo, dtype: str = "float32") -> StepChoice | None:
    try:
        entry = json.loads(_cache_path().read_text(encoding="utf-8"))[_cache_key(info, dtype)]
        # an entry from before lanes were measured has none: measured again
        return StepChoice(bool(entry["xla_step"]), bool(entry["transposed"]),
                          "measured earlier on this CPU", str(entry.get("detail", "")),
                          max(1, int(entry["lanes"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(info: CpuInfo, choice: StepChoice, dtype: str = "float32") -> None:
    path = _cache_path()
    try:
        table = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        table = {}
    table[_cache_key(info, dtype)] = asdict(choice)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.info("sketchart: step choice not cached (%s)", exc)


# ------------------------------------------------------------------ the measurement
def _timed(loops: dict[Any, Any], rounds: int) -> tuple[dict[Any, float], dict[Any, float]]:
    """The fastest wall seconds of each compiled loop over ``rounds`` alternating runs,
    and the CPU seconds of that run."""
    for fn in loops.values():
        fn()  # compile
    best: dict[Any, float] = {}
    cpu: dict[Any, float] = {}
    for _ in range(rounds):
        for key, fn in loops.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn().numpy()
            wall = time.perf_counter() - t0
            if wall < best.get(key, float("inf")):
                best[key], cpu[key] = wall, time.process_time() - c0
    return best, cpu


def _pick(best: dict[Any, float], cpu: dict[Any, float], default: Any,
          names: dict[Any, str]) -> tuple[Any, str]:
    """``default`` unless another variant is :data:`SWITCH_MARGIN` faster; a summary."""
    fastest = min(best, key=lambda k: best[k])
    pick = fastest if best[default] > SWITCH_MARGIN * best[fastest] else default
    detail = ", ".join(f"{names[k]} {best[k] * 1e3:.1f} ms (cpu/wall "
                       f"{cpu[k] / max(best[k], 1e-9):.1f})" for k in best)
    return pick, detail


def measure_products(batch: int = 100, units: int = 512, steps: int = 100,
                     rounds: int = 5, dtype: str = "float32") -> tuple[bool, str]:
    """Whether a step's ``[B, H] @ [H, 4H]`` of ``dtype`` runs faster transposed: ``steps``
    dependent products in a compiled loop each way, timed alternately."""
    import tensorflow as tf

    w = tf.cast(tf.random.stateless_normal((units, 4 * units), (0, 1)) * 0.01, dtype)
    w_t = tf.transpose(w)
    h = tf.cast(tf.random.stateless_normal((batch, units), (0, 2)), dtype)

    def loop(transposed: bool) -> Any:
        def body(i: Any, c: Any) -> tuple[Any, Any]:
            p = tf.transpose(tf.matmul(w_t, c, transpose_b=True)) if transposed else c @ w
            return i + 1, p[:, :units] + h

        return tf.function(lambda: tf.while_loop(lambda i, c: i < steps, body, (0, h))[1],
                           autograph=False)

    best, cpu = _timed({True: loop(True), False: loop(False)}, rounds)
    pick, detail = _pick(best, cpu, True, {True: "transposed", False: "plain"})
    return pick, f"{steps} {dtype} products: {detail}"


def measure_step(transposed: bool, batch: int = 100, units: int = 512, steps: int = 20,
                 rounds: int = 3) -> tuple[bool, str]:
    """Whether the XLA step is the faster: a loop of layer-norm LSTM steps (the product
    outside the step, then the step's forward and VJP) timed with the step compiled by
    XLA and op by op, alternately."""
    import tensorflow as tf

    if not tf.executing_eagerly():
        raise RuntimeError("the measurement runs eagerly, not while a function is traced")
    loops = {x: _loop_fn(batch, units, steps, x, transposed) for x in (True, False)}
    best, cpu = _timed(loops, rounds)
    pick, detail = _pick(best, cpu, True, {True: "XLA step", False: "op by op"})
    return pick, f"{steps} layer-norm steps: {detail}"


def measure_lanes(xla: bool, transposed: bool, batch: int = 100,
                  units: tuple[int, ...] = (256, 512), steps: int = 20, rounds: int = 3,
                  dtype: str = "float32") -> tuple[int, str]:
    """Whether two lanes (two independent chains of half the batch each) beat one: the
    layer-norm step loop of :func:`measure_step` at each of ``units`` (default hparams'
    encoder and decoder sizes), products in ``dtype``, run as one chain and as two,
    alternately. One lane unless two are :data:`SWITCH_MARGIN` faster over the sizes."""
    import tensorflow as tf

    if not tf.executing_eagerly():
        raise RuntimeError("the measurement runs eagerly, not while a function is traced")

    def sizes(lanes: int) -> Any:
        loops = [_loop_fn(batch, n, steps, xla, transposed, lanes=lanes, dtype=dtype)
                 for n in units]

        @tf.function(autograph=False)
        def one_after_another() -> Any:
            total = tf.constant(0.0)
            for run in loops:
                with tf.control_dependencies([total]):
                    total = total + run()
            return total

        return one_after_another

    best, cpu = _timed({n: sizes(n) for n in (1, 2)}, rounds)
    pick, detail = _pick(best, cpu, 1, {1: "one lane", 2: "2 lanes"})
    return pick, f"{steps} {dtype} steps at {'+'.join(map(str, units))} units: {detail}"


def _loop_fn(batch: int, units: int, steps: int, xla: bool, transposed: bool,
             lanes: int = 1, dtype: str = "float32") -> Any:
    """A compiled loop of ``steps`` layer-norm LSTM steps, forward then the VJP of each;
    ``lanes`` independent chains over parts of the batch; products in ``dtype``, the
    step's maths in float32 (as a mixed-precision step's)."""
    import tensorflow as tf

    from sketchart.nn.cell_base import layer_norm, layer_norm_gates

    rng = tf.random.Generator.from_seed(0)
    w = tf.cast(rng.normal((units, 4 * units)) * 0.05, dtype)
    w_t = tf.transpose(w)
    gain = tf.ones((4 * units,))
    c_gain = tf.ones((units,))

    def cell(c: Any, p: Any) -> tuple[Any, Any]:
        pre = layer_norm_gates(tf.cast(p, tf.float32), gain, 0.0 * gain, 4, units)
        i, j, f, o = tf.split(pre, 4, axis=-1)
        new_c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(layer_norm(new_c, c_gain, 0.0 * c_gain)) * tf.sigmoid(o)
        return tf.cast(new_h, dtype), new_c

    def vjp(c: Any, p: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([c, p])
            new_h, new_c = cell(c, p)
        dc, dp = tape.gradient([new_h, new_c], [c, p])
        return dc, tf.cast(dp, dtype)

    fwd = tf.function(cell, jit_compile=True) if xla else cell
    bwd = tf.function(vjp, jit_compile=True) if xla else vjp

    def product(h: Any) -> Any:
        return tf.transpose(tf.matmul(w_t, h, transpose_b=True)) if transposed else h @ w

    def lane(h: Any, c: Any) -> tuple[Any, Any]:
        # one chain, as in the training step's loops: product, step, its VJP, the VJP's
        # product, each waiting for the one before
        p = product(h)
        new_h, new_c = fwd(c, p)
        dc, dp = bwd(c, p)
        return new_h + 1e-3 * (dp @ w_t), new_c + 1e-3 * dc

    def body(t: Any, hs: Any, cs: Any) -> tuple[Any, Any, Any]:
        out = [lane(h, c) for h, c in zip(hs, cs)]
        return t + 1, [o[0] for o in out], [o[1] for o in out]

    def total(hs: Any) -> Any:
        return tf.add_n([tf.reduce_sum(tf.cast(h, tf.float32)) for h in hs])

    sizes = [batch // lanes + (k < batch % lanes) for k in range(lanes)]
    hs = [tf.zeros((n, units), dtype) for n in sizes]
    cs = [tf.zeros((n, units)) for n in sizes]

    @tf.function(autograph=False)
    def run() -> Any:
        out = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), hs, cs))
        return total(out[1])

    return run
