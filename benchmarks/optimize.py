"""Benchmark of ``--optimize`` on a 10x10 grid: pen-up travel and plot time before and after.

A 10x10 grid of sketches (100 flamingos sampled at T=0.4 by default, or the first 100 test
sketches of a dataset with ``--npz``) is laid out as ``sketchrnn-sample -n 100`` does, then
optimised by sketchart's chain (:func:`sketchart.page.layout.optimize_document`) and, as a
cross-check, by vpype's own commands (``linemerge linesimplify reloop linesort``).

Plot time comes from the plotting helper's motion planner (``sketchart.plot.motion``:
junction-deviation corner speeds and trapezoid profiles) with AxiDraw-like defaults
(pen-down 55 mm/s at 760 mm/s^2, pen-up 165 mm/s at 1140 mm/s^2: 25 % and 75 % of the V3's
speed limit, 75 % of its acceleration), plus a pen lift and a pen drop per path.

Usage (from the repository root)::

    python benchmarks/optimize.py
    python benchmarks/optimize.py --npz ../shared/data/sketchrnn/aaron_sheep.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import vpype as vp

from sketchart.page import layout

__all__ = ["estimate_plot_time", "main", "measure"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MM = vp.convert_length("mm")

V_DOWN, A_DOWN = 55.0, 760.0  # mm/s, mm/s^2
V_UP, A_UP = 165.0, 1140.0
DEVIATION = 0.05  # mm, junction deviation of the corner model
PEN_MOVE_S = 0.15  # one servo move (lift or drop)


def _segment_time(length: float, vmax: float, accel: float) -> float:
    """Rest-to-rest straight move: trapezoid, or triangle when too short to cruise."""
    ramp = vmax * vmax / accel
    if length >= ramp:
        return length / vmax + vmax / accel
    return 2.0 * np.sqrt(length / accel)


def _polyline_time(points_mm: np.ndarray, vmax: float, accel: float) -> float:
    try:
        from sketchart.plot.motion import polyline_time
    except ImportError:  # plotting side absent: stop at every vertex (pessimistic)
        seg = np.hypot(*np.diff(points_mm, axis=0).T)
        return float(sum(_segment_time(s, vmax, accel) for s in seg if s > 0))
    return float(polyline_time(points_mm, vmax, accel, DEVIATION))


def estimate_plot_time(document: vp.Document) -> float:
    """Seconds to plot ``document`` layer by layer (pen changes not counted)."""
    total = 0.0
    for lc in document.layers.values():
        pos = np.zeros(2)  # each layer starts from home
        for line in lc:
            pts = np.stack([line.real, line.imag], axis=1) / MM
            total += _segment_time(float(np.hypot(*(pts[0] - pos))), V_UP, A_UP)
            total += 2 * PEN_MOVE_S + _polyline_time(pts, V_DOWN, A_DOWN)
            pos = pts[-1]
    return total


def measure(document: vp.Document) -> dict[str, float]:
    """Paths, segments, pen-down and pen-up lengths (mm) and plot time (s)."""
    return {
        "paths": sum(len(lc) for lc in document.layers.values()),
        "segments": document.segment_count(),
        "pen_down_mm": document.length() / MM,
        "pen_up_mm": document.pen_up_length() / MM,
        "plot_s": estimate_plot_time(document),
    }


def _sketches(args: argparse.Namespace) -> tuple[list[np.ndarray], str]:
    if args.npz:
        from sketchart.data.npzsafe import read_npz

        return list(read_npz(args.npz)["test"][:100]), f"{Path(args.npz).name} test[:100]"
    from sketchart.generate.sampling import sample
    from sketchart.hub.store import load_model

    model = load_model(args.model)
    t0 = time.perf_counter()
    sketches = sample(model, 100, temperature=0.4, seed=args.seed)
    print(f"sampled 100 sketches in {time.perf_counter() - t0:.2f} s")
    return sketches, f"{Path(args.model).name} T=0.4 seed={args.seed}"


def main(argv: list[str] | None = None) -> None:
    """Print the before/after table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=str(SHARED / "models" / "sketch-rnn-js" / "flamingo.gen.json")
    )
    parser.add_argument("--npz", default=None, help="use a dataset's test sketches instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    sketches, what = _sketches(args)
    doc = layout.layout_document(sketches, size=25 * MM, gap=5 * MM, columns=10)
    before = measure(doc)

    t0 = time.perf_counter()
    ours = layout.layout_document(
        sketches, size=25 * MM, gap=5 * MM, columns=10, optimize=True, optimize_seed=0
    )
    t_ours = time.perf_counter() - t0
    after = measure(ours)

    import vpype_cli

    t0 = time.perf_counter()
    theirs = vpype_cli.execute("linemerge linesimplify reloop linesort", document=doc)
    t_vpype = time.perf_counter() - t0
    vpype_after = measure(theirs)

    print(f"10x10 grid of {what}, 25 mm boxes, 5 mm gap")
    print(f"{'':14s}{'before':>12s}{'--optimize':>12s}{'vpype chain':>12s}{'change':>9s}")
    for key in before:
        b, a, v = before[key], after[key], vpype_after[key]
        change = f"{100 * (a - b) / b:+.1f}%" if b else "-"
        print(f"{key:14s}{b:12.1f}{a:12.1f}{v:12.1f}{change:>9s}")
    print(
        f"optimisation time: sketchart {t_ours:.2f} s (layout included), vpype {t_vpype:.2f} s"
    )
    travel = 100 * (1 - after['pen_up_mm'] / before['pen_up_mm'])
    print(
        f"pen-up travel reduced by {travel:.1f}%, "
        f"plot time by {100 * (1 - after['plot_s'] / before['plot_s']):.1f}%"
    )


if __name__ == "__main__":
    main()
