"""Drawing without TensorFlow (issue 20, item 4-5): a real ``vpype sketchrnn-sample ...
write`` and a real ``sketchart sample`` load their model with the NumPy engine and import
neither TensorFlow, Keras nor JAX; ``--engine`` chooses another engine, and a seed draws
the same file on each; ``sketchart.load_model`` + ``sample`` from Python likewise."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

FRAMEWORKS = ("tensorflow", "keras", "jax")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache holding Google's flamingo (as after ``sketchart models fetch``)."""
    root = tmp_path_factory.mktemp("home")
    (root / "google").mkdir()
    shutil.copy(shared_path("models", "sketch-rnn-js", "flamingo.gen.json"),
                root / "google" / "flamingo.gen.json")
    return root


def _run_and_list_frameworks(code: str, home: Path, cwd: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; the framework modules it left imported."""
    script = code + textwrap.dedent("""
        import json, sys
        print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in FRAMEWORKS)))
    """)
    env = {**__import__("os").environ, "SKETCHART_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", f"FRAMEWORKS = {FRAMEWORKS!r}\n{script}"],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


VPYPE = """
import vpype_cli
vpype_cli.cli.main({args!r}, standalone_mode=False)
"""
SKETCHART = """
from sketchart.cli import app
app(args={args!r}, standalone_mode=False)
"""


def test_vpype_sketchrnn_sample_imports_no_tensorflow(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.svg"
    args = ["sketchrnn-sample", "--category", "flamingo", "--temperature", "0.4",
            "--seed", "7", "write", str(out)]
    assert _run_and_list_frameworks(VPYPE.format(args=args), home, tmp_path) == []
    assert "<path" in out.read_text() or "<polyline" in out.read_text()


def test_sketchart_sample_imports_no_tensorflow(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.svg"
    args = ["sample", "--category", "sheep", "-n", "16", "--seed", "3", "-o", str(out)]
    assert _run_and_list_frameworks(SKETCHART.format(args=args), home, ROOT) == []
    assert out.stat().st_size > 1000


def test_python_api_imports_no_tensorflow(home: Path, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sketchart
        model = sketchart.load_model("flamingo")
        drawings = sketchart.sample(model, n=16, temperature=0.4, seed=7)
        assert len(drawings) == 16 and type(model).__name__ == "NumpySketchRNN"
    """)
    assert _run_and_list_frameworks(code, home, tmp_path) == []


def _svg_paths(path: Path) -> list[str]:
    import re

    return re.findall(r' d="([^"]+)"', path.read_text())


@pytest.mark.parity
def test_engine_option_draws_the_same_file(home: Path, tmp_path: Path) -> None:
    """``--engine`` on the Keras backend of this run draws what the NumPy engine draws
    (sheep: its drawings agree to far below an SVG coordinate's rounding)."""
    import keras

    backend = keras.backend.backend()
    files = {}
    for engine in ("numpy", backend):
        files[engine] = tmp_path / f"{engine}.svg"
        args = ["sample", "--category", "sheep", "-n", "4", "--seed", "3", "--engine",
                engine, "-o", str(files[engine])]
        loaded = _run_and_list_frameworks(SKETCHART.format(args=args), home, ROOT)
        assert (backend in loaded) == (engine != "numpy")
    assert _svg_paths(files["numpy"]) == _svg_paths(files[backend])


def test_engine_errors_are_one_line(home: Path, tmp_path: Path) -> None:
    env = {**__import__("os").environ, "SKETCHART_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "sketchart", "sample", "-c", "sheep", "-n", "1",
         "--engine", "torch", "-o", str(tmp_path / "x.svg")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode != 0
    assert "unknown engine 'torch'" in proc.stderr
    assert "Traceback" not in proc.stderr
