"""GPU proof on the JAX backend: training speed, sampling speed and seeds, config Q quality.

Each part runs in its own process (``benchmarks/gpu_check.sh`` starts them with a time cap),
so a part that fails or runs out of time leaves the others' figures, and each part's peak
device memory is its own::

    python benchmarks/gpu_check.py train-speed --decoder lstm --seconds 40
    python benchmarks/gpu_check.py sample --model flamingo.gen.json --batch 1000
    python benchmarks/gpu_check.py seeds --model flamingo.gen.json --model models/sheep
    python benchmarks/gpu_check.py quality-q --data-dir DIR --num-steps 2000
    python benchmarks/gpu_check.py quality-q --data-dir DIR --precision bfloat16

Lines that carry a figure start with the device's name, e.g.
``H200 (JAX): lstm, default hparams, batch 100: 31.2 steps/s``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
# measure what the program needs, not JAX's default 75 % preallocation
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _device_label() -> str:
    import jax

    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    name = kind.replace("NVIDIA ", "").split()[0] if dev.platform == "gpu" else "CPU"
    return f"{name} (JAX)"


def _peak_gib() -> str:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return f"{peak / 2**30:.2f} GiB" if peak else "n/a"


def train_speed(decoder: str, seconds: float, hparams: str, data: str,
                precision: str = "float32") -> None:
    """Steps/s of the training step, default hparams (batch 100, exact length 250)."""
    import keras

    from sketchart.data.datasets import BatchLoader, load_npz
    from sketchart.hparams import HParams
    from sketchart.nn.model import SketchRNN
    from sketchart.training.step import TrainStep
    from sketchart.training.trainer import kl_weight_at, learning_rate_at

    hps = HParams().parse(",".join(p for p in (f"dec_model={decoder}", hparams) if p))
    dataset = load_npz(data)
    loader = BatchLoader(dataset.train, batch_size=hps.batch_size,
                         max_seq_len=hps.max_seq_len, scale_factor=dataset.scale_factor(),
                         random_scale_factor=hps.random_scale_factor,
                         augment_stroke_prob=hps.augment_stroke_prob, seed=0)
    model = SketchRNN(hps, seed=0, precision=precision)
    opt = keras.optimizers.Adam(learning_rate=hps.learning_rate, epsilon=1e-8)
    step_fn = TrainStep(model, opt, hps)
    t0 = time.perf_counter()
    for i in range(2):
        b = loader.random_batch()
        losses = step_fn.train(b.strokes5, b.lengths, learning_rate_at(hps, i),
                               kl_weight_at(hps, i))
        float(losses["cost"])
    warm = time.perf_counter() - t0
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and len(times) < 2000:
        t = time.perf_counter()
        b = loader.random_batch()
        losses = step_fn.train(b.strokes5, b.lengths, learning_rate_at(hps, len(times)),
                               kl_weight_at(hps, len(times)))
        float(losses["cost"])  # wait for the device
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"{_device_label()}: {decoder}, {precision}, default hparams, "
          f"batch {hps.batch_size}: "
          f"{1 / med:.1f} steps/s ({med * 1e3:.1f} ms/step median of {len(times)}, "
          f"{len(times) / sum(times):.1f} steps/s mean); compile + 2 warm-up steps "
          f"{warm:.1f} s; peak device memory {_peak_gib()}; last cost "
          f"{float(losses['cost']):.4f}", flush=True)


def sample_speed(model_path: str, batch: int, temperature: float, out: str | None) -> None:
    """ms per sketch of batched sampling; saves a seeded batch to compare with a CPU."""
    import numpy as np

    from sketchart import load_model, sample

    # the Keras model on the configured backend (JAX here), not the NumPy engine (the default)
    model = load_model(model_path, download=False, engine="keras")
    t0 = time.perf_counter()
    sample(model, n=batch, temperature=temperature, seed=0)
    compile_s = time.perf_counter() - t0
    runs = []
    for seed in (1, 2):
        t = time.perf_counter()
        drawings = sample(model, n=batch, temperature=temperature, seed=seed)
        runs.append(time.perf_counter() - t)
    best = min(runs)
    points = sum(len(d) for d in drawings) / len(drawings)
    print(f"{_device_label()}: sampling {os.path.basename(model_path)}, T={temperature}, "
          f"batch {batch}: {best / batch * 1e3:.2f} ms per sketch ({best:.2f} s a batch, "
          f"first call with compilation {compile_s:.1f} s; {points:.0f} points a sketch); "
          f"peak device memory {_peak_gib()}", flush=True)
    if out:
        small = sample(model, n=16, temperature=temperature, seed=7)
        np.savez(out, *small)
        print(f"saved 16 sketches (seed 7) to {out}", flush=True)


def seeds(model_paths: list[str], n: int, temperature: float = 0.4) -> None:
    """How many of ``n`` seeded sketches the NumPy engine (on the CPU) and the Keras model
    (JAX, on the device) draw the same: equal point count and lifts, offsets within 0.01
    model units (``tests/test_engine_seeds.py``'s measure)."""
    import numpy as np

    from sketchart import load_model
    from sketchart.generate import sampling

    for path in model_paths:
        engine = load_model(path, download=False)
        keras_model = load_model(path, download=False, engine="keras")
        ours = sampling.sample(engine, n, temperature, seed=7)
        theirs = sampling.sample(keras_model, n, temperature, seed=7)
        tol = 0.01 * engine.scale_factor
        same = sum(a.shape == b.shape and np.array_equal(a[:, 2], b[:, 2])
                   and bool(np.all(np.abs(a[:, :2] - b[:, :2]) <= tol))
                   for a, b in zip(ours, theirs, strict=True))
        print(f"{_device_label()}: seeds, {os.path.basename(path.rstrip('/'))} "
              f"T={temperature} seed 7: NumPy engine (CPU) and JAX (device) draw {same}/{n} "
              f"sketches the same", flush=True)


def quality_q(data_dir: str, num_steps: int, save_every: int, seed: int,
              precision: str = "float32") -> None:
    """Config Q on aaron_sheep; validation r_cost at each save (the trainer's notes)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from quality_q import CONFIG_Q

    from sketchart.training.trainer import TrainError, train

    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = train(os.path.join(tmp, "q"),
                           f"{CONFIG_Q},num_steps={num_steps},save_every={save_every}",
                           data_dir=data_dir, seed=seed, progress=True, samples=0,
                           download=False, precision=precision)
        except TrainError as exc:  # the time cap's SIGINT: the notes above hold the figures
            print(f"config Q stopped: {exc}", flush=True)
            return
        print(f"{_device_label()}: config Q, seed {seed}, {precision}: {result.summary()}")
        for h in result.history:
            print(f"{_device_label()}: config Q step {h['step']} {h['split']}: "
                  f"r_cost {h['r_cost']:.4f} kl_cost {h['kl_cost']:.4f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("train-speed")
    p.add_argument("--decoder", default="lstm")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--hparams", default="", help="extra overrides (smoke runs on a CPU)")
    p.add_argument("--data", required=True)
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    p = sub.add_parser("sample")
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--temperature", type=float, default=0.4)
    p.add_argument("--out")
    p = sub.add_parser("seeds")
    p.add_argument("--model", action="append", required=True)
    p.add_argument("-n", type=int, default=100)
    p = sub.add_parser("quality-q")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--num-steps", type=int, default=2000)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="bfloat16: mixed precision (float32 weights, loss and mixture head)")
    args = parser.parse_args(argv)
    import jax

    print(f"jax {jax.__version__} on {jax.devices()}", flush=True)
    if args.part == "train-speed":
        train_speed(args.decoder, args.seconds, args.hparams, args.data, args.precision)
    elif args.part == "seeds":
        seeds(args.model, args.n)
    elif args.part == "sample":
        sample_speed(args.model, args.batch, args.temperature, args.out)
    else:
        quality_q(args.data_dir, args.num_steps, args.save_every, args.seed, args.precision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
