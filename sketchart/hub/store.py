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

import hashlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.hub.catalog import (
    UnknownModelError,
    catalog,
    catalog_entry,
    closest_names,
    normalize_name,
)
from sketchart.util.download import CHUNK, FetchError, download_file

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
    "model_from_js",
    "model_to_js",
    "model_url",
    "resolve",
    "shipped_models",
]

#: Where Google serves the sketch-rnn-js models (``<base>/<name>.gen.json``).
DEFAULT_MODEL_URL = "https://storage.googleapis.com/quickdraw-models/sketchRNN/large_models"
#: magenta's archive of pretrained TF1 checkpoints.
DEFAULT_MAGENTA_URL = "http://download.magenta.tensorflow.org/models/sketch_rnn.zip"

_TIMEOUT = 60.0


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


# ---------------------------------------------------------------------- download
def _hint_download(url: str, target: Path) -> str:
    return (f"download it by hand (e.g. `curl -L -o {target} {url}`) or set "
            "SKETCHART_MODEL_URL to a mirror")


def _download(url: str, target: Path, *, label: str, sha256: str | None = None,
              size: int | None = None, progress: bool = False,
              hint: Callable[[str, Path], str] = _hint_download) -> Path:
    """Download ``url`` to ``target`` through a temporary file; verify; rename into place.

    A failed or mismatching download leaves ``target`` (and any older copy) untouched.
    """
    if not url.startswith(("http://", "https://", "file://")):
        raise StoreError(f"{label}: unsupported URL {url!r} (expected http(s)://)")
    try:
        return download_file(url, target, label=label, timeout=_TIMEOUT, sha256=sha256,
                             expect_bytes=size,
                             progress=progress and sys.stderr.isatty())  # for a person
    except FetchError as exc:
        if exc.kind == "http":
            raise StoreError(
                f"cannot download {label} from {url}: HTTP {exc.code} {exc.reason}; "
                f"{hint(url, target)}") from None
        if exc.kind == "sha256":
            raise StoreError(
                f"{label}: sha256 mismatch for {url} (got {exc.got[:16]}..., pinned "
                f"{(sha256 or '')[:16]}...): download rejected, cache untouched") from None
        reason = (f"truncated download: {exc.received} of {exc.total} bytes"
                  if exc.kind == "truncated" else exc.reason)
        raise StoreError(
            f"cannot download {label} from {url} ({reason}); offline? "
            f"{hint(url, target)}") from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_google(name: str, *, force: bool = False, progress: bool = False,
                 download: bool = True) -> Path:
    """The cached ``.gen.json`` of a Google catalog model, downloading it if needed.

    Args:
        name: catalog name (normalised; ``google/`` prefix allowed).
        force: download again even if a cached copy exists.
        progress: print a progress line on stderr.
        download: if False and nothing is cached, raise instead of downloading.

    Raises:
        UnknownModelError: not in the catalog (suggests the closest names).
        StoreError: download failed (offline: says how to get the file) or the sha256
            does not match (the download is rejected and the cache left as it was).
    """
    name = name.removeprefix("google/")
    entry = catalog_entry(name)
    target = google_cache_path(entry.name)
    if target.is_file() and not force:
        return target
    url = f"{model_url()}/{entry.filename}"
    if not download:
        raise StoreError(
            f"google/{entry.name} is not cached at {target}; run `sketchart models fetch "
            f"{entry.name}` or {_hint_download(url, target)}")
    return _download(url, target, label=f"google/{entry.name}", sha256=entry.sha256,
                     size=entry.bytes, progress=progress)


