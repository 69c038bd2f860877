"""``sketchart gallery build``: resolve models and data, draw every entry, swap it into place.

The build never leaves a half-written gallery over a good one: every file is written into a
temporary directory beside the target (same file system), and only when every entry has
been drawn does that directory replace the gallery (a full build: two renames, the old
gallery restored if the second fails) or its files replace their namesakes one by one with
``os.replace`` (``--only``: each file atomically, ``index.json`` and ``index.html`` last).
Models and data are all checked before the first drawing, so a missing one fails at once
with one line that says which and how to get it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.gallery.spec import (
    DATA_KINDS,
    GALLERY,
    VAE_KINDS,
    GalleryEntry,
    select_entries,
    validate_spec,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_GOOGLE_DIR",
    "INDEX_JSON",
    "BuildReport",
    "GalleryError",
    "ModelRef",
    "build_gallery",
    "default_data_dir",
    "default_google_dir",
    "geometry_summary",
    "parse_model_overrides",
    "resolve_model",
]

#: Where the test drawings are read from by default, relative to the working directory
#: (the repository root): the shared data beside the checkout. ``$SKETCHART_DATA_DIR`` and
#: ``--data-dir`` override it.
DEFAULT_DATA_DIR = Path("..", "shared", "data", "sketchrnn")
#: The gallery's manifest: every entry's record, in table order.
INDEX_JSON = "index.json"
#: Files a full build carries over from the gallery it replaces (not made by the build).
_KEEP = ("README.md", ".gitignore", ".gitattributes")
_SUFFIXES = ("svg", "png", "json", "gcode")


class GalleryError(SketchartError):
    """A gallery that cannot be built: a model or data missing, an unwritable folder."""


#: Where Google's ``<name>.gen.json`` files are looked for when they are not in the user
#: cache: the shared copies beside the checkout. ``$SKETCHART_GOOGLE_DIR`` and
#: ``--google-dir`` override it.
DEFAULT_GOOGLE_DIR = Path("..", "shared", "models", "sketch-rnn-js")


def default_data_dir() -> Path:
    """``$SKETCHART_DATA_DIR``, else :data:`DEFAULT_DATA_DIR`."""
    env = os.environ.get("SKETCHART_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


def default_google_dir() -> Path:
    """``$SKETCHART_GOOGLE_DIR``, else :data:`DEFAULT_GOOGLE_DIR`."""
    env = os.environ.get("SKETCHART_GOOGLE_DIR")
    return Path(env) if env else DEFAULT_GOOGLE_DIR


def _rel(path: Path | str) -> str:
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


# ------------------------------------------------------------------------ models
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
            f"{name} (not shipped in models/{name} yet: train it, see training/README.md, "
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
    from sketchart import store
    from sketchart.catalog import catalog_entry, normalize_name

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
        label = src.name if src.name.startswith("google/") else _rel(src.path)
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
                f"{_rel(path)}: sha256 differs from Google's {key}.gen.json pinned in the "
                f"catalog ({pinned[:16]}...); remove it or run `sketchart models fetch {key}`"
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
    from sketchart.ship import dataset_info

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


def _model_record(ref: ModelRef, model: Any) -> dict[str, Any]:
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


# -------------------------------------------------------------------------- data
def _check_data(entries: Sequence[GalleryEntry], data_dir: Path) -> None:
    needing = [e for e in entries if e.kind in DATA_KINDS]
    if not needing:
        return
    files = sorted({str(e.data) for e in needing})
    if not data_dir.is_dir():
        raise GalleryError(
            f"data directory {_rel(data_dir)} not found: entries "
            f"{', '.join(e.name for e in needing)} draw test drawings from "
            f"{', '.join(files)}; pass --data-dir DIR or set SKETCHART_DATA_DIR"
        )
    for e in needing:
        if not (data_dir / str(e.data)).is_file():
            raise GalleryError(
                f"{_rel(data_dir / str(e.data))} not found: gallery entry {e.name} draws test "
                f"drawings from it; pass --data-dir DIR holding {e.data}"
            )


# ----------------------------------------------------------------------- geometry
def geometry_summary(document: Any) -> dict[str, Any]:
    """Layers, paths, points and a hash of the coordinates rounded to 0.01 px: equal
    hashes mean the same drawing."""
    digest = hashlib.sha256()
    paths = points = 0
    for layer_id in sorted(document.layers):
        digest.update(f"layer {layer_id};".encode())
        for line in document.layers[layer_id]:
            xy = np.round(np.stack([line.real, line.imag], axis=1) * 100.0).astype(np.int64)
            digest.update(xy.tobytes())
            digest.update(b"|")
            paths += 1
            points += len(line)
    return {
        "layers": len(document.layers),
        "paths": paths,
        "points": points,
        "sha256": digest.hexdigest(),
    }


# -------------------------------------------------------------------------- build
@dataclass
class BuildReport:
    """What a build did: the gallery folder, the entries drawn (and those skipped for a
    missing model), and their seconds."""

    out: Path
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0


def _command(
    entry: GalleryEntry,
    ref: ModelRef,
    data_dir: Path | None,
    google_dir: Path | None,
    out: Path,
) -> str:
    parts = ["sketchart", "gallery", "build", "--only", entry.name]
    if _rel(out) != "gallery":
        parts += ["--out", _rel(out)]
    if ref.override is not None:
        value = _rel(ref.override) if Path(ref.override).exists() else ref.override
        parts += ["--model", f"{ref.name}={value}"]
    if entry.kind in DATA_KINDS and data_dir is not None:
        parts += ["--data-dir", _rel(data_dir)]
    if (
        google_dir is not None
        and ref.label.startswith("google/")
        and ref.override is None
        and Path(google_dir) in ref.path.parents
    ):
        parts += ["--google-dir", _rel(google_dir)]
    return " ".join(parts)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GalleryError(f"cannot build the gallery in {_rel(out)}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / INDEX_JSON).is_file():
        extra = [p.name for p in out.iterdir() if p.name not in _KEEP]
        if extra:
            raise GalleryError(
                f"refusing to replace {_rel(out)}: it holds files but no {INDEX_JSON}, so it "
                "is not a gallery built by sketchart; choose another --out or empty it"
            )


def _remove_stale(out: Path) -> None:
    """Remove what killed builds left beside ``out`` (their folders name their process;
    a build still running keeps its own)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(build|old)-(\d+)-")
    for path in out.parent.iterdir():
        match = pattern.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _make_tmp(out: Path) -> Path:
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise GalleryError(
            f"cannot write the gallery to {_rel(out)}: {_rel(parent)} is not a directory"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.build-{os.getpid()}-", dir=parent))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GalleryError(
            f"cannot write the gallery to {_rel(out)}: {reason} ({_rel(parent)})"
        ) from None


