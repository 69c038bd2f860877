"""The gallery: spec table, drawing kinds, JSON records, atomic builds, one-line errors.

A small spec is built from Google's flamingo (../shared/models/sketch-rnn-js) and a tiny
randomly initialised VAE saved to a temporary folder, with test drawings from
../shared/data/sketchrnn/aaron_sheep.npz. The slow test rebuilds the real gallery and
compares it with the checked-in one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, shared_path

from sketchart.hub.catalog import catalog_entry
from sketchart.hub.store import shipped_models
from sketchart.strokes import strokes3_to_lines
from tools.gallery import GALLERY, KINDS, GalleryEntry, GalleryError, build_gallery
from tools.gallery.build import INDEX_JSON, parse_model_overrides, resolve_model
from tools.gallery.kinds import BUILDERS, partial_drawing, split_completion
from tools.gallery.spec import (
    DATA_FILES,
    DATA_KINDS,
    GallerySpecError,
    select_entries,
    validate_spec,
)

TINY = "tiny-vae"
# aaron_sheep test drawings of at most 80 points (the tiny model's max_seq_len)
SHORT = [0, 4, 6, 7]
# every sampling call of the small spec draws 2 sketches: one compiled loop serves them all

SMALL_SPEC: tuple[GalleryEntry, ...] = (
    GalleryEntry(
        "flamingo-samples",
        "samples",
        "flamingo",
        "Flamingos",
        "Two flamingos.",
        seed=3,
        temperatures=(0.3,),
        source="google",
        params={"rows": 1, "columns": 2},
    ),
    GalleryEntry(
        "tiny-temperatures",
        "temperatures",
        TINY,
        "Tiny temps",
        "Rows of T.",
        seed=1,
        temperatures=(0.2, 0.8),
        params={"columns": 2},
    ),
    GalleryEntry(
        "tiny-interpolation",
        "interpolation",
        TINY,
        "Tiny interp",
        "A strip.",
        seed=2,
        temperatures=(0.1,),
        data="aaron_sheep.npz",
        params={"pairs": [SHORT[:2]], "steps": 2},
    ),
    GalleryEntry(
        "tiny-corners",
        "corners",
        TINY,
        "Tiny corners",
        "A grid.",
        seed=3,
        temperatures=(0.1,),
        data="aaron_sheep.npz",
        params={"corners": SHORT, "rows": 2, "columns": 1},
    ),
    GalleryEntry(
        "tiny-reconstructions",
        "reconstruction",
        TINY,
        "Tiny recon",
        "Pairs.",
        seed=4,
        temperatures=(0.2,),
        data="aaron_sheep.npz",
        params={"indices": SHORT[:1], "count": 2},
    ),
    GalleryEntry(
        "tiny-completions",
        "completion",
        TINY,
        "Tiny completions",
        "Endings.",
        seed=5,
        temperatures=(0.4,),
        data="aaron_sheep.npz",
        params={"indices": SHORT[2:3], "strokes": 2, "count": 2},
    ),
    GalleryEntry(
        "flamingo-completions",
        "completion",
        "flamingo",
        "Flamingo completes a sheep",
        "A decoder-only model continues.",
        seed=6,
        temperatures=(0.3,),
        source="google",
        data="aaron_sheep.npz",
        params={"indices": SHORT[3:], "strokes": 1, "count": 2},
    ),
    GalleryEntry(
        "tiny-print",
        "print",
        TINY,
        "Tiny print",
        "A6 sheet.",
        seed=7,
        temperatures=(0.1,),
        data="aaron_sheep.npz",
        params={
            "corners": SHORT,
            "rows": 2,
            "columns": 1,
            "page": "a6",
            "margin_mm": 8.0,
            "gap_mm": 3.0,
        },
    ),
)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def google_dir() -> Path:
    return shared_path("models", "sketch-rnn-js")


@pytest.fixture(scope="module")
def data_dir() -> Path:
    shared_path("data", "sketchrnn", "aaron_sheep.npz")
    return shared_path("data", "sketchrnn")


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small VAE saved as a model directory."""
    from sketchart.hparams import HParams
    from sketchart.modeldir import ModelMeta, save_model_dir
    from sketchart.nn.model import SketchRNN

    hps = HParams(
        enc_rnn_size=16,
        dec_rnn_size=32,
        z_size=8,
        num_mixture=4,
        max_seq_len=80,
        use_recurrent_dropout=False,
        data_set=["aaron_sheep.npz"],
    )
    model = SketchRNN(hps, seed=1)
    meta = ModelMeta(
        scale_factor=18.5198,
        max_seq_len=80,
        data_set=["aaron_sheep.npz"],
        class_names=["aaron_sheep"],
        source="sketchart",
        steps=0,
        test={"r_cost": 1.5, "kl_cost": 0.25},
    )
    return save_model_dir(model, tmp_path_factory.mktemp("models") / TINY, meta)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Google's models come from ../shared via google_dir, never from a user cache
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SKETCHART_GOOGLE_DIR", str(tmp_path / "no-google-models"))
    monkeypatch.delenv("SKETCHART_DATA_DIR", raising=False)


