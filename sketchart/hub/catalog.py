"""Google's published sketch-rnn-js models: the project's pinned catalog.

``sketchart/resources/catalog.tsv`` lists every decoder-only ("gen") model Google serves at
``<base>/<name>.gen.json``, with its size in bytes and its sha256, so a download can be
verified before it is trusted. This module reads that table and normalises category names
("The Mona Lisa" -> ``the_mona_lisa``). NumPy-free, Keras-free (layer L1).
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sketchart.errors import SketchartError

__all__ = [
    "CatalogEntry",
    "UnknownModelError",
    "catalog",
    "catalog_entry",
    "closest_names",
    "normalize_name",
]


class UnknownModelError(SketchartError):
    """A model or category name that no source knows."""


@dataclass(frozen=True)
class CatalogEntry:
    """One published model: where to get it and how to check it."""

    name: str
    bytes: int
    sha256: str
    max_seq_len: int
    scale_factor: float
    mode: str

    @property
    def filename(self) -> str:
        """File name on Google's server and in the cache."""
        return f"{self.name}.gen.json"


_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_name(name: str) -> str:
    """Normalise a category name: lowercase, spaces and hyphens become underscores.

    Args:
        name: a user-typed category, e.g. ``"The Mona Lisa"`` or ``"palm-tree"``.

    Returns:
        The catalog spelling, e.g. ``"the_mona_lisa"``, ``"palm_tree"``.
    """
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


@lru_cache(maxsize=1)
def catalog() -> dict[str, CatalogEntry]:
    """The pinned catalog, name -> entry, in the file's order."""
    text = resources.files("sketchart").joinpath("resources", "catalog.tsv").read_text(
        encoding="utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    entries: dict[str, CatalogEntry] = {}
    for row in rows:
        entry = CatalogEntry(
            name=row["name"],
            bytes=int(row["bytes"]),
            sha256=row["sha256"].lower(),
            max_seq_len=int(row["max_seq_len"]),
            scale_factor=float(row["scale_factor"]),
            mode=row["mode"],
        )
        entries[entry.name] = entry
    return entries


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates closest to ``name`` (for "did you mean" messages)."""
    pool = sorted(set(candidates))
    # substrings first: "mona" -> the_mona_lisa, which difflib's ratio ranks below "monkey"
    found = [c for c in pool if name and name in c]
    for c in difflib.get_close_matches(name, pool, n=n, cutoff=0.6):
        if c not in found:
            found.append(c)
    return found[:n]


def catalog_entry(name: str) -> CatalogEntry:
    """The catalog entry for a category name (normalised first).

    Raises:
        UnknownModelError: no such model; the message suggests the closest names.
    """
    key = normalize_name(name)
    entries = catalog()
    if key in entries:
        return entries[key]
    hint = closest_names(key, entries)
    suggestion = f"; did you mean {', '.join(hint)}?" if hint else ""
    raise UnknownModelError(
        f"unknown model {name!r}: not in Google's catalog of {len(entries)} models"
        f"{suggestion} (`sketchart models list` shows them all)")
