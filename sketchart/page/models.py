"""What the page layer needs to know of a model: its name on the page, its kind, its limits.

The model itself (what :func:`load_sketch_model` returns: the NumPy engine by default, a
Keras :class:`~sketchart.nn.model.SketchRNN` for ``--engine tensorflow|jax``) is only
passed through to :mod:`sketchart.generate.sampling`; this module reads its ``hps`` and
``meta``.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Protocol

from sketchart.page.options import OptionError

if TYPE_CHECKING:
    from sketchart.hparams import HParams

__all__ = [
    "ENGINES",
    "SketchModel",
    "is_conditional",
    "load_sketch_model",
    "looks_like_path",
    "max_seq_len",
    "model_label",
    "model_source",
    "require_conditional",
]


#: ``--engine`` of the drawing commands (``sketchart.generate.engines.ENGINES``).
ENGINES = ("numpy", "tensorflow", "jax")


class SketchModel(Protocol):
    """A loaded Sketch-RNN model as the page layer sees it (``meta`` is optional): the NumPy
    engine (:class:`~sketchart.generate.numpy_engine.NumpySketchRNN`) or a Keras
    ``SketchRNN``, both taken by every :mod:`sketchart.generate.sampling` function."""

    hps: HParams


def load_sketch_model(source: str, engine: str = "numpy", progress: bool = False
                      ) -> SketchModel:
    """Load ``source`` (a name or path) for drawing on ``engine`` (``numpy``: no TensorFlow
    or Keras imported; ``tensorflow`` / ``jax``: the Keras model, its backend set first).

    Raises:
        sketchart.errors.SketchartError: an unknown engine, Keras already loaded with
            another backend, JAX not installed, or a model that does not load.
    """
    from sketchart.generate.engines import use_engine
    from sketchart.hub.store import load_model

    return load_model(source, engine=use_engine(engine), progress=progress)


def looks_like_path(name: str) -> bool:
    """Whether ``--model`` names a file or folder rather than a model by name."""
    suffixes = (".json", ".h5", ".keras")
    return name.endswith(suffixes) or name.startswith((".", "/", "~")) or "\\" in name


def model_source(category: str | None, model: str | None) -> tuple[str, str]:
    """The model named by ``--category`` or ``--model``: ``(name as given, what to load)``.

    Raises:
        OptionError: both or neither given, or a ``--model`` path that does not exist.
    """
    if category and model:
        raise OptionError("give --category or --model, not both")
    name = category or model
    if not name:
        raise OptionError("give a model: --category NAME or --model NAME|PATH")
    if model and looks_like_path(model) and not pathlib.Path(model).expanduser().exists():
        raise OptionError(f"no such file or directory: {model}", "'--model'")
    return name, str(pathlib.Path(name).expanduser()) if model else name


def model_label(model: SketchModel, name: str) -> str:
    """Short name for layer labels: the model's data set, or the file's stem."""
    meta = getattr(model, "meta", None)
    data_set = getattr(meta, "data_set", None)
    if isinstance(data_set, list | tuple):
        data_set = data_set[0] if len(data_set) == 1 else None
    if data_set:
        return pathlib.Path(str(data_set)).name.split(".")[0]
    stem = pathlib.Path(name).name
    for suffix in (".gen.json", ".vae.json", ".json"):
        stem = stem.removesuffix(suffix)
    return stem


def is_conditional(model: SketchModel) -> bool:
    """Whether the model has an encoder (a VAE), so it can encode drawings."""
    return bool(getattr(getattr(model, "hps", None), "conditional", False))


def require_conditional(model: SketchModel, name: str, command: str) -> None:
    """Refuse a decoder-only model for a command that encodes drawings."""
    if not is_conditional(model):
        raise OptionError(
            f"{command} needs a conditional (VAE) model; {name} is decoder-only"
        )


def max_seq_len(model: SketchModel) -> int | None:
    """The longest drawing the model was trained on (what its encoder accepts)."""
    meta = getattr(model, "meta", None)
    value = getattr(meta, "max_seq_len", None) or getattr(
        getattr(model, "hps", None), "max_seq_len", None
    )
    return int(value) if value else None
