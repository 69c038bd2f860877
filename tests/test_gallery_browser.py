"""The gallery's index.html in headless Chromium: every image loads, the console is quiet.

Needs a Chromium binary (Debian's ``chromium`` package; ``$SKETCHART_CHROMIUM`` overrides);
the tests skip when there is none. A small gallery is built from Google's flamingo in
../shared/models/sketch-rnn-js.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

from tools.gallery import GalleryEntry, build_gallery
from tools.gallery.browser import check_page, find_chromium

SPEC = (
    GalleryEntry(
        "flamingos",
        "samples",
        "flamingo",
        "Flamingos",
        "Two flamingos at T=0.3.",
        seed=3,
        temperatures=(0.3,),
        source="google",
        params={"rows": 1, "columns": 2},
    ),
    GalleryEntry(
        "flamingo-temperatures",
        "temperatures",
        "flamingo",
        "Flamingo temps",
        "Two temperatures.",
        seed=1,
        temperatures=(0.1, 0.9),
        source="google",
        params={"columns": 2},
    ),
)


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "no chromium binary (install Debian's chromium package or set SKETCHART_CHROMIUM)"
        )
    return binary


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Path:
    google = shared_path("models", "sketch-rnn-js")
    out = tmp_path_factory.mktemp("browser") / "gallery"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKETCHART_HOME", str(tmp_path_factory.mktemp("cache")))
        build_gallery(out, entries=SPEC, google_dir=google)
    return out


def test_index_loads_every_image_without_console_messages(
    gallery: Path, chromium: str
) -> None:
    result = check_page(gallery / "index.html", chromium)
    assert [i["src"] for i in result.images] == [f"{e.name}.png" for e in SPEC]
    assert all(i["naturalWidth"] > 0 for i in result.images)
    assert result.console == []
    assert result.ok


def test_checked_in_gallery_page(chromium: str) -> None:
    """The committed gallery/index.html: every picture there, nothing on the console."""
    index = ROOT / "gallery" / "index.html"
    if not index.is_file():
        pytest.skip("no gallery/index.html checked in yet")
    result = check_page(index, chromium)
    assert result.images and not result.broken, result.broken
    assert result.console == []


def test_broken_image_and_console_output_are_reported(
    gallery: Path, chromium: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(gallery, bad)
    (bad / "flamingos.png").unlink()
    html = (bad / "index.html").read_text()
    (bad / "index.html").write_text(
        html.replace(
            "</body>", "<script>console.error('oops'); undefinedFunction();</script></body>"
        )
    )
    result = check_page(bad / "index.html", chromium)
    assert result.broken == ["flamingos.png"]
    text = "\n".join(result.console)
    assert "ERR_FILE_NOT_FOUND" in text and "console.error: oops" in text
    assert "undefinedFunction" in text
    assert not result.ok


def test_cli_check(
    gallery: Path, chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sketchart.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["gallery", "check", "--out", str(gallery), "--browser", chromium])
    assert exc.value.code == 0
    assert "2 image(s), 0 broken, 0 console message(s)" in capsys.readouterr().out
    bad = tmp_path / "bad"
    shutil.copytree(gallery, bad)
    (bad / "flamingos.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit) as exc:
        main(["gallery", "check", "--out", str(bad), "--browser", chromium])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "broken image: flamingos.png" in captured.out
    assert captured.err.startswith("Error: ") and captured.err.count("\n") == 1
