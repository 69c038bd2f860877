"""Sampling speed: Google's flamingo model, T=0.4, after loading.

Measures, in one sitting:

* 100 flamingo sketches in one batch (the goal: <= 5 ms per sketch);
* one sketch alone (the goal: <= 30 ms);
* on TensorFlow both with and without XLA (``jit_compile``), to pick the faster;
* ``@magenta/sketch`` in Node (``tests/node/sample.js``) on the same file, per sketch.

and prints the ratios against the anchors: the reference's ``sample()`` at about 0.1 s per
flamingo sketch (1 session call per decoder step, notes §12) and ``@magenta/sketch`` in Node
(0.37 s per sketch when measured for the issue; re-measured here). Run it when the machine is
quiet::

    python benchmarks/sample.py [--repeat 5] [--node-sketches 10]
    KERAS_BACKEND=jax python benchmarks/sample.py
    python benchmarks/sample.py --crossover   # NumPy engine vs compiled, per batch size
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
FLAMINGO = ROOT.parent / "shared" / "models" / "sketch-rnn-js" / "flamingo.gen.json"
REFERENCE_S_PER_SKETCH = 0.1  # magenta's sample(): ~1 ms per step x 105 steps (notes §12)
NODE_ANCHOR_S_PER_SKETCH = 0.37  # @magenta/sketch in Node, as measured for the issue
GOAL_BATCH_S = 0.005
GOAL_SINGLE_S = 0.030


def _time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _node_seconds_per_sketch(model: Path, n: int) -> float | None:
    node = shutil.which("node")
    modules = ROOT / "tests" / "node" / "node_modules"
    if node is None or not (modules / "@magenta" / "sketch").is_dir():
        return None
    proc = subprocess.run([node, str(ROOT / "tests" / "node" / "sample.js"), str(model),
                           str(n), "0.4"], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    return float(json.loads(proc.stdout)["seconds"]) / n


CROSSOVER_BATCHES = (1, 4, 8, 16, 32, 64, 100, 200, 400)


def _crossover(path: str, repeat: int) -> None:
    """ms per sketch, NumPy engine and the compiled sampler (library default XLA setting,
    compiled before timing), per batch size: where the compiled sampler starts to win.

    The NumPy engine is timed first, before TensorFlow has run anything: TensorFlow's
    thread pools keep spinning after its ops and would slow NumPy down in the same process.
    """
    from sketchart.generate import sampling
    from sketchart.hub.store import load_model

    engine = load_model(path)
    seeds = iter(range(1, 10**6))
    numpy_ms = {n: _time(lambda n=n: sampling.sample(engine, n, 0.4, seed=next(seeds)),
                         repeat) / n * 1e3 for n in CROSSOVER_BATCHES}
    start = time.perf_counter()
    keras_model = load_model(path, engine="keras")
    print(f"Keras model loaded (imports included) in {time.perf_counter() - start:.2f} s")
    print(f"{'batch':>6s} {'numpy ms/sketch':>16s} {'compiled ms/sketch':>19s} "
          f"{'compile s':>10s}")
    for n in CROSSOVER_BATCHES:
        start = time.perf_counter()
        sampling.sample(keras_model, n, 0.4, seed=0)  # compile for this batch size
        first = time.perf_counter() - start
        ms = _time(lambda n=n: sampling.sample(keras_model, n, 0.4, seed=next(seeds)),
                   repeat) / n * 1e3
        print(f"{n:6d} {numpy_ms[n]:16.2f} {ms:19.2f} {first:10.2f}"
              + ("  <- compiled faster" if ms < numpy_ms[n] else ""))


def _report(results: dict[str, tuple[float, float]], backend: str, batch: int,
            node_s: float | None) -> None:
    """The fastest setting against the anchors and the goals."""
    from sketchart.generate import sampling

    best_batch = min(results, key=lambda k: results[k][0])
    best_single = min(results, key=lambda k: results[k][1])
    t_batch, t_single = results[best_batch][0], results[best_single][1]
    print(f"fastest: batch {best_batch}, single {best_single}"
          + (" (on TensorFlow the library's default, SKETCHART_TF_XLA=auto, uses XLA except "
             f"for batches of {sampling.PLAIN_TF_BATCHES.start}-"
             f"{sampling.PLAIN_TF_BATCHES.stop - 1})" if backend == "tensorflow" else ""))
    print(f"  batch {batch}: {REFERENCE_S_PER_SKETCH / t_batch:7.1f}x the reference "
          f"(goal >= 20x), {NODE_ANCHOR_S_PER_SKETCH / t_batch:7.1f}x the Node anchor"
          + (f", {node_s / t_batch:7.1f}x Node measured now" if node_s else "")
          + " (goal >= 70x)")
    print(f"  single:    {REFERENCE_S_PER_SKETCH / t_single:7.1f}x the reference"
          + (f", {node_s / t_single:7.1f}x Node measured now" if node_s else ""))
    print(f"  goals met: batch {'yes' if t_batch <= GOAL_BATCH_S else 'NO'}, "
          f"single {'yes' if t_single <= GOAL_SINGLE_S else 'NO'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(FLAMINGO), help="model name or path")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--crossover", action="store_true",
                        help="only: NumPy engine against the compiled sampler per batch size")
    parser.add_argument("--node-sketches", type=int, default=10,
                        help="sketches @magenta/sketch draws (0: skip Node)")
    args = parser.parse_args(argv)
    if args.crossover:
        _crossover(args.model, args.repeat)
        return

    import keras

    from sketchart.generate import loops, sampling
    from sketchart.hub.store import load_model

    backend = keras.backend.backend()
    model = load_model(args.model, engine="keras")
    n_steps = model.meta.max_seq_len
    print(f"backend {backend}, model {args.model} (max_seq_len {n_steps}), T=0.4")

    settings = [False, True] if backend == "tensorflow" else [None]
    results = {}
    for jit in settings:
        if jit is not None:
            loops.TF_JIT_COMPILE = jit
        label = {None: backend, False: "tf.function", True: "tf.function+XLA"}[jit]

        def batch(seed: list[int] = [0]) -> None:  # noqa: B006 (a counter across calls)
            seed[0] += 1
            sampling.sample(model, args.batch, 0.4, seed=seed[0])

        def single(seed: list[int] = [0]) -> None:  # noqa: B006
            seed[0] += 1
            sampling.sample(model, 1, 0.4, seed=seed[0])

        start = time.perf_counter()
        batch()
        single()
        compile_s = time.perf_counter() - start
        t_batch = _time(batch, args.repeat) / args.batch
        t_single = _time(single, args.repeat * 3)
        results[label] = (t_batch, t_single)
        print(f"{label:16s} first calls (compilation) {compile_s:6.2f} s; "
              f"batch {args.batch}: {t_batch * 1e3:6.2f} ms/sketch "
              f"(goal {GOAL_BATCH_S * 1e3:.0f}); single: {t_single * 1e3:6.1f} ms "
              f"(goal {GOAL_SINGLE_S * 1e3:.0f})")

    node_s = _node_seconds_per_sketch(Path(args.model), args.node_sketches) \
        if args.node_sketches > 0 and Path(args.model).is_file() else None
    if node_s is not None:
        print(f"@magenta/sketch (Node, this sitting): {node_s:.3f} s/sketch "
              f"(issue anchor {NODE_ANCHOR_S_PER_SKETCH} s)")
    _report(results, backend, args.batch, node_s)


if __name__ == "__main__":
    main()