_MODELS: dict[str, Any] = {}


def _cached_loader() -> Any:
    """``store.load_model`` that loads each model file once per test session: builds reuse
    its compiled sampling loops instead of compiling them again (only a speed-up)."""
    from sketchart.hub import store

    real = store.load_model

    def cached(path: Any, **kwargs: Any) -> Any:
        key = str(path)
        if key not in _MODELS:
            _MODELS[key] = real(path, **kwargs)
        return _MODELS[key]

    return cached


@pytest.fixture(autouse=True)
def _reuse_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from sketchart.hub import store

    monkeypatch.setattr(store, "load_model", _cached_loader())


def _build(out: Path, google_dir: Path, data_dir: Path, tiny: Path, **kw: Any) -> Any:
    kw.setdefault("entries", SMALL_SPEC)
    uses_tiny = any(e.model == TINY for e in kw["entries"])
    return build_gallery(
        out,
        google_dir=google_dir,
        data_dir=data_dir,
        models={TINY: str(tiny)} if uses_tiny else {},
        **kw,
    )


@pytest.fixture(scope="module")
def small_gallery(
    tmp_path_factory: pytest.TempPathFactory, google_dir: Path, data_dir: Path, tiny_vae: Path
) -> Iterator[Path]:
    from sketchart.hub import store

    out = tmp_path_factory.mktemp("built") / "gallery"
    # module scope: the autouse fixtures are function-scoped, so isolate by hand
    home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKETCHART_HOME", str(home))
        mp.setattr(store, "load_model", _cached_loader())
        _build(out, google_dir, data_dir, tiny_vae)
    yield out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------- the table
def test_real_spec_is_valid_and_complete() -> None:
    validate_spec(GALLERY)
    assert set(BUILDERS) == set(KINDS)
    kinds = {e.kind for e in GALLERY}
    assert kinds == set(KINDS)  # every kind appears in the real gallery
    shipped = {e.model for e in GALLERY if e.source == "shipped"}
    assert shipped == {"sheep", "sheep-uncond", "omniglot", "kanji"}
    for e in GALLERY:
        if e.kind in DATA_KINDS:
            assert e.data in DATA_FILES.values(), e.name
        if e.source == "google":
            catalog_entry(e.model)  # a name the store resolves
    sweep = [e for e in GALLERY if e.kind == "temperatures"]
    assert all(e.temperatures[0] == 0.1 and e.temperatures[-1] == 1.0 for e in sweep)
    assert any(e.model == "flamingo" for e in GALLERY)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (GalleryEntry("Bad Name", "samples", "m", "t", "c"), "lower-case"),
        (GalleryEntry("x", "collage", "m", "t", "c"), "unknown kind 'collage'"),
        (
            GalleryEntry("x", "samples", "m", "t", "c", params={"colums": 3}),
            "unknown parameter 'colums'",
        ),
        (GalleryEntry("x", "samples", "m", "t", "c", temperatures=(0.0,)), "positive"),
        (GalleryEntry("x", "corners", "m", "t", "c"), "set data"),
        (GalleryEntry("x", "samples", "m", "t", "c", source="web"), "unknown source"),
        (GalleryEntry("index", "samples", "m", "t", "c"), "overwrite index"),
        (
            GalleryEntry("x", "samples", "m", "t", "c", temperature_mode="hot"),
            "unknown temperature_mode 'hot'",
        ),
    ],
)
def test_bad_spec_entries(entry: GalleryEntry, message: str) -> None:
    with pytest.raises(GallerySpecError, match=message) as err:
        validate_spec([entry])
    assert "\n" not in str(err.value)


