"""The model store: load a SketchRNN by name or path, download and cache pretrained models.

Names (resolved by :func:`resolve`):

* ``google/<name>``: Google's sketch-rnn-js catalog model (``sketchart/resources/
  catalog.tsv``), downloaded on first use from ``$SKETCHART_MODEL_URL/<name>.gen.json``
  into the user cache, verified against its pinned sha256 and written atomically;
* ``magenta/<category>/<variant>``: a magenta checkpoint converted by
  ``sketchart models fetch magenta`` (:func:`fetch_magenta`);
* a bare name (``flamingo``, ``"The Mona Lisa"``, ``sheep-uncond``): a model shipped in
  ``models/`` if there is one, else the cached Google model, else Google's catalog.

Paths: our model directories, training log roots (their ``best/``), ``.gen.json`` /
``.vae.json`` files and magenta checkpoint directories. Every source loads into the NumPy
engine (:class:`~sketchart.generate.numpy_engine.NumpySketchRNN`, the default) or into the
Keras :class:`~sketchart.nn.model.SketchRNN` (``engine="keras"``), so every operation works
on every source.

The cache is ``$SKETCHART_HOME``, else ``$XDG_CACHE_HOME/sketchart``, else
``~/.cache/sketchart``; it holds ``google/<name>.gen.json`` and
``magenta/<category>/<variant>/`` (model directories). Importing this module does not import
Keras; :func:`load_model` does only for ``engine="keras"`` (or a raw magenta checkpoint).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sketchart.hub import jsmodels
from sketchart.hub.cache import (
    DEFAULT_MAGENTA_URL,
    DEFAULT_MODEL_URL,
    StoreError,
    _is_model_dir,
    cache_dir,
    google_cache_path,
    magenta_models,
    magenta_url,
    model_url,
    shipped_models,
)
from sketchart.hub.catalog import (
    UnknownModelError,
    catalog,
    catalog_entry,
    closest_names,
    normalize_name,
)
from sketchart.hub.downloads import fetch_google, fetch_magenta, verify_cached
from sketchart.hub.jsmodels import _model_from_checkpoint, model_from_js

if TYPE_CHECKING:
    from sketchart.generate.numpy_engine import NumpySketchRNN
    from sketchart.jsformat import JSModel
    from sketchart.nn.model import SketchRNN

__all__ = [
    "DEFAULT_MAGENTA_URL",
    "LOAD_ENGINES",
    "DEFAULT_MODEL_URL",
    "ModelListing",
    "ModelSource",
    "StoreError",
    "cache_dir",
    "export_js",
    "fetch_google",
    "fetch_magenta",
    "google_cache_path",
    "list_models",
    "load_model",
    "magenta_models",
    "magenta_url",
    "model_from_js",
    "model_to_js",
    "model_url",
    "resolve",
    "shipped_models",
    "verify_cached",
]

# ----------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        name: canonical name (``google/flamingo``, ``magenta/owl/lstm``, ``sheep``) or the
            path as given.
        kind: ``"modeldir"``, ``"logroot"``, ``"js"``, ``"checkpoint"`` or ``"google"``
            (a catalog model not yet downloaded).
        path: the file or directory (None for a Google model not yet cached).
    """

    name: str
    kind: str
    path: Path | None


def _path_source(path: Path, label: str) -> ModelSource:
    if path.is_file():
        if path.name.endswith((".gen.json", ".vae.json")) or path.suffix == ".json":
            return ModelSource(label, "js", path)
        raise StoreError(f"{label}: not a model file (expected a .gen.json or .vae.json)")
    if _is_model_dir(path):
        return ModelSource(label, "modeldir", path)
    if _is_model_dir(path / "best"):
        return ModelSource(label, "logroot", path / "best")
    if (path / "checkpoint").is_file() and (path / "model_config.json").is_file():
        return ModelSource(label, "checkpoint", path)
    if (path / "last").is_dir() and _is_model_dir(path / "last"):
        raise StoreError(
            f"{label}: a training log root without best/ yet; load {path / 'last'}"
        )
    raise StoreError(
        f"{label}: not a model (expected a model directory with model_config.json and "
        "model.weights.h5, a training log root with best/, a .gen.json/.vae.json file or a "
        "magenta checkpoint directory)")


