"""Pretrained models fetched into the cache: Google's sketch-rnn-js models (verified against
their pinned sha256) and magenta's checkpoint archive (converted on arrival)."""

from __future__ import annotations

import hashlib
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from sketchart.hub.cache import (
    StoreError,
    _is_model_dir,
    _read_hps,
    cache_dir,
    google_cache_path,
    magenta_url,
    model_url,
)
from sketchart.hub.catalog import (
    catalog_entry,
    normalize_name,
)
from sketchart.hub.jsmodels import _known_scale_factor
from sketchart.util.download import CHUNK, FetchError, download_file

__all__ = ["fetch_google", "fetch_magenta", "verify_cached"]


_TIMEOUT = 60.0


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
        if exc.kind in ("size", "deadline"):
            raise StoreError(f"cannot download {label} from {url}: {exc.reason}; "
                             f"{hint(url, target)}") from None
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


def verify_cached(name: str) -> bool:
    """True if the cached copy of a Google model matches its pinned sha256."""
    entry = catalog_entry(name.removeprefix("google/"))
    path = google_cache_path(entry.name)
    return path.is_file() and _sha256_file(path) == entry.sha256