def test_duplicate_names_and_unknown_only() -> None:
    e = SMALL_SPEC[0]
    with pytest.raises(GallerySpecError, match="twice"):
        validate_spec([e, e])
    assert [x.name for x in select_entries(SMALL_SPEC, ["tiny-print", e.name])] == [
        e.name,
        "tiny-print",
    ]
    with pytest.raises(GallerySpecError, match="no gallery entry named 'nope'"):
        select_entries(SMALL_SPEC, ["nope"])


def test_model_overrides_parse() -> None:
    assert parse_model_overrides(["sheep=training/sheep", " kanji = a=b "]) == {
        "sheep": "training/sheep",
        "kanji": "a=b",
    }
    with pytest.raises(GalleryError, match="NAME=PATH"):
        parse_model_overrides(["sheep"])


# ----------------------------------------------------------- completion helpers
def test_partial_drawing_keeps_whole_strokes() -> None:
    strokes3 = np.array(
        [[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1], [2, 2, 0], [1, 1, 1]], np.float32
    )
    assert len(partial_drawing(strokes3, 1)) == 2
    assert len(partial_drawing(strokes3, 2)) == 4
    assert len(partial_drawing(strokes3, 9)) == 4  # at least one stroke is left out
    one_stroke = np.array([[1, 0, 0]] * 5 + [[1, 0, 1]], np.float32)
    assert len(partial_drawing(one_stroke, 2)) == 3


@pytest.mark.parametrize("given_lift", [0, 1])
def test_split_completion_covers_every_point(given_lift: int) -> None:
    given = np.array([[0, 0, 0], [5, 0, 0], [0, 5, given_lift]], np.float32)
    tail = np.array([[3, 3, 0], [1, 2, 1], [4, 4, 0], [1, 1, 1]], np.float32)
    full = np.concatenate([given, tail])
    head, cont = split_completion(full, len(given))
    assert [h.tolist() for h in head] == [x.tolist() for x in strokes3_to_lines(given)]
    every = np.cumsum(full[:, :2].astype(np.float64), axis=0)
    drawn = np.concatenate(head + cont)
    # every point is drawn; the continuation starts at the given part's end only when the
    # pen was still down there
    assert {tuple(p) for p in every} == {tuple(p) for p in drawn}
    assert np.allclose(cont[0][0], every[2] if given_lift == 0 else every[3])


