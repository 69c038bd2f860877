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
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.gallery.folders import (
    INDEX_JSON,
    carry_files,
    check_out,
    make_tmp,
    replace_files,
    swap_dir,
)
from tools.gallery.models import (
    DEFAULT_GOOGLE_DIR,
    GalleryError,
    ModelRef,
    default_google_dir,
    model_record,
    parse_model_overrides,
    relative_path,
    resolve_model,
)
from tools.gallery.spec import (
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


def default_data_dir() -> Path:
    """``$SKETCHART_DATA_DIR``, else :data:`DEFAULT_DATA_DIR`."""
    env = os.environ.get("SKETCHART_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR


# -------------------------------------------------------------------------- data
def _check_data(entries: Sequence[GalleryEntry], data_dir: Path) -> None:
    needing = [e for e in entries if e.kind in DATA_KINDS]
    if not needing:
        return
    files = sorted({str(e.data) for e in needing})
    if not data_dir.is_dir():
        raise GalleryError(
            f"data directory {relative_path(data_dir)} not found: entries "
            f"{', '.join(e.name for e in needing)} draw test drawings from "
            f"{', '.join(files)}; pass --data-dir DIR or set SKETCHART_DATA_DIR"
        )
    for e in needing:
        if not (data_dir / str(e.data)).is_file():
            raise GalleryError(
                f"{relative_path(data_dir / str(e.data))} not found: gallery entry {e.name} "
                f"draws test drawings from it; pass --data-dir DIR holding {e.data}"
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
    if relative_path(out) != "gallery":
        parts += ["--out", relative_path(out)]
    if ref.override is not None:
        value = relative_path(ref.override) if Path(ref.override).exists() else ref.override
        parts += ["--model", f"{ref.name}={value}"]
    if entry.kind in DATA_KINDS and data_dir is not None:
        parts += ["--data-dir", relative_path(data_dir)]
    if (
        google_dir is not None
        and ref.label.startswith("google/")
        and ref.override is None
        and Path(google_dir) in ref.path.parents
    ):
        parts += ["--google-dir", relative_path(google_dir)]
    return " ".join(parts)


def _read_index(out: Path) -> list[dict[str, Any]]:
    path = out / INDEX_JSON
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data["entries"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GalleryError(
            f"{relative_path(path)}: not a gallery index ({exc}); rebuild the whole "
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
    from tools.gallery.kinds import BUILDERS
    from tools.gallery.sheet import render_png, write_svg

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
        **model_record(ref, model),
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
        entries: the spec (default :data:`~tools.gallery.spec.GALLERY`).
        echo: progress lines (default: none).

    Returns:
        A :class:`BuildReport`.

    Raises:
        GalleryError: a model or data set missing, an unwritable output folder; nothing in
            ``out`` is changed then, nor when drawing an entry fails.
    """
    from tools.gallery.index import write_index

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
    check_out(out)
    previous = _read_index(out) if only or report.skipped else []
    uses_data = any(e.kind in DATA_KINDS for e in selected)
    noun = "entry" if len(selected) == 1 else "entries"
    say(
        f"building {len(selected)} {noun} into {relative_path(out)}"
        + (f" (test drawings from {relative_path(ddir)})" if uses_data else "")
    )

    from sketchart.data.datasets import load_npz
    from sketchart.hub.store import load_model

    tmp = make_tmp(out)
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
            carry_files(out, tmp, list(by_name.values()))
        by_name.update({r["name"]: r for r in records})
        ordered = [by_name[e.name] for e in entries if e.name in by_name]
        _write_json(
            tmp / INDEX_JSON,
            {"sketchart_version": versions["sketchart_version"], "entries": ordered},
        )
        write_index(tmp, ordered)
        if only and out.is_dir():
            replace_files(tmp, out, rebuilt)
        else:
            swap_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.total_seconds = time.perf_counter() - t_start
    return report
