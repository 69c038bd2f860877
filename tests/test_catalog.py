"""The pinned catalog of Google's sketch-rnn-js models and name normalisation."""

from __future__ import annotations

import csv
import hashlib

import pytest
from conftest import shared_path

from sketchart.errors import SketchartError
from sketchart.hub.catalog import (
    UnknownModelError,
    catalog,
    catalog_entry,
    closest_names,
    normalize_name,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("The Mona Lisa", "the_mona_lisa"),
        ("  Palm-Tree ", "palm_tree"),
        ("sea  turtle", "sea_turtle"),
        ("flamingo", "flamingo"),
        ("sheep-uncond", "sheep_uncond"),
    ],
)
def test_normalize_name(typed: str, expected: str) -> None:
    assert normalize_name(typed) == expected


def test_catalog_has_every_published_model() -> None:
    entries = catalog()
    assert len(entries) == 113
    flamingo = entries["flamingo"]
    assert flamingo.max_seq_len == 105
    assert flamingo.scale_factor == pytest.approx(72.0492)
    assert len(flamingo.sha256) == 64 and int(flamingo.sha256, 16) >= 0
    assert flamingo.filename == "flamingo.gen.json"
    assert all(e.bytes > 1_000_000 for e in entries.values())


def test_catalog_matches_shared_metadata() -> None:
    path = shared_path("models", "sketch-rnn-js", "CATALOG.tsv")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert {r["name"]: r["sha256"] for r in rows} == {
        n: e.sha256 for n, e in catalog().items()}


@pytest.mark.parametrize("name", ["flamingo", "owl", "cat"])
def test_pinned_sha256_matches_the_real_file(name: str) -> None:
    path = shared_path("models", "sketch-rnn-js", f"{name}.gen.json")
    data = path.read_bytes()
    entry = catalog_entry(name)
    assert len(data) == entry.bytes
    assert hashlib.sha256(data).hexdigest() == entry.sha256


def test_lookup_normalises() -> None:
    assert catalog_entry("The Mona Lisa").name == "the_mona_lisa"
    assert catalog_entry("Palm Tree").name == "palm_tree"


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(UnknownModelError) as err:
        catalog_entry("flamingoo")
    msg = str(err.value)
    assert "flamingo" in msg and "\n" not in msg
    assert isinstance(err.value, SketchartError)


def test_closest_names_substring_fallback() -> None:
    assert "the_mona_lisa" in closest_names("mona", catalog())
    assert closest_names("flamingoo", catalog())[0] == "flamingo"
    assert closest_names("zzzzzz", catalog()) == []
