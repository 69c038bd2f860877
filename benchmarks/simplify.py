"""How closely ``quickdraw_simplify`` reproduces Google's simplified QuickDraw drawings.

Pairs every drawing of ``quickdraw/raw/*.ndjson`` with the drawing of the same ``key_id``
in ``quickdraw/simplified/*.ndjson`` (7,853 pairs in ``../shared/data``), simplifies the
raw one, and reports:

- ``same_count``: fraction of drawings whose every stroke has the same number of points;
- ``mean_distance``: over those drawings, the mean Euclidean distance between
  corresponding points (pixels on the 0-255 grid), averaged per drawing;
- ``exact``: fraction reproduced point for point.

Usage: ``python benchmarks/simplify.py [--limit N] [--shared PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.data.simplify import quickdraw_simplify

__all__ = ["load_pairs", "measure"]

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def load_pairs(
    quickdraw_root: Path, limit: int | None = None, categories: list[str] | None = None
) -> list[tuple[str, Any, Any]]:
    """``(key_id, raw drawing, simplified drawing)`` for every key_id in both folders.

    Pairs are ordered by simplified file name, then line; ``limit`` keeps the first ones,
    ``categories`` (file stems) reads only those files.
    """
    pattern = "*.ndjson"

    def files(folder: str) -> list[Path]:
        found = sorted((quickdraw_root / folder).glob(pattern))
        return [p for p in found if categories is None or p.stem in categories]

    raw: dict[str, Any] = {}
    for path in files("raw"):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                raw[record["key_id"]] = record["drawing"]
    pairs = []
    for path in files("simplified"):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                if record["key_id"] in raw:
                    pairs.append((record["key_id"], raw[record["key_id"]], record["drawing"]))
                    if limit is not None and len(pairs) >= limit:
                        return pairs
    return pairs


def measure(pairs: list[tuple[str, Any, Any]]) -> dict[str, float]:
    """Reproduction figures of ``quickdraw_simplify`` over ``pairs`` (see module docs)."""
    same = exact = 0
    distances = []
    for _, raw, simplified in pairs:
        ours = quickdraw_simplify(raw)
        ref = [np.column_stack([s[0], s[1]]) for s in simplified]
        if len(ours) == len(ref) and all(len(a) == len(b) for a, b in zip(ours, ref)):
            same += 1
            diff = np.concatenate(ours) - np.concatenate(ref)
            d = np.hypot(diff[:, 0], diff[:, 1])
            distances.append(float(d.mean()))
            exact += int(not d.any())
    n = max(len(pairs), 1)
    return {
        "pairs": len(pairs),
        "same_count": same / n,
        "mean_distance": float(np.mean(distances)) if distances else float("nan"),
        "exact": exact / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only")
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("SKETCHART_SHARED", DEFAULT_SHARED)),
        help="the shared/ folder",
    )
    args = parser.parse_args(argv)
    root = args.shared / "data" / "quickdraw"
    if not root.is_dir():
        print(f"no QuickDraw data at {root}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    pairs = load_pairs(root, args.limit)
    loaded = time.perf_counter()
    figures = measure(pairs)
    done = time.perf_counter()
    print(
        f"{figures['pairs']} drawings: same point count {figures['same_count']:.2%}, "
        f"mean point distance {figures['mean_distance']:.4f} px, "
        f"exact {figures['exact']:.2%} (load {loaded - start:.1f} s, "
        f"simplify {done - loaded:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
