"""Where models live: the user cache (``$SKETCHART_HOME``, else ``$XDG_CACHE_HOME/sketchart``,
else ``~/.cache/sketchart``), the shipped ``models/`` folder, and the download URLs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.hub.catalog import (
    normalize_name,
)

__all__ = [
    "DEFAULT_MAGENTA_URL",
    "DEFAULT_MODEL_URL",
    "StoreError",
    "cache_dir",
    "google_cache_path",
    "magenta_models",
    "magenta_url",
    "model_url",
    "shipped_models",
]


#: Where Google serves the sketch-rnn-js models (``<base>/<name>.gen.json``).
DEFAULT_MODEL_URL = "https://storage.googleapis.com/quickdraw-models/sketchRNN/large_models"


#: magenta's archive of pretrained TF1 checkpoints.
DEFAULT_MAGENTA_URL = "http://download.magenta.tensorflow.org/models/sketch_rnn.zip"


class StoreError(SketchartError):
    """A model that cannot be found, downloaded, verified or loaded."""


# ----------------------------------------------------------------------- places
def cache_dir() -> Path:
    """The per-user model cache (not created here)."""
    home = os.environ.get("SKETCHART_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sketchart"


def model_url() -> str:
    """Base URL of Google's models (``$SKETCHART_MODEL_URL`` overrides)."""
    return os.environ.get("SKETCHART_MODEL_URL", DEFAULT_MODEL_URL).rstrip("/")


def magenta_url() -> str:
    """URL of magenta's checkpoint archive (``$SKETCHART_MAGENTA_URL`` overrides)."""
    return os.environ.get("SKETCHART_MAGENTA_URL", DEFAULT_MAGENTA_URL)


def _shipped_root() -> Path | None:
    """The folder of shipped models: ``$SKETCHART_MODELS_DIR`` when set (None if it is not
    a folder), else the package's own."""
    override = os.environ.get("SKETCHART_MODELS_DIR")
    if override:
        root = Path(override).expanduser()
        return root if root.is_dir() else None
    # installed wheels carry models/ as sketchart/_models; a source checkout has models/
    package = Path(__file__).resolve().parents[1]
    for root in (package / "_models", package.parent / "models"):
        if root.is_dir():
            return root
    return None


def _is_model_dir(path: Path) -> bool:
    from sketchart.modeldir import is_model_dir

    return is_model_dir(path)


def shipped_models() -> dict[str, Path]:
    """Models shipped with the package: normalised name -> model directory."""
    root = _shipped_root()
    if root is None:
        return {}
    found = {}
    for child in sorted(root.iterdir()):
        if child.is_dir() and _is_model_dir(child):
            found[normalize_name(child.name)] = child
    return found


def magenta_models() -> dict[str, Path]:
    """Converted magenta checkpoints in the cache: ``magenta/<cat>/<variant>`` -> directory."""
    root = cache_dir() / "magenta"
    found = {}
    if root.is_dir():
        for cat in sorted(p for p in root.iterdir() if p.is_dir()):
            for var in sorted(p for p in cat.iterdir() if p.is_dir()):
                if _is_model_dir(var):
                    found[f"magenta/{cat.name}/{var.name}"] = var
    return found


def google_cache_path(name: str) -> Path:
    return cache_dir() / "google" / f"{name}.gen.json"


def _read_hps(path: Path) -> Any:
    from sketchart.hparams import HParams, HParamsError

    try:
        return HParams.from_json(path)
    except HParamsError as exc:
        raise StoreError(str(exc)) from None
