"""Every vsketch example in ``examples/`` runs through vsketch's own headless ``vsk save``.

As vsketch tests its own examples: the ``save`` command is invoked in-process with
click's runner, and the SVG it writes must hold lines on the page. vsketch is an optional
extra (it pulls in PySide6); without it these tests skip.

Models: the examples use the shipped ``sheep`` and Google's ``flamingo`` by name. The
flamingo is never downloaded here: ``SKETCHART_HOME`` points at a temporary cache holding
the shared copy of ``flamingo.gen.json`` (exactly where ``sketchart models fetch
flamingo`` puts it), and ``SKETCHART_MODEL_URL`` points nowhere, so a miss fails fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vpype as vp
from conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(ROOT.glob("examples/*/sketch_*.py"))

pytest.importorskip(
    "vsketch", reason="vsketch is an optional extra: pip install 'sketchart[vsketch]'")


@pytest.fixture()
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model cache holding Google's flamingo, with downloads that cannot happen."""
    home = tmp_path / "home"
    (home / "google").mkdir(parents=True)
    flamingo = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    (home / "google" / "flamingo.gen.json").symlink_to(flamingo)
    monkeypatch.setenv("SKETCHART_HOME", str(home))
    monkeypatch.setenv("SKETCHART_MODEL_URL", "http://127.0.0.1:9/no-network-in-tests")
    monkeypatch.delenv("VSK_MULTIPROCESSING", raising=False)
    return home


def test_every_example_folder_holds_one_sketch() -> None:
    assert len(EXAMPLES) >= 2
    assert all(p.name == f"sketch_{p.parent.name}.py" for p in EXAMPLES)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_saves_an_svg(script: Path, tmp_path: Path, model_cache: Path) -> None:
    from click.testing import CliRunner
    from vsketch_cli.cli import cli

    out = tmp_path / "out"
    out.mkdir()
    args = ["save", "--name", "test_output", "--destination", str(out), "--seed", "0",
            str(script.parent)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    svg = out / "test_output_s0.svg"
    assert svg.is_file(), res.output
    doc = vp.read_multilayer_svg(str(svg), quantization=0.5)
    assert sum(len(lc) for lc in doc.layers.values()) > 0
    xmin, ymin, xmax, ymax = doc.bounds()
    width, height = doc.page_size
    assert 0 <= xmin < xmax <= width and 0 <= ymin < ymax <= height
