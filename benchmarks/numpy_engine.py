"""NumPy engine speed: Google's flamingo at T=0.4, against the compiled TensorFlow sampler.

Measures, in one sitting (ratios from the same run):

* the NumPy engine, one sketch (goal: <= 20 ms) and a batch of 100 (goal: <= 10 ms per
  sketch), median over ``--repeat`` runs with different seeds, after one warm-up;
* ``sketchart.generate.sampling.sample`` (Keras on TensorFlow, compiled loop) at batch 100
  after its first (compiling) call, and that first call;
* the engine's load time and the mean sketch length.

Run it when the machine is quiet::

    python benchmarks/numpy_engine.py [--repeat 5] [--no-tf]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAMINGO = ROOT.parent / "shared" / "models" / "sketch-rnn-js" / "flamingo.gen.json"
GOAL_SINGLE_MS = 20.0
GOAL_BATCH_MS = 10.0
TEMPERATURE = 0.4


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown").strip()
    return f"{name}, {fields.get('CPU(s)', '?').strip()} CPUs"


def _median_ms(fn: Callable[[int], object], repeat: int) -> float:
    times = []
    for seed in range(repeat):
        start = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(FLAMINGO),
                        help="a .gen.json or model directory")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow comparison")
    args = parser.parse_args(argv)

    from sketchart.generate.numpy_engine import NumpySketchRNN

    print(f"CPU: {_cpu_model()}")
    start = time.perf_counter()
    engine = NumpySketchRNN.load(args.model)
    print(f"numpy engine: load {1000 * (time.perf_counter() - start):.0f} ms")
    engine.sample(1, temperature=TEMPERATURE, seed=0)  # warm-up (BLAS threads, caches)

    lengths: list[int] = []

    def one(seed: int) -> None:
        lengths.extend(len(d) for d in engine.sample(1, temperature=TEMPERATURE, seed=seed))

    def batch(seed: int) -> None:
        lengths.extend(len(d) for d in engine.sample(100, temperature=TEMPERATURE, seed=seed))

    single_ms = _median_ms(one, max(args.repeat * 4, 10))
    batch_ms = _median_ms(batch, args.repeat) / 100
    print(f"numpy engine: one sketch {single_ms:.1f} ms (goal <= {GOAL_SINGLE_MS:.0f}); "
          f"batch 100: {batch_ms:.2f} ms per sketch (goal <= {GOAL_BATCH_MS:.0f}); "
          f"mean length {statistics.mean(lengths):.0f} points")
    if args.no_tf:
        return

    from sketchart.generate import sampling
    from sketchart.hub.store import load_model, model_from_js

    model = (model_from_js(args.model) if args.model.endswith(".json")
             else load_model(args.model, engine="keras"))
    start = time.perf_counter()
    sampling.sample(model, 100, temperature=TEMPERATURE, seed=0)
    first_s = time.perf_counter() - start
    tf_ms = _median_ms(lambda s: sampling.sample(model, 100, temperature=TEMPERATURE,
                                                 seed=s), args.repeat) / 100
    start = time.perf_counter()
    sampling.sample(model, 1, temperature=TEMPERATURE, seed=0)
    tf_first_one = time.perf_counter() - start
    tf_one_ms = _median_ms(lambda s: sampling.sample(model, 1, temperature=TEMPERATURE,
                                                     seed=s), max(args.repeat * 2, 6))
    print(f"tensorflow compiled sampler: batch 100: {tf_ms:.2f} ms per sketch after a first "
          f"call of {first_s:.1f} s; one sketch {tf_one_ms:.1f} ms after a first call of "
          f"{tf_first_one:.1f} s")
    print(f"ratios (numpy / tensorflow): batch 100 {batch_ms / tf_ms:.2f}x, "
          f"one sketch {single_ms / tf_one_ms:.2f}x")


if __name__ == "__main__":
    main()