# ------------------------------------------------------------------ small build
@pytest.mark.parity
def test_small_gallery_files_and_records(
    small_gallery: Path, google_dir: Path, tiny_vae: Path
) -> None:
    from PIL import Image

    index = json.loads((small_gallery / INDEX_JSON).read_text())
    records = {r["name"]: r for r in index["entries"]}
    assert list(records) == [e.name for e in SMALL_SPEC]
    for e in SMALL_SPEC:
        rec = json.loads((small_gallery / f"{e.name}.json").read_text())
        assert rec == records[e.name]
        assert rec["command"].startswith(f"sketchart gallery build --only {e.name}")
        assert (rec["seed"], rec["temperatures"], rec["kind"]) == (
            e.seed,
            list(e.temperatures),
            e.kind,
        )
        assert rec["sketchart_version"] and rec["keras_version"] and rec["backend"]
        for name in rec["files"].values():
            assert (small_gallery / name).is_file(), name
        with Image.open(small_gallery / rec["files"]["png"]) as img:
            assert list(img.size) == rec["png_size"]
            # something was drawn: not a blank page
            assert img.convert("L").getextrema()[0] < 128
        svg = (small_gallery / rec["files"]["svg"]).read_text()
        assert svg.count('inkscape:groupmode="layer"') == rec["geometry"]["layers"]
        # layer colours: black drawings, grey originals, red given strokes, grey labels
        assert set(re.findall(r' stroke="([^"]+)"', svg)) <= {
            "#000000",
            "#8c8c8c",
            "#d62728",
            "#777777",
        }
        assert "/" not in rec["command"].split("--out")[0]  # no machine paths before --out
    flamingo = records["flamingo-samples"]
    assert flamingo["model_source"] == "google/flamingo"
    assert flamingo["model_sha256"] == _sha256(google_dir / "flamingo.gen.json")
    assert flamingo["model_sha256"] == catalog_entry("flamingo").sha256
    assert "--google-dir" in flamingo["command"] and flamingo["data"] is None
    tiny = records["tiny-reconstructions"]
    assert tiny["model_sha256"] == _sha256(tiny_vae / "model.weights.h5")
    assert tiny["model_hparams"]["conditional"] is True
    assert tiny["model_test"] == {"r_cost": 1.5, "kl_cost": 0.25}
    assert flamingo["model_test"] is None
    assert [(d["data"], d["licence"]) for d in flamingo["data_licences"]] == [
        ("flamingo", "CC BY 4.0")
    ]
    assert tiny["data_licences"][0]["licence"] == "CC BY-NC 4.0"
    assert tiny["data_licences"][0]["non_commercial"] is True
    assert tiny["data"] == {"file": "aaron_sheep.npz", "split": "test"}
    assert tiny["test_indices"] == SHORT[:1]
    assert f"--model {TINY}=" in tiny["command"] and "--data-dir" in tiny["command"]
    html = (small_gallery / "index.html").read_text()
    for e in SMALL_SPEC:
        assert f'src="{e.name}.png"' in html and e.caption in html
    assert "http://" not in html and "https://" not in html
    assert "0 steps, test r_cost 1.500, kl_cost 0.250, sha256" in html
    assert "Non-commercial use only: the drawings of tiny-vae inherit" in html
    assert "aaron_sheep: CC BY-NC 4.0 (non-commercial use only)" in html
    assert "flamingo: CC BY 4.0" in html


def test_small_gallery_layouts(small_gallery: Path) -> None:
    import vpype as vp

    def layers(name: str) -> dict[str, int]:
        """Layer label -> paths; every name starts with its layer number (plotters read it)."""
        doc = vp.read_multilayer_svg(str(small_gallery / f"{name}.svg"), 0.1)
        out = {}
        for lid, lc in doc.layers.items():
            number, _, label = str(lc.property("vp_name")).partition(" ")
            assert number == str(lid), (name, lc.property("vp_name"))
            out[label] = len(lc)
        return out

    assert set(layers("tiny-temperatures")) == {f"{TINY} samples", "labels"}
    # originals at both ends of the strip; a random model's decodes may be empty (an
    # empty layer is left out of the SVG)
    strip = layers("tiny-interpolation")
    assert set(strip) <= {"test drawings", f"{TINY} decodes"}
    assert strip["test drawings"] >= 2
    assert set(layers("tiny-completions")) <= {
        "given strokes",
        f"{TINY} continuations",
        "labels",
    }
    assert "given strokes" in layers("tiny-completions")
    # a decoder-only model completes too (Google's flamingo draws something)
    assert set(layers("flamingo-completions")) == {
        "given strokes",
        "flamingo continuations",
        "labels",
    }
    rec = json.loads((small_gallery / "tiny-completions.json").read_text())
    assert all(n > 0 for n in rec["given_points"])


