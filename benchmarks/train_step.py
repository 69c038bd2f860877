"""Milliseconds per training step and peak RSS, beside the reference (issue 4).

Default hparams (batch 100, enc LSTM 256, dec 512, z 128, 20 mixtures, recurrent dropout
and augmentation on), aaron_sheep, max_seq_len 250. One step = batch preparation + one
compiled update, as the reference's timing (notes §12). For each decoder (lstm,
layer_norm, hyper) and mode:

* ``exact``: every batch padded to max_seq_len (the reference's computation and loss);
* ``bucketed``: length-bucketed batches run only to their longest sketch + 1.

Each configuration runs in a fresh process (so its peak RSS is its own); the median of
``--steps`` timed steps after ``--warmup`` steps is printed with the ratio to the
reference's seconds per step (3.12 lstm, 3.79 layer_norm, 6.00 hyper, or magenta's own
trainer run just before with ``--baseline same-sitting``; goals: exact >= 1.4x, bucketed
>= 2.5x, bfloat16 exact >= 2.5x on a CPU with AMX or AVX512-BF16, RSS <= 3 GB). In
bucketed mode the figure the goal uses is the *fitted* one: the step time fitted linearly
against the steps run, at the long-run mean length (``speedup_fitted`` in the JSON;
``speedup`` stays the ratio of the timed mean). ``--rounds N`` (same sitting) alternates
the reference and ours N times per decoder, each round's entries in the JSON with their
``round``, and prints each configuration's median ratio: the host's drift between two runs
moves a single ratio by ±15 %.
The header names the CPU, whether it has AMX / AVX512-BF16, and how the TensorFlow step
runs on it (``sketchart.nn.step_choice``). Pause any background training while it runs::

    python benchmarks/train_step.py                      # TensorFlow, all configurations
    python benchmarks/train_step.py --jit-compile        # TensorFlow with XLA
    python benchmarks/train_step.py --precision bfloat16 # mixed precision
    KERAS_BACKEND=jax python benchmarks/train_step.py    # JAX
    python benchmarks/train_step.py --decoders lstm --modes exact --steps 3 \\
        --hparams "dec_rnn_size=64,enc_rnn_size=32"      # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["REFERENCE_RSS_GB", "REFERENCE_S", "main"]

ROOT = Path(__file__).resolve().parents[1]
SHEEP = ROOT.parent / "shared" / "data" / "sketchrnn" / "aaron_sheep.npz"

#: the reference, measured on this kind of 2-core machine (notes §12): s/step, peak RSS
REFERENCE_S = {"lstm": 3.12, "layer_norm": 3.79, "hyper": 6.00}
REFERENCE_RSS_GB = {"lstm": 3.95, "layer_norm": 4.44, "hyper": 5.50}
GOALS = {"exact": 1.4, "bucketed": 2.5}
#: bfloat16 on a CPU with AMX or AVX512-BF16
GOALS_BF16 = {"exact": 2.5}

_CHILD = r"""
import json, resource, statistics, sys, time
import numpy as np
args = json.loads(sys.argv[1])
if args.get("threads"):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(args["threads"])
import keras
from sketchart.data.datasets import load_npz, BatchLoader
from sketchart.hparams import HParams
from sketchart.nn.model import SketchRNN
from sketchart.training.trainer import (bucket_steps, bucket_multiple, kl_weight_at,
                                         learning_rate_at)
from sketchart.training.step import TrainStep

hps = HParams().parse(args["hparams"])
data = load_npz(args["data"])
scale = float(np.std(np.concatenate([s[:, :2].ravel() for s in data.train])))
loader = BatchLoader(data.train, batch_size=hps.batch_size, max_seq_len=hps.max_seq_len,
                     scale_factor=scale, random_scale_factor=hps.random_scale_factor,
                     augment_stroke_prob=hps.augment_stroke_prob,
                     bucketed=args["mode"] == "bucketed", seed=0)
keras.utils.set_random_seed(0) if keras.backend.backend() == "tensorflow" else None
model = SketchRNN(hps, seed=0, precision=args["precision"])
choice = None
if keras.backend.backend() == "tensorflow":
    from sketchart.nn.step_choice import step_choice
    c = step_choice(args["precision"])  # the products' dtype
    choice = {"xla_step": c.xla_step, "transposed": c.transposed, "lanes": c.lanes,
              "source": c.source}
opt = keras.optimizers.Adam(learning_rate=hps.learning_rate, epsilon=1e-8)
step_fn = TrainStep(model, opt, hps, jit_compile=args["jit_compile"])
multiple = bucket_multiple(args["jit_compile"])
times, cpus, steps_run, first, warm = [], [], [], None, []
for i in range(args["warmup"] + args["steps"]):
    t0, c0 = time.perf_counter(), time.process_time()
    batch = loader.random_batch()
    strokes5 = batch.strokes5
    if args["mode"] == "bucketed":
        n = bucket_steps(batch.lengths, hps.max_seq_len, multiple)
        strokes5 = strokes5[:, : n + 1]
    losses = step_fn.train(strokes5, batch.lengths, learning_rate_at(hps, i),
                           kl_weight_at(hps, i))
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if i == 0:
        first = dt
    if i >= args["warmup"]:
        times.append(dt)
        cpus.append(dc)
        steps_run.append(strokes5.shape[1] - 1)
    else:
        warm.append([round(dt, 3), strokes5.shape[1] - 1])
rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
fit = {}
if args["mode"] == "bucketed" and len(set(steps_run)) > 1:
    # a bucketed step's time is linear in the steps it runs: fit it, and evaluate it at the
    # mean over 4,000 simulated draws (unaugmented lengths: point dropping only shortens),
    # which 30 timed batches estimate only to +-8 steps
    slope, intercept = np.polyfit(steps_run, times, 1)
    rng = np.random.default_rng(1)
    drawn = [bucket_steps(loader.lengths[loader.draw_indices(rng)], hps.max_seq_len, multiple)
             for _ in range(4000)]
    fit = {"long_run_steps": float(np.mean(drawn)),
           "fitted_mean_s": float(intercept + slope * np.mean(drawn))}
print("RESULT " + json.dumps({
    "median_s": statistics.median(times), "mean_s": statistics.fmean(times),
    "min_s": min(times), "max_s": max(times), "first_s": first, "rss_gb": rss_gb,
    "cpu_s": statistics.median(cpus),
    "mean_steps_run": statistics.fmean(steps_run), "cost": losses["cost"],
    "times_s": times, "steps_run": steps_run, "warmup_s_steps": warm, **fit,
    "params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
    "backend": keras.backend.backend(), "precision": args["precision"],
    "step_choice": choice}))
"""


def run_one(decoder: str, mode: str, args: argparse.Namespace) -> dict:
    """Time one configuration in a fresh process; returns the child's measurements."""
    hparams = f"dec_model={decoder}"
    if args.hparams:
        hparams += "," + args.hparams
    steps = args.bucketed_steps if mode == "bucketed" and args.bucketed_steps else args.steps
    payload = json.dumps({"hparams": hparams, "mode": mode, "data": str(args.data),
                          "steps": steps, "warmup": args.warmup,
                          "jit_compile": args.jit_compile, "threads": args.threads,
                          "precision": args.precision})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", _CHILD, payload], capture_output=True,
                         text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{decoder}/{mode} failed:\n{out.stderr[-3000:]}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoders", default="lstm,layer_norm,hyper")
    parser.add_argument("--modes", default="exact,bucketed")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per config")
    parser.add_argument("--bucketed-steps", type=int, default=0,
                        help="timed steps in bucketed mode (0: --steps); each batch runs "
                             "its own length, so its mean needs more of them")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--jit-compile", action="store_true", help="TensorFlow: XLA")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (0: its default); 1 with the printed CPU "
                             "seconds compares variants on a busy machine")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="bfloat16: mixed precision (float32 weights, loss and head)")
    parser.add_argument("--hparams", default="",
                        help="extra hparams (both sides with --baseline same-sitting)")
    parser.add_argument("--data", type=Path, default=SHEEP)
    parser.add_argument("--baseline", choices=("notes", "same-sitting"), default="notes",
                        help="notes: the issue's figures (another machine); same-sitting: "
                             "run magenta's trainer here first (reference_step.py)")
    parser.add_argument("--magenta-wheel", default=None,
                        help="the magenta 2.1.4 wheel for --baseline same-sitting")
    parser.add_argument("--rounds", type=int, default=1,
                        help="same-sitting: alternate the reference and ours this many "
                             "times per decoder and print each configuration's median "
                             "ratio (a host's drift moves single rounds)")
    return parser


def _print_header(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from sketchart.nn.step_choice import cpu_info  # stdlib only: no TensorFlow here

    cpu = cpu_info()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"backend {backend}{' + XLA' if args.jit_compile else ''}, {args.precision}; "
          f"{args.warmup} warm-up + {args.steps} timed steps per configuration")
    print(f"CPU {cpu.model} ({cpu.vendor}), {cpu.threads} usable of {os.cpu_count()} CPUs; "
          f"AMX {'yes' if cpu.amx else 'no'}, AVX512-BF16 "
          f"{'yes' if cpu.avx512_bf16 else 'no'}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("ms/step: the median (exact), the mean (bucketed); the bucketed goal is checked "
          "on the fitted line")
    header = (f"{'decoder':<11} {'mode':<9} {'ms/step':>8} {'min-max ms':>13} "
              f"{'steps run':>9} {'RSS GB':>7} {'ref s':>6} {'speed-up':>8} {'goal':>5}")
    print(header)
    print("-" * len(header))