def _safe_members(zf: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    members = []
    for info in zf.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
            raise StoreError(f"{source}: unsafe path in archive: {info.filename!r}")
        members.append(info)
    return members


def fetch_magenta(*, url: str | None = None, progress: bool = False,
                  force: bool = False) -> list[str]:
    """Download magenta's pretrained checkpoints, convert each, store them in the cache.

    The archive holds ``<category>/<variant>/`` folders with ``checkpoint``,
    ``model_config.json`` and a checkpoint named ``vector``; each becomes the model
    directory ``<cache>/magenta/<category>/<variant>/``, loadable as
    ``magenta/<category>/<variant>``.

    Args:
        url: archive URL (default ``$SKETCHART_MAGENTA_URL`` or magenta's).
        progress: progress line on stderr.
        force: convert again models that are already in the cache.

    Returns:
        The names of the converted models.
    """
    from sketchart.hub import convert

    url = url or magenta_url()
    dest_root = cache_dir() / "magenta"
    dest_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".fetch-") as work:
        archive = Path(work) / "sketch_rnn.zip"

        def hint(u: str, t: Path) -> str:
            return ("download the zip by hand and serve it locally (set SKETCHART_MAGENTA_URL"
                    " to e.g. file:///path/sketch_rnn.zip)")

        _download(url, archive, label="magenta sketch_rnn.zip", progress=progress, hint=hint)
        unpacked = Path(work) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(unpacked, members=_safe_members(zf, url))
        except zipfile.BadZipFile:
            raise StoreError(f"{url}: not a zip archive (corrupt or truncated)") from None
        found = sorted(p.parent for p in unpacked.rglob("model_config.json")
                       if (p.parent / "checkpoint").is_file())
        if not found:
            raise StoreError(
                f"{url}: no <category>/<variant>/ folder with checkpoint and "
                "model_config.json in the archive")
        names = []
        for ckpt_dir in found:
            rel = ckpt_dir.relative_to(unpacked).parts
            if len(rel) < 2:
                raise StoreError(f"{url}: checkpoint folder {ckpt_dir.name!r} is not "
                                 "<category>/<variant>/")
            category, variant = normalize_name(rel[-2]), normalize_name(rel[-1])
            target = dest_root / category / variant
            name = f"magenta/{category}/{variant}"
            if _is_model_dir(target) and not force:
                names.append(name)
                continue
            hps = _read_hps(ckpt_dir / "model_config.json")
            convert.convert_checkpoint(ckpt_dir, target,
                                       scale_factor=_known_scale_factor(hps.data_set))
            names.append(name)
    return names


def _read_hps(path: Path) -> Any:
    from sketchart.hparams import HParams, HParamsError

    try:
        return HParams.from_json(path)
    except HParamsError as exc:
        raise StoreError(str(exc)) from None


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


# ------------------------------------------------------ sketch-rnn-js <-> SketchRNN
# jsformat names -> (role, key) of convert.weights_by_role / set_weights_by_role
_JS_ROLES = {
    "output_w": ("output", "W"), "output_b": ("output", "b"),
    "dec_W_xh": ("decoder", "W_xh"), "dec_W_hh": ("decoder", "W_hh"),
    "dec_bias": ("decoder", "bias"),
    "enc_fw_W_xh": ("encoder_fw", "W_xh"), "enc_fw_W_hh": ("encoder_fw", "W_hh"),
    "enc_fw_bias": ("encoder_fw", "bias"),
    "enc_bw_W_xh": ("encoder_bw", "W_xh"), "enc_bw_W_hh": ("encoder_bw", "W_hh"),
    "enc_bw_bias": ("encoder_bw", "bias"),
    "mu_w": ("mu", "W"), "mu_b": ("mu", "b"),
    "presig_w": ("presig", "W"), "presig_b": ("presig", "b"),
    "init_w": ("init_state", "W"), "init_b": ("init_state", "b"),
}


def _make_meta(**fields: Any) -> Any:
    from sketchart.modeldir import ModelMeta

    return ModelMeta(**fields)


def model_from_js(path: str | os.PathLike[str] | bytes, name: str | None = None) -> Any:
    """A SketchRNN holding a sketch-rnn-js model's (dequantised) weights.

    Args:
        path: a ``.gen.json`` / ``.vae.json`` file (or its bytes).
        name: what to call the model (metadata ``source`` and error messages).
    """
    from sketchart.hparams import HParams
    from sketchart.hub.convert import set_weights_by_role
    from sketchart.jsformat import read_js_model
    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    label = name or (str(path) if not isinstance(path, bytes) else "<bytes>")
    js = read_js_model(path, name=label if isinstance(path, bytes) else None)
    hps = HParams.from_dict(js.hparams_dict(), source=label)
    with weights_will_be_loaded():  # every weight comes from the file
        model = SketchRNN(hps)
    roles: dict[str, dict[str, Any]] = {}
    for wname, array in js.weights.items():
        role, key = _JS_ROLES[wname]
        roles.setdefault(role, {})[key] = array
    set_weights_by_role(model, roles)
    info_name = js.info.get("name")
    model.meta = _make_meta(
        scale_factor=js.scale_factor, max_seq_len=js.max_seq_len,
        data_set=list(hps.data_set),
        class_names=[info_name] if isinstance(info_name, str) and info_name else [],
        source="sketch-rnn-js")
    return model