@pytest.mark.parity
def test_print_sheet_has_gcode_layers_and_time(small_gallery: Path) -> None:
    rec = json.loads((small_gallery / "tiny-print.json").read_text())
    assert rec["page"] == {
        "name": "a6",
        "landscape": True,
        "width_mm": 148.0,
        "height_mm": 105.0,
    }
    assert [layer["name"] for layer in rec["layers"]] == ["1 row 1", "2 row 2"]
    assert rec["layers"][0]["color"] != rec["layers"][1]["color"]
    # every layer is drawn in its pen's colour in the SVG
    svg = (small_gallery / "tiny-print.svg").read_text()
    strokes = re.findall(r'inkscape:label="([^"]+)" stroke="([^"]+)"', svg)
    assert strokes == [(x["name"], x["color"]) for x in rec["layers"]]
    times = rec["plot_time"]
    assert times["grbl-servo"]["seconds"] > 0 and times["axidraw"]["seconds"] > 0
    gcode = (small_gallery / "tiny-print.gcode").read_text()
    assert gcode.startswith("G21\nG90\nM5")
    # one pen-down per path, as the profile writes them
    assert gcode.count("M3 S") == rec["paths"] == sum(x["paths"] for x in rec["layers"])
    assert rec["plot_commands"][0] == "sketchart plot tiny-print.svg --model V3/A4"
    html = (small_gallery / "index.html").read_text()
    assert "plot time (grbl-servo)" in html and 'href="tiny-print.gcode"' in html
    assert (
        "<code>vpype read tiny-print.svg gwrite -p grbl-servo tiny-print.gcode</code>" in html
    )


def test_print_times_match_the_plot_commands_dry_run(small_gallery: Path) -> None:
    """The JSON's plot times are what ``sketchart plot --dry-run`` says for the SVG."""
    from sketchart.plot.ebb import AxiDrawSettings
    from sketchart.plot.paths import load_svg
    from sketchart.plot.run import PlotOptions, plot_document

    rec = json.loads((small_gallery / "tiny-print.json").read_text())
    svg = load_svg(small_gallery / "tiny-print.svg")
    journal = small_gallery.parent / "journal.json"
    axidraw = plot_document(
        svg,
        PlotOptions(axidraw=AxiDrawSettings(model="V3/A4"), dry_run=True, journal=journal),
        echo=lambda _line: None,
    )
    grbl = plot_document(
        svg,
        PlotOptions(device="grbl", profile="grbl-servo", dry_run=True, journal=journal),
        echo=lambda _line: None,
    )
    times = rec["plot_time"]
    # the JSON rounds to 0.1 s: a tiny print of ~2 s is within 0.05 s, not 1 %
    assert axidraw.estimate_s == pytest.approx(times["axidraw"]["seconds"], rel=0.01, abs=0.05)
    assert grbl.estimate_s == pytest.approx(times["grbl-servo"]["seconds"], rel=0.01, abs=0.05)
    assert axidraw.paths_total == rec["paths"]


# -------------------------------------------------------- rebuilds and atomicity
def test_only_rebuilds_one_entry_identically(
    tmp_path: Path, small_gallery: Path, google_dir: Path, data_dir: Path, tiny_vae: Path
) -> None:
    out = tmp_path / "gallery"
    shutil.copytree(small_gallery, out)
    before = _files(out)
    (out / "tiny-temperatures.svg").write_text("stale")
    report = _build(out, google_dir, data_dir, tiny_vae, only=["tiny-temperatures"])
    assert report.built == ["tiny-temperatures"]
    after = _files(out)
    assert set(after) == set(before)
    rebuilt = {f"tiny-temperatures.{x}" for x in ("svg", "json")} | {
        "index.json",
        "index.html",
    }
    # the other entries' files are untouched
    assert {k: v for k, v in after.items() if k not in rebuilt} == {
        k: v for k, v in before.items() if k not in rebuilt
    }
    # same seed, same lines: the rebuilt entry draws what the first build drew; only the
    # command differs (another --out)
    old, new = (json.loads(files["tiny-temperatures.json"]) for files in (before, after))
    assert new["command"].startswith("sketchart gallery build --only tiny-temperatures --out ")
    assert {k: v for k, v in old.items() if k != "command"} == {
        k: v for k, v in new.items() if k != "command"
    }
    assert json.loads(after["index.json"])["entries"][1] == new
    assert not list(tmp_path.glob(".gallery.*"))


