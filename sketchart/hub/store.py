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
``.vae.json`` files and magenta checkpoint directories. Every source loads into the same
:class:`~sketchart.nn.model.SketchRNN`, so every operation works on every source.

The cache is ``$SKETCHART_HOME``, else ``$XDG_CACHE_HOME/sketchart``, else
``~/.cache/sketchart``; it holds ``google/<name>.gen.json`` and
``magenta/<category>/<variant>/`` (model directories). Importing this module does not import
Keras; :func:`load_model` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from sketchart.hub.jsmodels import (
    _model_from_checkpoint,
    export_js,
    model_from_js,
    model_to_js,
)

__all__ = [
    "DEFAULT_MAGENTA_URL",
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
def load_model(name_or_path: str | os.PathLike[str], *, download: bool = True,
               progress: bool = False) -> Any:
    """Load a :class:`~sketchart.nn.model.SketchRNN` by name or path.

    Args:
        name_or_path: a name (``flamingo``, ``google/cat``, ``magenta/owl/lstm``,
            ``sheep-uncond``) or a path (model directory, training log root, ``.gen.json``
            / ``.vae.json``, magenta checkpoint directory).
        download: allow downloading a catalog model that is not cached.
        progress: show download progress on stderr.

    Returns:
        The model, with ``model.meta`` (``scale_factor``, ``max_seq_len``, ``source``).
    """
    source = resolve(name_or_path)
    if source.kind == "google":
        path = fetch_google(source.name, progress=progress, download=download)
        source = ModelSource(source.name, "js", path)
    assert source.path is not None
    if source.kind == "js":
        from sketchart.jsformat import JSFormatError

        try:
            return model_from_js(source.path, name=source.name)
        except JSFormatError as exc:
            if source.name.startswith("google/"):
                # a cached copy damaged after its verified download: say how to replace it
                raise StoreError(f"{exc}; run `sketchart models fetch {source.name} "
                                 "--force` to download it again") from None
            raise
    if source.kind in ("modeldir", "logroot"):
        from sketchart import modeldir

        return modeldir.load_model_dir(source.path)
    if source.kind == "checkpoint":
        return _model_from_checkpoint(source.path, source.name)
    raise StoreError(f"{source.name}: unsupported model source {source.kind!r}")


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
