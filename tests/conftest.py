"""Shared test fixtures: where the real data lives, and skips when it is absent.

The real datasets, reference fixtures and pretrained models live in ``../shared`` beside
the project's checkout (CI has them there too). ``SKETCHART_SHARED`` overrides the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SKETCHART_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path of a file under ``../shared``; skips the calling test when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not found: {path} (set SKETCHART_SHARED to the shared/ folder)"
        )
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` folder with real data, fixtures and pretrained models."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found: {SHARED} (set SKETCHART_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def sheep_npz() -> Path:
    return shared_path("data", "sketchrnn", "aaron_sheep.npz")


def write_small_sheep(folder: Path, sheep_npz: Path, max_points: int, train: int,
                      held_out: int = 10) -> Path:
    """``folder`` with ``small.npz``: the first ``train`` / ``held_out`` / ``held_out``
    real sheep of at most ``max_points`` points (for tiny training runs)."""
    import numpy as np

    from sketchart.data.datasets import load_npz
    from sketchart.data.npzsafe import write_npz

    sheep = load_npz(sheep_npz)

    def pick(sketches: list[np.ndarray], n: int) -> list[np.ndarray]:
        return [s.astype(np.int16) for s in sketches if len(s) <= max_points][:n]

    write_npz(folder / "small.npz", {"train": pick(sheep.train, train),
                                     "valid": pick(sheep.valid, held_out),
                                     "test": pick(sheep.test, held_out)})
    return folder