def test_failed_build_leaves_the_old_gallery(
    tmp_path: Path,
    small_gallery: Path,
    google_dir: Path,
    data_dir: Path,
    tiny_vae: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "gallery"
    shutil.copytree(small_gallery, out)
    before = _files(out)

    failure: type[BaseException] = RuntimeError

    def broken(*args: Any) -> Any:
        raise failure("drawing failed midway")

    # the first entry (flamingo samples) is drawn, the second fails (or Ctrl-C hits)
    monkeypatch.setitem(BUILDERS, "temperatures", broken)
    for failure, only in (
        (RuntimeError, None),
        (RuntimeError, ["flamingo-samples", "tiny-temperatures"]),
        (KeyboardInterrupt, None),
    ):
        with pytest.raises(failure, match="midway"):
            _build(out, google_dir, data_dir, tiny_vae, only=only, entries=SMALL_SPEC[:2])
        assert _files(out) == before
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_leftovers_of_killed_builds_are_removed(
    tmp_path: Path, google_dir: Path, data_dir: Path, tiny_vae: Path
) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # its pid now names no process
    stale = tmp_path / f".gallery.build-{proc.pid}-abc"
    running = tmp_path / f".gallery.build-{os.getpid()}-def"  # this process: alive
    for folder in (stale, running):
        folder.mkdir()
        (folder / "half.svg").write_text("<svg")
    _build(tmp_path / "gallery", google_dir, data_dir, tiny_vae, entries=SMALL_SPEC[:1])
    assert not stale.exists() and running.exists()
    assert (tmp_path / "gallery" / "flamingo-samples.svg").is_file()


def test_full_build_replaces_folder_and_keeps_readme(
    tmp_path: Path, google_dir: Path, data_dir: Path, tiny_vae: Path
) -> None:
    out = tmp_path / "gallery"
    _build(out, google_dir, data_dir, tiny_vae, entries=SMALL_SPEC[:2])
    (out / "README.md").write_text("kept")
    (out / "old-entry.png").write_text("stale")
    _build(out, google_dir, data_dir, tiny_vae, entries=SMALL_SPEC[:1])
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "flamingo-samples.json",
        "flamingo-samples.png",
        "flamingo-samples.svg",
        "index.html",
        "index.json",
    ]
    assert (out / "README.md").read_text() == "kept"


def test_skip_missing_keeps_old_outputs(
    tmp_path: Path, small_gallery: Path, google_dir: Path, data_dir: Path
) -> None:
    out = tmp_path / "gallery"
    shutil.copytree(small_gallery, out)
    before = _files(out)
    # without --model tiny-vae=..., the tiny model is missing (it is not shipped)
    with pytest.raises(GalleryError, match="tiny-vae .not shipped"):
        build_gallery(out, entries=SMALL_SPEC[:2], google_dir=google_dir)
    lines: list[str] = []
    report = build_gallery(
        out,
        entries=SMALL_SPEC[:2],
        google_dir=google_dir,
        skip_missing=True,
        echo=lines.append,
    )
    assert (report.built, report.skipped) == (["flamingo-samples"], ["tiny-temperatures"])
    assert lines[0].startswith("skipping tiny-temperatures: model missing: tiny-vae")
    assert lines[1] == f"building 1 entry into {os.path.relpath(out)}"
    after = _files(out)
    kept = {f"tiny-temperatures.{x}" for x in ("svg", "png", "json")}
    assert set(after) == kept | {f"flamingo-samples.{x}" for x in ("svg", "png", "json")} | {
        "index.json",
        "index.html",
    }
    assert all(after[name] == before[name] for name in kept)
    names = [r["name"] for r in json.loads(after["index.json"])["entries"]]
    assert names == ["flamingo-samples", "tiny-temperatures"]