def _read_index(out: Path) -> list[dict[str, Any]]:
    path = out / INDEX_JSON
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data["entries"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GalleryError(
            f"{_rel(path)}: not a gallery index ({exc}); rebuild the whole "
            "gallery without --only"
        ) from None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_entry(
    entry: GalleryEntry,
    model: Any,
    ref: ModelRef,
    test: Any,
    tmp: Path,
    command: str,
    versions: dict[str, str],
) -> dict[str, Any]:
    from sketchart.gallery.kinds import BUILDERS
    from sketchart.gallery.sheet import render_png, write_svg

    result = BUILDERS[entry.kind](entry, model, test)
    files = {"svg": f"{entry.name}.svg", "png": f"{entry.name}.png"}
    write_svg(result.document, tmp / files["svg"], source=command)
    width, height = render_png(result.document, tmp / files["png"], width=result.png_width)
    for suffix, text in result.files.items():
        files[suffix] = f"{entry.name}.{suffix}"
        (tmp / files[suffix]).write_text(text, encoding="utf-8")
    files["json"] = f"{entry.name}.json"
    record = {
        "name": entry.name,
        "kind": entry.kind,
        "title": entry.title,
        "caption": entry.caption,
        "command": command,
        **_model_record(ref, model),
        "seed": entry.seed,
        "temperature": entry.temperature,
        "temperatures": list(entry.temperatures),
        "params": entry.all_params(),
        "data": ({"file": entry.data, "split": "test"} if entry.kind in DATA_KINDS else None),
        **result.info,
        "files": files,
        "png_size": [width, height],
        "geometry": geometry_summary(result.document),
        **versions,
    }
    _write_json(tmp / files["json"], record)
    return record


def _versions() -> dict[str, str]:
    import keras

    from sketchart import __version__

    return {
        "sketchart_version": __version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
    }


def build_gallery(
    out: str | os.PathLike[str] = "gallery",
    *,
    only: Sequence[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    models: Mapping[str, str] | None = None,
    google_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    skip_missing: bool = False,
    entries: Sequence[GalleryEntry] = GALLERY,
    echo: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build the gallery (or the entries named in ``only``) into ``out``.

    Args:
        out: the gallery folder (replaced at the end of a full build).
        only: entry names to rebuild; the others stay as they are.
        data_dir: folder of the ``.npz`` data sets (default :func:`default_data_dir`).
        models: ``{spec name: name or path}`` replacing the spec's models.
        google_dir: a folder of ``<name>.gen.json`` files for Google's models that are not
            in the user cache (default :func:`default_google_dir`; each file must match
            the catalog's sha256).
        download: download Google's models that are not cached.
        skip_missing: leave out the entries whose model is missing instead of failing;
            they keep what the gallery already holds for them.
        entries: the spec (default :data:`~sketchart.gallery.spec.GALLERY`).
        echo: progress lines (default: none).

    Returns:
        A :class:`BuildReport`.

    Raises:
        GalleryError: a model or data set missing, an unwritable output folder; nothing in
            ``out`` is changed then, nor when drawing an entry fails.
    """
    from sketchart.gallery.index import write_index

    say = echo or (lambda _line: None)
    t_start = time.perf_counter()
    out = Path(out)
    validate_spec(entries)
    selected = select_entries(entries, only)
    overrides = dict(models or {})
    unknown = sorted(set(overrides) - {e.model for e in entries})
    if unknown:
        raise GalleryError(
            f"--model {unknown[0]}=...: no gallery entry uses a model named "
            f"{unknown[0]!r} (models: {', '.join(sorted({e.model for e in entries}))})"
        )
    google_explicit = google_dir is not None
    gdir = Path(google_dir) if google_dir is not None else default_google_dir()
    data_explicit = data_dir is not None
    ddir = Path(data_dir) if data_dir is not None else default_data_dir()

    # everything an entry needs is checked before anything is drawn
    refs: dict[str, ModelRef] = {}
    missing: dict[str, str] = {}
    for e in selected:
        if e.model in refs or e.model in missing:
            continue
        try:
            refs[e.model] = resolve_model(
                e.model, e.source, overrides=overrides, google_dir=gdir, download=download
            )
        except GalleryError as exc:
            if not str(exc).startswith("model missing: "):
                raise
            missing[e.model] = str(exc).removeprefix("model missing: ")
    report = BuildReport(out)
    if missing:
        text = f"model{'s' if len(missing) > 1 else ''} missing: " + "; ".join(
            missing.values()
        )
        if not skip_missing or all(e.model in missing for e in selected):
            raise GalleryError(text)
        report.skipped = [e.name for e in selected if e.model in missing]
        selected = [e for e in selected if e.model not in missing]
        say(f"skipping {', '.join(report.skipped)}: {text}")
    _check_data(selected, ddir)
    _check_out(out)
    previous = _read_index(out) if only or report.skipped else []
    uses_data = any(e.kind in DATA_KINDS for e in selected)
    say(
        f"building {len(selected)} entr{'y' if len(selected) == 1 else 'ies'} into {_rel(out)}"
        + (f" (test drawings from {_rel(ddir)})" if uses_data else "")
    )

    from sketchart.data import load_npz
    from sketchart.store import load_model

    tmp = _make_tmp(out)
    try:
        loaded: dict[str, Any] = {}
        for e in selected:
            if e.model not in loaded:
                loaded[e.model] = load_model(refs[e.model].path)
            if e.kind in VAE_KINDS and not loaded[e.model].hps.conditional:
                raise GalleryError(
                    f"gallery entry {e.name!r} ({e.kind}) needs a conditional (VAE) model; "
                    f"{e.model} ({refs[e.model].label}) is decoder-only"
                )
        versions = _versions()
        tests: dict[str, list[np.ndarray]] = {}
        records = []
        for i, e in enumerate(selected, start=1):
            t0 = time.perf_counter()
            test = None
            if e.kind in DATA_KINDS:
                if e.data not in tests:
                    tests[str(e.data)] = load_npz(ddir / str(e.data)).test
                test = tests[str(e.data)]
            command = _command(
                e,
                refs[e.model],
                ddir if data_explicit else None,
                gdir if google_explicit else None,
                out,
            )
            records.append(
                _build_entry(e, loaded[e.model], refs[e.model], test, tmp, command, versions)
            )
            report.built.append(e.name)
            report.seconds[e.name] = time.perf_counter() - t0
            say(
                f"[{i}/{len(selected)}] {e.name}: {e.kind}, {e.model} "
                f"({report.seconds[e.name]:.1f} s)"
            )
        rebuilt = {r["name"] for r in records}
        # entries not drawn now keep their previous record (and files)
        keep = set(report.skipped) if not only else {e.name for e in entries} - rebuilt
        by_name = {r["name"]: r for r in previous if r.get("name") in keep}
        if not (only and out.is_dir()):  # a new folder: carry the kept entries' files over
            _carry_files(out, tmp, list(by_name.values()))
        by_name.update({r["name"]: r for r in records})
        ordered = [by_name[e.name] for e in entries if e.name in by_name]
        _write_json(
            tmp / INDEX_JSON,
            {"sketchart_version": versions["sketchart_version"], "entries": ordered},
        )
        write_index(tmp, ordered)
        if only and out.is_dir():
            _replace_files(tmp, out, rebuilt)
        else:
            _swap_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.total_seconds = time.perf_counter() - t_start
    return report


def _carry_files(out: Path, tmp: Path, records: Sequence[dict[str, Any]]) -> None:
    for record in records:
        for name in dict(record.get("files", {})).values():
            if Path(name).name == name and (out / name).is_file():
                shutil.copy2(out / name, tmp / name)


def _replace_files(tmp: Path, out: Path, rebuilt: set[str]) -> None:
    """``--only``: each new file replaces its namesake atomically; the index goes last."""
    index_files = {INDEX_JSON, "index.html"}
    made = {p.name for p in tmp.iterdir()}
    for name in sorted(made - index_files):
        os.replace(tmp / name, out / name)
    for entry in rebuilt:  # outputs an entry no longer makes (e.g. a kind changed)
        for suffix in _SUFFIXES:
            stale = out / f"{entry}.{suffix}"
            if stale.name not in made:
                stale.unlink(missing_ok=True)
    for name in sorted(index_files):
        os.replace(tmp / name, out / name)


def _swap_dir(tmp: Path, out: Path) -> None:
    """Full build: the new folder takes the old one's place (kept files carried over)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    for name in _KEEP:
        if (out / name).is_file() and not (tmp / name).exists():
            shutil.copy2(out / name, tmp / name)
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    old.rmdir()
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)  # put the good gallery back
        raise
    shutil.rmtree(old, ignore_errors=True)
