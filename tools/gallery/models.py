"""The gallery's models: find what a spec entry names, and what its JSON says about it.

Shipped models come from ``models/`` only; Google's sketch-rnn-js models from the user cache,
then a folder of ``.gen.json`` files checked against the catalog's sha256, then a download
when allowed; ``--model NAME=PATH`` replaces either. Nothing here loads a model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError

__all__ = [
    "DEFAULT_GOOGLE_DIR",
    "GalleryError",
    "ModelRef",
    "default_google_dir",
    "model_record",
    "parse_model_overrides",
    "relative_path",
    "resolve_model",
]


class GalleryError(SketchartError):
    """A gallery that cannot be built: a model or data missing, an unwritable folder."""


#: Where Google's ``<name>.gen.json`` files are looked for when they are not in the user
#: cache: the shared copies beside the checkout. ``$SKETCHART_GOOGLE_DIR`` and
#: ``--google-dir`` override it.
DEFAULT_GOOGLE_DIR = Path("..", "shared", "models", "sketch-rnn-js")


def default_google_dir() -> Path:
    """``$SKETCHART_GOOGLE_DIR``, else :data:`DEFAULT_GOOGLE_DIR`."""
    env = os.environ.get("SKETCHART_GOOGLE_DIR")
    return Path(env) if env else DEFAULT_GOOGLE_DIR


def relative_path(path: Path | str) -> str:
    """A path as the JSON and commands record it: relative to the working directory, so no
    machine's absolute paths end up in committed files."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        return Path(text).as_posix()
    try:
        return Path(os.path.relpath(text)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(text).name


def parse_model_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["sheep=training/sheep", ...]`` -> ``{"sheep": "training/sheep"}``.

    Raises:
        GalleryError: an item without ``NAME=PATH``.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise GalleryError(
                f"--model {item!r}: expected NAME=PATH (e.g. sheep=training/sheep)"
            )
        out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class ModelRef:
    """A model of the spec, found on disk.

    Attributes:
        name: the name the spec uses (``sheep``).
        path: what to load (model directory, log root's ``best/``, ``.gen.json``).
        label: where it came from, for the JSON (``models/sheep``, ``google/flamingo``).
        override: the ``--model`` value when one replaced the spec's model.
    """

    name: str
    path: Path
    label: str
    override: str | None = None


def _missing_hint(name: str, source: str) -> str:
    if source == "shipped":
        return (
            f"{name} (not shipped in models/{name}: restore it from the repository, "
            f"or pass --model {name}=PATH to a model directory or training log root)"
        )
    return (
        f"{name} (Google's model is not cached: run `sketchart models fetch {name}`, "
        f"or pass --google-dir DIR holding {name}.gen.json, or --download)"
    )


def resolve_model(
    name: str,
    source: str,
    *,
    overrides: Mapping[str, str] | None = None,
    google_dir: Path | None = None,
    download: bool = False,
) -> ModelRef:
    """Find the model an entry names, without loading it.

    ``shipped`` models come only from ``models/`` (a bare ``sheep`` must not fall through to
    Google's sheep); ``google`` models from the user cache, then ``google_dir`` (default
    :func:`default_google_dir`), then a download when allowed. ``overrides`` (``--model
    NAME=PATH``, a path or any name the store resolves) win over both.

    Raises:
        GalleryError: the model is missing; the message says how to get it.
    """
    from sketchart.hub import store
    from sketchart.hub.catalog import catalog_entry, normalize_name

    overrides = overrides or {}
    if name in overrides:
        value = overrides[name]
        try:
            src = store.resolve(value)
        except SketchartError as exc:
            raise GalleryError(f"--model {name}={value}: {exc}") from None
        if src.path is None:  # a catalog name not cached yet
            path = store.fetch_google(src.name, download=download)
            return ModelRef(name, path, src.name, value)
        label = src.name if src.name.startswith("google/") else relative_path(src.path)
        return ModelRef(name, src.path, label, value)
    key = normalize_name(name)
    if source == "shipped":
        shipped = store.shipped_models()
        if key not in shipped:
            raise GalleryError(f"model missing: {_missing_hint(name, source)}")
        return ModelRef(name, shipped[key], f"models/{shipped[key].name}")
    cached = store.google_cache_path(key)
    if cached.is_file():
        return ModelRef(name, cached, f"google/{key}")
    google_dir = Path(google_dir) if google_dir is not None else default_google_dir()
    if (google_dir / f"{key}.gen.json").is_file():
        path = google_dir / f"{key}.gen.json"
        # the same file as Google's pinned download, or not used at all
        pinned = catalog_entry(key).sha256
        if _sha256(path) != pinned:
            raise GalleryError(
                f"{relative_path(path)}: sha256 differs from Google's {key}.gen.json "
                f"pinned in the catalog ({pinned[:16]}...); remove it or run "
                f"`sketchart models fetch {key}`"
            )
        return ModelRef(name, path, f"google/{key}")
    if download:
        try:
            return ModelRef(name, store.fetch_google(key, progress=True), f"google/{key}")
        except SketchartError as exc:
            raise GalleryError(f"model {name}: {exc}") from None
    raise GalleryError(f"model missing: {_missing_hint(name, source)}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_file(path: Path) -> Path:
    if path.is_file():
        return path
    from sketchart.modeldir import resolve_model_dir

    return resolve_model_dir(path) / "model.weights.h5"


def _data_licences(data_set: Sequence[str]) -> list[dict[str, Any]] | None:
    """Source and licence of a model's training data (None when unknown)."""
    from tools.licences import dataset_info

    try:
        infos = dataset_info(list(data_set))
    except SketchartError:
        return None
    return [
        {
            "data": info.key,
            "licence": info.licence,
            "licence_url": info.licence_url,
            "non_commercial": info.non_commercial,
        }
        for info in infos
    ] or None


def model_record(ref: ModelRef, model: Any) -> dict[str, Any]:
    meta = getattr(model, "meta", None)
    hps = model.hps
    return {
        "model": ref.name,
        "model_source": ref.label,
        "model_format": getattr(meta, "source", None),
        "model_sha256": _sha256(_weights_file(ref.path)),
        "model_steps": getattr(meta, "steps", None),
        # the held-out losses the model directory records (none for Google's models)
        "model_test": getattr(meta, "test", None),
        # the drawings inherit the training data's licence (aaron_sheep: non-commercial)
        "data_licences": _data_licences(hps.data_set),
        "model_hparams": {
            "conditional": bool(hps.conditional),
            "dec_model": hps.dec_model,
            "dec_rnn_size": int(hps.dec_rnn_size),
            **(
                {
                    "enc_model": hps.enc_model,
                    "enc_rnn_size": int(hps.enc_rnn_size),
                    "z_size": int(hps.z_size),
                }
                if hps.conditional
                else {}
            ),
            "num_mixture": int(hps.num_mixture),
            "max_seq_len": int(getattr(meta, "max_seq_len", None) or hps.max_seq_len),
        },
    }