def test_cli_list_shows_every_entry() -> None:
    from typer.testing import CliRunner

    from sketchart.cli import app

    result = CliRunner().invoke(app, ["gallery", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == [e.name for e in GALLERY]
    assert "T=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 seed=1" in lines[0]


# ------------------------------------------------------------------ bad input
def _main_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    from sketchart.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "\n" not in err, err
    return err


def test_cli_missing_google_model_says_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _main_error(
        capsys,
        [
            "gallery",
            "build",
            "--out",
            str(tmp_path / "g"),
            "--only",
            "google-owl",
            "--only",
            "google-cat",
        ],
    )
    assert "sketchart models fetch owl" in err and "sketchart models fetch cat" in err
    assert not (tmp_path / "g").exists()


def test_missing_shipped_model_says_which_and_how() -> None:
    entry = GalleryEntry("x", "samples", "no-such-model", "t", "c")
    with pytest.raises(GalleryError, match=r"no-such-model \(not shipped in models/") as err:
        build_gallery("unused", entries=[entry])
    assert "--model no-such-model=PATH" in str(err.value)
    # a shipped name never falls through to Google's model of the same name
    with pytest.raises(GalleryError, match="not shipped"):
        resolve_model("no-such-model", "shipped")


def test_cli_unwritable_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], google_dir: Path
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    args = ["gallery", "build", "--only", "google-owl", "--google-dir", str(google_dir)]
    err = _main_error(capsys, [*args, "--out", str(blocker / "gallery")])
    assert "cannot write the gallery to" in err and "is not a directory" in err
    err = _main_error(capsys, [*args, "--out", str(blocker)])
    assert "it is a file" in err
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    err = _main_error(capsys, [*args, "--out", str(foreign)])
    assert "refusing to replace" in err
    assert (foreign / "holiday.jpg").read_bytes() == b"x"


def test_missing_data_dir_and_file(tmp_path: Path, google_dir: Path, tiny_vae: Path) -> None:
    with pytest.raises(GalleryError, match="--data-dir DIR or set SKETCHART_DATA_DIR"):
        build_gallery(
            tmp_path / "g",
            entries=SMALL_SPEC[2:3],
            data_dir=tmp_path / "nope",
            models={TINY: str(tiny_vae)},
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(GalleryError, match="aaron_sheep.npz not found"):
        build_gallery(
            tmp_path / "g",
            entries=SMALL_SPEC[2:3],
            data_dir=tmp_path / "empty",
            models={TINY: str(tiny_vae)},
        )
    assert not (tmp_path / "g").exists()


def test_bad_test_index_and_decoder_only_model(
    tmp_path: Path, google_dir: Path, data_dir: Path, tiny_vae: Path
) -> None:
    too_long = GalleryEntry(
        "x", "reconstruction", TINY, "t", "c", data="aaron_sheep.npz", params={"indices": [3]}
    )  # 84 points > max_seq_len 80
    with pytest.raises(GallerySpecError, match="test drawing 3 of aaron_sheep.npz has 84"):
        _build(tmp_path / "g", google_dir, data_dir, tiny_vae, entries=[too_long])
    out_of_range = GalleryEntry(
        "x",
        "reconstruction",
        TINY,
        "t",
        "c",
        data="aaron_sheep.npz",
        params={"indices": [300]},
    )
    with pytest.raises(GallerySpecError, match="300 out of range .* 300 test drawings"):
        _build(tmp_path / "g", google_dir, data_dir, tiny_vae, entries=[out_of_range])
    vae_on_gen = GalleryEntry(
        "x", "corners", "flamingo", "t", "c", source="google", data="aaron_sheep.npz"
    )
    with pytest.raises(GalleryError, match="needs a conditional .* decoder-only"):
        _build(tmp_path / "g", google_dir, data_dir, tiny_vae, entries=[vae_on_gen])
    assert not (tmp_path / "g").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_google_dir_default_and_pinned_sha256(
    tmp_path: Path, google_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKETCHART_GOOGLE_DIR", str(google_dir))
    ref = resolve_model("flamingo", "google")
    assert (ref.path, ref.label) == (google_dir / "flamingo.gen.json", "google/flamingo")
    report = build_gallery(tmp_path / "g", entries=SMALL_SPEC[:1])
    record = json.loads((tmp_path / "g" / "flamingo-samples.json").read_text())
    # the default folder is not part of the command that rebuilds the entry
    assert record["command"].startswith("sketchart gallery build --only flamingo-samples")
    assert "--google-dir" not in record["command"] and report.built == ["flamingo-samples"]
    fake = tmp_path / "fake"
    fake.mkdir()
    shutil.copy(google_dir / "flamingo.gen.json", fake / "owl.gen.json")
    with pytest.raises(GalleryError, match="owl.gen.json: sha256 differs from Google's"):
        resolve_model("owl", "google", google_dir=fake)


def test_unknown_model_override(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="no gallery entry uses a model named 'shep'"):
        build_gallery(tmp_path / "g", entries=SMALL_SPEC, models={"shep": "x"})


# ------------------------------------------------------------- the real gallery
@pytest.mark.slow
def test_checked_in_gallery_rebuilds_the_same(tmp_path: Path) -> None:
    """Every entry of the real spec, rebuilt, draws the lines checked in under gallery/
    (same seeds; TF vs TF within 0.05 px)."""
    import vpype as vp

    # $SKETCHART_GALLERY_DIR: check another built gallery (e.g. before committing one)
    gallery = Path(os.environ.get("SKETCHART_GALLERY_DIR", ROOT / "gallery"))
    if not (gallery / INDEX_JSON).is_file():
        pytest.skip("no gallery/index.json checked in yet")
    index = json.loads((gallery / INDEX_JSON).read_text())
    names = [r["name"] for r in index["entries"]]
    assert names == [e.name for e in GALLERY if e.name in names]
    assert not {
        r["model"] for r in index["entries"] if r["model_source"].startswith("training/")
    } & set(shipped_models()), "gallery/ predates the shipped models: rebuild it"
    overrides = {}
    for r in index["entries"]:  # the models the checked-in gallery was built from
        if r["model_source"].startswith("training/"):
            overrides[r["model"]] = str(ROOT / Path(r["model_source"]).parent)
    try:
        build_gallery(
            tmp_path / "g",
            only=names,
            models=overrides,
            data_dir=shared_path("data", "sketchrnn"),
            google_dir=shared_path("models", "sketch-rnn-js"),
        )
    except GalleryError as exc:
        pytest.skip(f"cannot rebuild the gallery here: {exc}")
    new = json.loads((tmp_path / "g" / INDEX_JSON).read_text())
    for old, now in zip(index["entries"], new["entries"], strict=True):
        assert old["model_sha256"] == now["model_sha256"], (
            f"gallery/{old['name']} was drawn by another {old['model']}: rebuild the gallery"
        )
        if old["geometry"]["sha256"] == now["geometry"]["sha256"]:
            continue
        a = vp.read_multilayer_svg(str(gallery / old["files"]["svg"]), 0.1)
        b = vp.read_multilayer_svg(str(tmp_path / "g" / now["files"]["svg"]), 0.1)
        assert list(a.layers) == list(b.layers), old["name"]
        for lid in a.layers:
            la, lb = list(a.layers[lid]), list(b.layers[lid])
            assert len(la) == len(lb), (old["name"], lid)
            for pa, pb in zip(la, lb, strict=True):
                assert pa.shape == pb.shape and np.abs(pa - pb).max() < 0.05, old["name"]