def resolve(name_or_path: str | os.PathLike[str]) -> ModelSource:
    """Find a model by name or path without loading it (see the module docstring).

    Raises:
        UnknownModelError: an unknown name (the message suggests the closest names).
        StoreError: a path that is not a model, or a magenta model not fetched yet.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = (text.endswith(".json") or os.sep in text or text.startswith(".")) \
        and not text.startswith(("google/", "magenta/"))
    if isinstance(name_or_path, os.PathLike) or path.exists() or looks_like_path:
        if not path.exists():
            raise StoreError(f"{text}: no such file or directory")
        return _path_source(path, text)
    if text.startswith("google/"):
        entry = catalog_entry(text[len("google/"):])
        cached = google_cache_path(entry.name)
        return ModelSource(f"google/{entry.name}", "js" if cached.is_file() else "google",
                           cached if cached.is_file() else None)
    if text.startswith("magenta/"):
        parts = [normalize_name(p) for p in text.split("/")[1:]]
        key = "magenta/" + "/".join(parts)
        found = magenta_models()
        if key in found:
            return ModelSource(key, "modeldir", found[key])
        if found:
            hint = closest_names(key, found)
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise UnknownModelError(f"unknown model {text!r}{extra}")
        raise StoreError(
            f"{text}: magenta's models are not in the cache ({cache_dir() / 'magenta'}); "
            "run `sketchart models fetch magenta` first")
    key = normalize_name(text)
    shipped = shipped_models()
    if key in shipped:
        return ModelSource(key, "modeldir", shipped[key])
    if key in catalog():
        cached = google_cache_path(key)
        return ModelSource(f"google/{key}", "js" if cached.is_file() else "google",
                           cached if cached.is_file() else None)
    pool = list(shipped) + list(catalog())
    hint = closest_names(key, pool)
    extra = f"; did you mean {', '.join(hint)}?" if hint else ""
    raise UnknownModelError(
        f"unknown model {text!r}: not a shipped model, a cached model or in Google's "
        f"catalog{extra} (`sketchart models list` shows them all)")


# ---------------------------------------------------------------------- loading
#: ``load_model(engine=...)``: ``numpy`` (default) gives the NumPy engine; ``keras`` the
#: Keras ``SketchRNN`` on the configured Keras backend; ``tensorflow`` / ``jax`` the Keras
#: model on that backend (``sketchart.generate.engines.use_engine``).
LOAD_ENGINES = ("numpy", "keras", "tensorflow", "jax")


def _local_source(name_or_path: str | os.PathLike[str], download: bool,
                  progress: bool) -> ModelSource:
    """``resolve``, then a catalog model downloaded (or found in the cache)."""
    source = resolve(name_or_path)
    if source.kind == "google":
        path = fetch_google(source.name, progress=progress, download=download)
        source = ModelSource(source.name, "js", path)
    return source


def load_model(name_or_path: str | os.PathLike[str], *, engine: str = "numpy",
               download: bool = True, progress: bool = False) -> NumpySketchRNN | SketchRNN:
    """Load a model by name or path, for the NumPy engine (default) or as Keras model.

    Args:
        name_or_path: a name (``flamingo``, ``google/cat``, ``magenta/owl/lstm``,
            ``sheep-uncond``) or a path (model directory, training log root, ``.gen.json``
            / ``.vae.json``, magenta checkpoint directory).
        engine: ``"numpy"`` (default): a
            :class:`~sketchart.generate.numpy_engine.NumpySketchRNN`, which draws without
            importing TensorFlow, Keras or JAX; ``"keras"``: the Keras
            :class:`~sketchart.nn.model.SketchRNN` (training, evaluation, export, the
            compiled samplers) on Keras' configured backend; ``"tensorflow"`` / ``"jax"``:
            the Keras model on that backend (set before Keras is imported). Every
            sampling function takes either model, and a seed draws the same drawing on each.
        download: allow downloading a catalog model that is not cached.
        progress: show download progress on stderr.

    Returns:
        The model, with ``model.meta`` (``scale_factor``, ``max_seq_len``, ``source``).
    """
    if engine not in LOAD_ENGINES:
        raise StoreError(
            f"unknown engine {engine!r}: expected one of {', '.join(LOAD_ENGINES)}")
    source = _local_source(name_or_path, download, progress)
    assert source.path is not None
    if engine == "numpy":
        return _load_numpy(source)
    if engine != "keras":
        from sketchart.generate.engines import use_engine

        use_engine(engine)
    return _load_keras(source)


def _damaged(source: ModelSource, exc: Exception) -> Exception:
    """A cached Google model damaged after its verified download: say how to replace it."""
    if source.name.startswith("google/"):
        return StoreError(f"{exc}; run `sketchart models fetch {source.name} --force` to "
                          "download it again")
    return exc


def _load_numpy(source: ModelSource) -> NumpySketchRNN:
    from sketchart.generate.numpy_engine import NumpySketchRNN
    from sketchart.jsformat import JSFormatError

    assert source.path is not None
    if source.kind == "js":
        try:
            return NumpySketchRNN.from_js(source.path, name=source.name)
        except JSFormatError as exc:
            raise _damaged(source, exc) from None
    if source.kind in ("modeldir", "logroot"):
        return NumpySketchRNN.from_model_dir(source.path)
    if source.kind == "checkpoint":
        # a raw magenta checkpoint: read through the Keras model (imports Keras);
        # `sketchart convert` makes it a model directory that loads without
        return NumpySketchRNN.from_keras(_model_from_checkpoint(source.path, source.name))
    raise StoreError(f"{source.name}: unsupported model source {source.kind!r}")


def _load_keras(source: ModelSource) -> SketchRNN:
    assert source.path is not None
    if source.kind == "js":
        from sketchart.jsformat import JSFormatError

        try:
            return model_from_js(source.path, name=source.name)
        except JSFormatError as exc:
            raise _damaged(source, exc) from None
    if source.kind in ("modeldir", "logroot"):
        from sketchart import modeldir

        return modeldir.load_model_dir(source.path)
    if source.kind == "checkpoint":
        return _model_from_checkpoint(source.path, source.name)
    raise StoreError(f"{source.name}: unsupported model source {source.kind!r}")


def _keras(model: NumpySketchRNN | SketchRNN) -> SketchRNN:
    from sketchart.generate.numpy_engine import NumpySketchRNN

    return model.to_keras() if isinstance(model, NumpySketchRNN) else model


def model_to_js(model: NumpySketchRNN | SketchRNN, name: str | None = None) -> JSModel:
    """:func:`sketchart.hub.jsmodels.model_to_js` of either engine's model."""
    return jsmodels.model_to_js(_keras(model), name)


def export_js(model: NumpySketchRNN | SketchRNN, path: str | os.PathLike[str],
              name: str | None = None) -> tuple[Path, int]:
    """:func:`sketchart.hub.jsmodels.export_js` of either engine's model (an LSTM model as
    ``.gen.json`` / ``.vae.json``; the NumPy engine's weights go through Keras)."""
    return jsmodels.export_js(_keras(model), path, name)


# ----------------------------------------------------------------------- listing
@dataclass(frozen=True)
class ModelListing:
    """One row of ``sketchart models list``."""

    name: str
    source: str  # shipped, google, magenta
    available: bool  # on disk (shipped or cached)
    path: Path | None
    size: int | None


def list_models() -> list[ModelListing]:
    """Shipped models, converted magenta models and Google's catalog (cached or not)."""
    rows = [ModelListing(name, "shipped", True, path, None)
            for name, path in shipped_models().items()]
    rows += [ModelListing(name, "magenta", True, path, None)
             for name, path in magenta_models().items()]
    for name, entry in catalog().items():
        cached = google_cache_path(name)
        rows.append(ModelListing(f"google/{name}", "google", cached.is_file(),
                                 cached if cached.is_file() else None, entry.bytes))
    return rows
