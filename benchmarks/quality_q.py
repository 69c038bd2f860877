"""Quality side by side with the reference: config Q on aaron_sheep (issue 4).

Config Q: ``dec_model=layer_norm,enc_model=layer_norm,dec_rnn_size=256,enc_rnn_size=128,
z_size=64,save_every=250`` (batch 100, everything else default), exact mode, 2000 steps.
Prints the valid and test r_cost / kl_cost at every save beside the reference's, the wall
time, and whether the test r_cost at the last step is within +-0.03 of the reference's
(evaluation samples z, so a second ``--seed`` tells how noisy one run is).

It needs about 50 minutes of both cores at full length; pause other work first::

    python benchmarks/quality_q.py --seed 0 [--log-root runs/q0]
    python benchmarks/quality_q.py --num-steps 4 --save-every 2     # a quick smoke run

With ``--log-root`` the run can be stopped (Ctrl-C keeps ``last/``) and continued with
``--resume``; the table then covers the whole run (the history lives in ``last/``). When
validation did not improve at the last step, ``last/`` is evaluated on the test split too
(same kl weight and z sampling), so the final comparison always has a number.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

__all__ = ["CONFIG_Q", "REFERENCE", "main"]

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "sketchrnn"

CONFIG_Q = ("data_set=aaron_sheep.npz,dec_model=layer_norm,enc_model=layer_norm,"
            "dec_rnn_size=256,enc_rnn_size=128,z_size=64")

#: step -> (valid r_cost, valid kl_cost, test r_cost, test kl_cost), the reference here
REFERENCE = {
    250: (0.7659, 0.8486, 0.7511, 0.8452),
    500: (0.6509, 0.8957, 0.6299, 0.8890),
    750: (0.5962, 0.6774, 0.5720, 0.6727),
    1000: (0.5533, 0.4718, 0.5258, 0.4694),
    1250: (0.5178, 0.3322, 0.4903, 0.3321),
    1500: (0.5101, 0.2334, 0.4794, 0.2349),
    1750: (0.5040, 0.2357, 0.4739, 0.2361),
    2000: (0.4960, 0.2408, 0.4667, 0.2413),
}
REFERENCE_WALL_MIN = 52
TOLERANCE = 0.03


def _fmt(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "   -  "


def main(argv: list[str] | None = None) -> int:
    """Train config Q and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-steps", type=int, default=2000)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-root", type=Path, default=None,
                        help="keep the run here (default: a temporary folder)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--bucketed", action="store_true")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --log-root")
    args = parser.parse_args(argv)
    if args.resume and args.log_root is None:
        parser.error("--resume needs --log-root")

    from sketchart.errors import SketchartError
    from sketchart.training.trainer import evaluate_model, train

    hparams = f"{CONFIG_Q},save_every={args.save_every},num_steps={args.num_steps}"
    with tempfile.TemporaryDirectory() as tmp:
        log_root = args.log_root or Path(tmp) / "q"
        try:
            result = train(log_root, hparams, data_dir=args.data_dir, seed=args.seed,
                           bucketed=args.bucketed, samples=0, resume=args.resume)
        except SketchartError as err:  # interrupted, bad data...: one line, state kept
            print(f"error: {err}", file=sys.stderr)
            return 1
        by_step: dict[int, dict[str, dict[str, float]]] = {}
        for entry in result.history:
            by_step.setdefault(entry["step"], {})[entry["split"]] = entry
        last_test_note = ""
        if result.steps in by_step and "test" not in by_step[result.steps]:
            klw = by_step[result.steps]["valid"]["kl_weight"]
            test = evaluate_model(Path(log_root) / "last", args.data_dir / "aaron_sheep.npz",
                                  "test", kl_weight=klw, seed=args.seed)
            by_step[result.steps]["test"] = test
            last_test_note = (f"(test at step {result.steps}: last/ evaluated after training, "
                              "valid had not improved)")
    print(f"config Q, seed {args.seed}, {'bucketed' if args.bucketed else 'exact'}; "
          "kl_cost after the kl_tolerance floor; '-': test not evaluated (valid did not "
          "improve)")
    print(f"{'step':>5} | {'valid r':>7} {'ref':>7} | {'valid kl':>8} {'ref':>7} | "
          f"{'test r':>7} {'ref':>7} | {'test kl':>7} {'ref':>7}")
    for step in sorted(by_step):
        ours = by_step[step]
        ref = REFERENCE.get(step, (None,) * 4)
        valid, test = ours.get("valid", {}), ours.get("test", {})
        print(f"{step:>5} | {_fmt(valid.get('r_cost'))} {_fmt(ref[0])} | "
              f" {_fmt(valid.get('kl_cost'))} {_fmt(ref[1])} | "
              f"{_fmt(test.get('r_cost'))} {_fmt(ref[2])} | "
              f"{_fmt(test.get('kl_cost'))} {_fmt(ref[3])}")
    if last_test_note:
        print(last_test_note)
    print(f"wall time {result.total_time_s / 60:.1f} min for {result.steps} steps with "
          f"evaluations (reference: {REFERENCE_WALL_MIN} min for 2000)")
    final = by_step.get(result.steps, {}).get("test")
    if result.steps in REFERENCE and final is not None:
        delta = final["r_cost"] - REFERENCE[result.steps][2]
        verdict = "within" if abs(delta) <= TOLERANCE else "OUTSIDE"
        print(f"test r_cost at step {result.steps}: {final['r_cost']:.4f} vs "
              f"{REFERENCE[result.steps][2]:.4f} ({delta:+.4f}, {verdict} +-{TOLERANCE})")
    print("JSON " + json.dumps({"seed": args.seed, "history": result.history,
                                "wall_time_s": result.total_time_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