def _reference(decoder: str, args: argparse.Namespace) -> dict:
    """magenta's own trainer for ``decoder``, in a fresh process; its line printed.
    With ``--threads 1`` (a busy machine) the ratio compares CPU seconds, not wall."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference_step import run_reference

    os.environ["SKETCHART_REF_THREADS"] = str(args.threads)
    ref = run_reference(decoder, args.steps, args.warmup, data=args.data,
                        wheel=args.magenta_wheel, hparams=args.hparams)
    print(f"reference {decoder}: {ref['median_s']:.2f} s/step wall, "
          f"{ref['cpu_median_s']:.2f} s CPU, {ref['peak_rss_gb']:.2f} GB", flush=True)
    return ref


def _print_medians(decoder: str, rows: list[dict], args: argparse.Namespace) -> None:
    """Per mode, the median of the rounds' goal ratios (fitted where there is one)."""
    for mode in args.modes.split(","):
        ratios = sorted(r["speedup_fitted"] or r["speedup"] for r in rows if r["mode"] == mode)
        if not ratios:
            continue
        median = statistics.median(ratios)
        ok = "ok" if median >= _goal(mode, args.precision) else "MISS"
        print(f"{decoder:<11} {mode:<9} median of {len(ratios)} rounds {median:.2f}x "
              f"({ratios[0]:.2f}-{ratios[-1]:.2f}x) {ok}", flush=True)


def _goal(mode: str, precision: str) -> float:
    return GOALS_BF16.get(mode, GOALS[mode]) if precision == "bfloat16" else GOALS[mode]


def _report(decoder: str, mode: str, r: dict, ref: float, args: argparse.Namespace,
            ) -> dict:
    """Print one configuration's lines; its JSON entry (``speedup``: timed figure,
    ``speedup_fitted``: the bucketed line at the long-run mean)."""
    # bucketed: the mean, as a training run sees it (each batch runs its own length)
    shown = r["mean_s"] if mode == "bucketed" else r["median_s"]
    mine = r["cpu_s"] if args.threads == 1 else shown
    ratio = ref / mine
    fitted = ref / r["fitted_mean_s"] if "fitted_mean_s" in r and args.threads != 1 else None
    goal_ratio = fitted if fitted is not None else ratio
    ok = "ok" if goal_ratio >= _goal(mode, args.precision) and r["rss_gb"] <= 3.0 else "MISS"
    print(f"{decoder:<11} {mode:<9} {shown * 1e3:8.0f} "
          f"{r['min_s'] * 1e3:6.0f}-{r['max_s'] * 1e3:<6.0f} "
          f"{r['mean_steps_run']:9.0f} {r['rss_gb']:7.2f} "
          f"{ref:6.2f} {ratio:7.2f}x {'' if fitted else ok:>5}", flush=True)
    if fitted is not None:
        print(f"{'':<11} {'  fitted':<9} {r['fitted_mean_s'] * 1e3:8.0f} "
              f"{'':>13} {r['long_run_steps']:9.0f} {'':>7} {ref:6.2f} "
              f"{fitted:7.2f}x {ok:>5}  (time linear in steps, at the long-run mean)",
              flush=True)
    return {"decoder": decoder, "mode": mode, **r, "speedup": ratio,
            "speedup_fitted": fitted, "cpu_s_per_step": r["cpu_s"]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = _parser().parse_args(argv)
    _print_header(args)
    rows = []
    ref_s = dict(REFERENCE_S)
    ref_rss = dict(REFERENCE_RSS_GB)
    rounds = max(1, args.rounds) if args.baseline == "same-sitting" else 1
    for decoder in args.decoders.split(","):
        for round_ in range(rounds):
            if args.baseline == "same-sitting":
                ref = _reference(decoder, args)
                ref_s[decoder] = ref["cpu_median_s" if args.threads == 1 else "median_s"]
                ref_rss[decoder] = ref["peak_rss_gb"]
            for mode in args.modes.split(","):
                r = run_one(decoder, mode, args)
                rows.append(_report(decoder, mode, r, ref_s[decoder], args)
                            | ({"round": round_} if rounds > 1 else {}))
        if rounds > 1:
            _print_medians(decoder, rows[-rounds * len(args.modes.split(",")):], args)
    choice = next((r["step_choice"] for r in rows if r.get("step_choice")), None)
    if choice:
        from sketchart.nn.step_choice import describe_lanes  # stdlib only, as above

        print(f"TensorFlow step: {'XLA' if choice['xla_step'] else 'op by op'}, wide "
              f"products {'transposed' if choice['transposed'] else 'plain'}, "
              f"{describe_lanes(choice.get('lanes', 1))} ({choice['source']})")
    print(f"baseline: {args.baseline}"
          + (" (CPU seconds, 1 thread each)" if args.threads == 1 else " (wall seconds)"))
    print("reference peak RSS (GB): " + ", ".join(f"{k} {v}" for k, v in ref_rss.items()))
    print("JSON " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sys.exit(code)