def model_to_js(model: Any, name: str | None = None) -> Any:
    """The sketch-rnn-js form (:class:`~sketchart.jsformat.JSModel`) of an LSTM model.

    Raises:
        StoreError: the decoder (or, for a VAE, the encoder) is not an LSTM: the browser
            formats only know magenta's LSTM.
    """
    from sketchart.hub.convert import weights_by_role
    from sketchart.jsformat import GEN_NAMES, VAE_NAMES, JSModel

    hps = model.hps
    cells = [("dec_model", hps.dec_model)]
    if hps.conditional:
        cells.append(("enc_model", hps.enc_model))
    for key, cell in cells:
        if cell != "lstm":
            raise StoreError(
                f"cannot export a model with {key}={cell}: sketch-rnn-js files (.gen.json, "
                ".vae.json) only hold magenta's LSTM cells")
    roles = weights_by_role(model)
    names = VAE_NAMES if hps.conditional else GEN_NAMES
    weights = {n: np.asarray(roles[_JS_ROLES[n][0]][_JS_ROLES[n][1]], dtype=np.float32)
               for n in names}
    meta = getattr(model, "meta", None)
    scale = getattr(meta, "scale_factor", None) or 1.0
    max_len = getattr(meta, "max_seq_len", None) or hps.max_seq_len
    if name is None:
        classes = getattr(meta, "class_names", None) or []
        name = classes[0] if classes else Path(hps.data_set[0]).name.split(".")[0]
    info = {"mode": 1 if hps.conditional else 2, "version": 6,
            "max_seq_len": int(max_len), "name": name, "scale_factor": float(scale)}
    return JSModel(info=info, weights=weights)


def export_js(model: Any, path: str | os.PathLike[str], name: str | None = None
              ) -> tuple[Path, int]:
    """Write an LSTM model as ``.gen.json`` (decoder-only) or ``.vae.json`` (conditional).

    Returns:
        ``(path, clipped)``: the file written and how many weights were beyond +-10 and
        so clipped by the format's int16 quantisation.

    Raises:
        StoreError: a non-LSTM model, or a file name whose suffix does not match the model
            (``.gen.json`` for decoder-only, ``.vae.json`` for conditional).
    """
    from sketchart.jsformat import MAX_WEIGHT, write_js_model

    js = model_to_js(model, name)
    target = Path(path)
    want = f".{js.kind}.json"
    if not target.name.endswith(want):
        other = "decoder-only" if js.kind == "gen" else "conditional (VAE)"
        raise StoreError(f"{target}: a {other} model is written as *{want}")
    clipped = int(sum(np.count_nonzero(np.abs(w) > MAX_WEIGHT) for w in js.weights.values()))
    return write_js_model(target, js), clipped


def _model_from_checkpoint(path: Path, label: str) -> Any:
    """Load a magenta checkpoint directory directly (without writing a model directory)."""
    from sketchart.hparams import HParams, HParamsError
    from sketchart.hub.convert import load_reference_weights, read_checkpoint
    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    try:
        hps = HParams.from_json(path / "model_config.json")
    except HParamsError as exc:
        raise StoreError(str(exc)) from None
    with weights_will_be_loaded():
        model = SketchRNN(hps)
    load_reference_weights(model, read_checkpoint(path), source=label)
    model.meta = _make_meta(
        scale_factor=_known_scale_factor(hps.data_set), max_seq_len=hps.max_seq_len,
        data_set=list(hps.data_set),
        class_names=[Path(n).name.split(".")[0] for n in hps.data_set],
        source="magenta-checkpoint")
    return model


#: Normalising scale factors of datasets that magenta's checkpoints were trained on and
#: that magenta did not save (QuickDraw categories fall back to the
#: factor of Google's sketch-rnn-js model of the same category).
_KNOWN_SCALE_FACTORS = {"aaron_sheep": 18.5198}


def _known_scale_factor(data_set: list[str]) -> float | None:
    if len(data_set) != 1:
        return None
    stem = normalize_name(Path(data_set[0]).name.split(".")[0])
    if stem in _KNOWN_SCALE_FACTORS:
        return _KNOWN_SCALE_FACTORS[stem]
    entry = catalog().get(stem)
    return entry.scale_factor if entry else None


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


def verify_cached(name: str) -> bool:
    """True if the cached copy of a Google model matches its pinned sha256."""
    entry = catalog_entry(name.removeprefix("google/"))
    path = google_cache_path(entry.name)
    return path.is_file() and _sha256_file(path) == entry.sha256
