"""Seeds independent of the engine: ``sample(..., seed=7)`` draws the same drawing on the
NumPy engine and on the Keras model's compiled sampler (TensorFlow in the default run, JAX
in the ``KERAS_BACKEND=jax`` parity run), for every sampling function.

"The same" (issue 20): equal point count and every point within 0.01 model units (the
offsets the network draws, before ``scale_factor``: 0.72 px for Google's flamingo, 0.19 for
``models/sheep``), lifts equal. The engines round differently (sums in another order, the
fused LSTM step), and a sketch feeds its points back: a few hundredths of a pixel after a
hundred steps, and rarely a categorical draw flips on a rounding-level tie. Run with ``-s``
to see the counts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, shared_path

from sketchart.generate import sampling
from sketchart.generate.numpy_engine import NumpySketchRNN
from sketchart.hub.store import load_model

TOL = 0.01  # model units
SHEEP = ROOT / "models" / "sheep"


def _flamingo() -> Path:
    return shared_path("models", "sketch-rnn-js", "flamingo.gen.json")


MODELS: dict[str, Callable[[], Path]] = {"flamingo": _flamingo, "sheep": lambda: SHEEP}


@pytest.fixture(scope="module", params=sorted(MODELS))
def pair(request: pytest.FixtureRequest) -> tuple[str, NumpySketchRNN, Any]:
    """``(name, NumPy engine, Keras SketchRNN)`` of the same model."""
    path = MODELS[request.param]()
    engine = load_model(path)
    assert isinstance(engine, NumpySketchRNN)
    return request.param, engine, load_model(path, engine="keras")


def same_drawing(a: np.ndarray, b: np.ndarray, scale: float, tol: float = TOL) -> bool:
    """Equal point count, lifts equal, offsets within ``tol`` model units."""
    return (a.shape == b.shape and np.array_equal(a[:, 2], b[:, 2])
            and bool(np.all(np.abs(a[:, :2] - b[:, :2]) <= tol * scale)))


def count_same(ours: list[np.ndarray], theirs: list[np.ndarray], scale: float) -> int:
    assert len(ours) == len(theirs)
    return sum(same_drawing(a, b, scale) for a, b in zip(ours, theirs, strict=True))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _compare_samples(pair: tuple[str, NumpySketchRNN, Any], n: int, need: int) -> None:
    name, engine, keras_model = pair
    ours = sampling.sample(engine, n, 0.4, seed=7)
    theirs = sampling.sample(keras_model, n, 0.4, seed=7)
    same = count_same(ours, theirs, engine.scale_factor)
    worst = max(float(np.abs(a[:, :2] - b[:, :2]).max()) / engine.scale_factor
                for a, b in zip(ours, theirs, strict=True) if a.shape == b.shape)
    print(f"\n{name} T=0.4 seed 7: NumPy vs {_backend()}: {same}/{n} identical "
          f"(worst {worst:.2g} model units)")
    assert same >= need


@pytest.mark.parity
def test_sample_same_drawings_on_every_engine(pair: tuple[str, NumpySketchRNN, Any]) -> None:
    """16 sketches (CI): at most one may differ."""
    _compare_samples(pair, 16, 15)


@pytest.mark.slow
@pytest.mark.parity
def test_sample_same_drawings_on_every_engine_200(
        pair: tuple[str, NumpySketchRNN, Any]) -> None:
    """The issue's measure: at least 195 of 200 identical."""
    _compare_samples(pair, 200, 195)


@pytest.mark.parity
def test_every_sampling_function_same_on_every_engine(
        pair: tuple[str, NumpySketchRNN, Any]) -> None:
    """decode, reconstruct, interpolate, grid and complete (and sample's redraws) take the
    same draws on both engines."""
    name, engine, keras_model = pair
    scale = engine.scale_factor
    drawings = sampling.sample(engine, 4, 0.3, seed=3, max_len=60)
    runs: dict[str, Callable[[Any], list[np.ndarray]]] = {
        "complete": lambda m: sampling.complete(m, drawings[0][:10], n=4, temperature=0.4,
                                                seed=5, max_len=40),
    }
    if engine.conditional:
        z = np.random.default_rng(0).standard_normal((3, engine.z_size)).astype(np.float32)
        runs.update({
            "decode": lambda m: sampling.decode(m, z, 0.4, seed=5),
            "reconstruct": lambda m: sampling.reconstruct(m, drawings[:2], 0.4, seed=5,
                                                          sample_z=True),
            "interpolate": lambda m: sampling.interpolate(m, drawings[0], drawings[1],
                                                          steps=4, temperature=0.4, seed=5),
            "grid": lambda m: [d for row in sampling.grid(m, drawings, rows=2, cols=3,
                                                          temperature=0.4, seed=5)
                               for d in row],
        })
        np.testing.assert_allclose(sampling.encode(engine, drawings),
                                   sampling.encode(keras_model, drawings), atol=1e-4)
    for what, run in runs.items():
        ours, theirs = run(engine), run(keras_model)
        same = count_same(ours, theirs, scale)
        print(f"\n{name} {what}: NumPy vs {_backend()}: {same}/{len(ours)} identical")
        assert same >= len(ours) - 1, what


@pytest.mark.parity
def test_next_pdf_same_on_every_engine(pair: tuple[str, NumpySketchRNN, Any]) -> None:
    _, engine, keras_model = pair
    strokes = sampling.sample(engine, 1, 0.3, seed=2, max_len=20)[0]
    z = np.zeros(engine.z_size, np.float32) if engine.conditional else None
    ours = sampling.next_pdf(engine, strokes, 0.5, z=z)
    theirs = sampling.next_pdf(keras_model, strokes, 0.5, z=z)
    for key, value in ours.items():
        np.testing.assert_allclose(value, theirs[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_load_model_engines(tmp_path: Path) -> None:
    """NumPy engine by default; ``engine="keras"`` is the Keras model; ``to_keras`` gives the
    same weights; an unknown engine is a one-line error."""
    from sketchart.errors import SketchartError
    from sketchart.hub.convert import weights_by_role

    engine = load_model(SHEEP)
    assert isinstance(engine, NumpySketchRNN)
    keras_model = engine.to_keras()
    assert keras_model.meta == engine.meta
    for role, group in weights_by_role(keras_model).items():
        for key, value in group.items():
            np.testing.assert_array_equal(value, engine.roles[role][key])
    with pytest.raises(SketchartError, match="unknown engine"):
        load_model(SHEEP, engine="torch")


def test_use_engine_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from sketchart.errors import SketchartError
    from sketchart.generate.engines import use_engine

    assert use_engine("numpy") == "numpy"
    current = keras.backend.backend()
    assert use_engine(current) == "keras"
    other = "jax" if current == "tensorflow" else "tensorflow"
    with pytest.raises(SketchartError, match=f"already loaded with the {current}") as err:
        use_engine(other)
    assert "\n" not in str(err.value)
    with pytest.raises(SketchartError, match="unknown engine"):
        use_engine("torch")
