"""A real client: @magenta/sketch (magenta-js) in Node reads Google's and our exported
``.gen.json`` files and agrees with our sampler.

Needs ``node`` and ``npm install`` run in ``tests/node/`` (its ``package.json`` pins
``@magenta/sketch``; ``scripts/setup-test-env.sh`` does it); skipped with the reason
otherwise. The Node scripts are in ``tests/node/`` too.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, shared_path
from http_fixture import serve_directory

NODE_DIR = ROOT / "tests" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@magenta" / "sketch").is_dir():
        pytest.skip("@magenta/sketch is not installed: run `npm install` in tests/node")
    return exe


def _run_node(node: str, script: str, *args: str, timeout: float = 600) -> Any:
    proc = subprocess.run([node, str(NODE_DIR / script), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"node {script} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _js_pdfs(node: str, model_source: str, strokes3: np.ndarray, temperatures: list[float],
             tmp_path: Path) -> list[dict[str, Any]]:
    spec = tmp_path / "input.json"
    spec.write_text(json.dumps({"strokes": np.asarray(strokes3, float).tolist(),
                                "temperatures": temperatures}))
    return _run_node(node, "pdf.js", model_source, str(spec))


def _compare(model: Any, node_out: list[dict[str, Any]], strokes3: np.ndarray) -> None:
    from sketchart.generate.sampling import next_pdf

    for theirs in node_out:
        ours = next_pdf(model, strokes3, temperature=theirs["temperature"])
        for key in ("pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr", "pen"):
            np.testing.assert_allclose(
                ours[key], np.asarray(theirs[key]), rtol=1e-4, atol=1e-4,
                err_msg=f"{key} at T={theirs['temperature']}")


@pytest.fixture(scope="module")
def flamingo():  # type: ignore[no-untyped-def]
    from sketchart.hub.store import load_model

    return load_model(shared_path("models", "sketch-rnn-js", "flamingo.gen.json"))


@pytest.mark.parity
def test_getpdf_equals_ours_on_google_flamingo(node: str, flamingo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sketchart.generate.sampling import sample

    strokes3 = sample(flamingo, 1, 0.5, seed=42)[0][:25]
    assert len(strokes3) >= 10
    # magenta-js loads the file with its own fetch() from a local HTTP server
    with serve_directory(shared_path("models", "sketch-rnn-js")) as url:
        out = _js_pdfs(node, f"{url}/flamingo.gen.json", strokes3, [0.1, 0.4, 1.0], tmp_path)
    _compare(flamingo, out, strokes3)
    # and with no strokes: the pdf of the first point
    empty = np.zeros((0, 3), np.float32)
    path = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    _compare(flamingo, _js_pdfs(node, str(path), empty, [0.65], tmp_path), empty)


def test_getpdf_equals_ours_on_a_model_we_exported(node: str, tmp_path: Path) -> None:
    from sketchart.hparams import HParams
    from sketchart.hub.store import export_js, load_model
    from sketchart.modeldir import ModelMeta
    from sketchart.nn.model import SketchRNN

    # magenta-js fixes 20 mixtures; the LSTM size comes from the file
    hps = HParams(conditional=False, dec_rnn_size=96, num_mixture=20, max_seq_len=60,
                  use_recurrent_dropout=False)
    ours = SketchRNN(hps, seed=7)
    ours.meta = ModelMeta(scale_factor=12.5, max_seq_len=60, data_set=hps.data_set,
                          class_names=["toy"], source="sketchart")
    path, _ = export_js(ours, tmp_path / "toy.gen.json")
    exported = load_model(path)  # our side, dequantised exactly as magenta-js does
    strokes3 = np.array([[5.0, -3.0, 0], [12.0, 4.0, 0], [-6.0, 20.0, 1], [3.0, 3.0, 0],
                         [-8.0, 1.0, 0]], np.float32)
    out = _js_pdfs(node, str(path), strokes3, [0.2, 0.8], tmp_path)
    _compare(exported, out, strokes3)


# ------------------------------------------------------------------ distributions
def _ks_pvalue(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and asymptotic p-value (conservative for
    integer data)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    ne = len(a) * len(b) / (len(a) + len(b))
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    p = 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return d, float(min(max(p, 0.0), 1.0))


def _proportion_pvalue(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided two-proportion z-test."""
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(max(p * (1 - p) * (1 / n1 + 1 / n2), 1e-300))
    z = abs(k1 / n1 - k2 / n2) / se
    return math.erfc(z / math.sqrt(2.0))


def _stroke_count(strokes3: np.ndarray) -> int:
    """Pen-down runs: lifts, plus one for an unfinished last stroke."""
    if len(strokes3) == 0:
        return 0
    lifts = int(np.sum(strokes3[:, 2] > 0.5))
    return lifts + int(strokes3[-1, 2] <= 0.5)


@pytest.mark.slow
def test_flamingo_samples_agree_in_distribution(node: str, flamingo) -> None:  # type: ignore[no-untyped-def]
    from sketchart.generate.sampling import sample

    n, temperature, max_len = 1000, 0.4, 105
    path = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    js = _run_node(node, "sample.js", str(path), str(n), str(temperature), timeout=3600)
    ours = sample(flamingo, n, temperature, seed=2024)
    js_s3 = [np.asarray(s["strokes3"], float).reshape(-1, 3) for s in js["sketches"]]
    stats = {}
    for label, fn in (("points", len), ("strokes", _stroke_count)):
        a = np.array([fn(s) for s in ours])
        b = np.array([fn(s) for s in js_s3])
        d, p = _ks_pvalue(a, b)
        stats[label] = (a.mean(), b.mean(), d, p)
    ended_ours = sum(len(s) < max_len for s in ours)
    ended_js = sum(bool(s["ended"]) for s in js["sketches"])
    p_end = _proportion_pvalue(ended_ours, n, ended_js, n)
    print(f"\nflamingo T={temperature}, {n} sketches each (ours vs @magenta/sketch):")
    for label, (ma, mb, d, p) in stats.items():
        print(f"  {label:8s} mean {ma:6.2f} vs {mb:6.2f}  KS D={d:.4f} p={p:.3f}")
    print(f"  ended    {ended_ours / n:.3f} vs {ended_js / n:.3f}  z-test p={p_end:.3f}")
    print(f"  node: {js['seconds'] / n:.3f} s per sketch")
    for label, (_, _, _, p) in stats.items():
        assert p > 0.01, f"{label} per sketch differ (KS p={p:.4f})"
    assert p_end > 0.01, f"ended-before-max_seq_len differs (p={p_end:.4f})"
