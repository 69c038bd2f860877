"""Everyday habits of the command line: cheap checks before a model loads, outputs by
their ending, a quiet TensorFlow, evaluate taking every model name or file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sketchart.cli import main

TINY = "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=10"
#: what TensorFlow prints on start-up that a user of this tool need not see
CHATTER = ("absl::InitializeLog", "oneDNN", "cuda", "cuInit", "XLA service",
           "StreamExecutor")


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Error: "), err
    return err


@pytest.fixture
def sheep_js() -> Path:
    from conftest import shared_path

    return shared_path("models", "sketch-rnn-js", "sheep.gen.json")


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    from sketchart.data.datasets import load_npz
    from sketchart.data.npzsafe import write_npz

    sheep = load_npz(sheep_npz)
    out = tmp_path_factory.mktemp("data") / "small.npz"

    def pick(sketches: list[np.ndarray], n: int) -> list[np.ndarray]:
        return [s.astype(np.int16) for s in sketches if len(s) <= 40][:n]

    write_npz(out, {"train": pick(sheep.train, 20), "valid": pick(sheep.valid, 10),
                    "test": pick(sheep.test, 10)})
    return out


# ------------------------------------------------------------ checks come first
def _bad_output(tmp_path: Path, case: str, suffix: str) -> tuple[Path, str]:
    (tmp_path / "afile").write_text("x")
    (tmp_path / f"adir{suffix}").mkdir(exist_ok=True)
    return {
        "parent is a file": (tmp_path / "afile" / f"out{suffix}", "is a file, not a folder"),
        "a directory": (tmp_path / f"adir{suffix}", "is a directory"),
        "unwritable": (Path(f"/sys/sketchart-test{suffix}"), "cannot write in /sys"),
        "unknown type": (tmp_path / "out.txt", "unknown file type"),
    }[case]


@pytest.mark.parametrize("case", ["parent is a file", "a directory", "unwritable",
                                  "unknown type"])
def test_bad_outputs_are_refused_before_a_model_is_loaded(
        tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The model (or dataset) does not exist: an error about the output proves the
    output was checked first."""
    if case == "unwritable" and not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    missing = str(tmp_path / "no-such-model.gen.json")
    for command, suffix in ((["sample", "-m", missing], ".svg"),
                            (["export", missing], ".gen.json"),
                            (["dataset", "show", str(tmp_path / "missing.npz")], ".svg")):
        output, message = _bad_output(tmp_path, case, suffix)
        err = _error(capsys, [*command, "-o", str(output)])
        assert message in err, (command, err)


@pytest.mark.parametrize("option, value, message", [
    ("--max-len", "0", "--max-len must be at least 1"),
    ("--columns", "0", "--columns must be at least 1"),
    ("--count", "0", "--count must be at least 1"),
    ("--temperature-mode", "hot", "unknown temperature_mode 'hot'"),
    ("--temperature", "-1", "temperature must be > 0"),
])
def test_bad_sample_options_are_refused_before_a_model_is_loaded(
        tmp_path: Path, option: str, value: str, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, ["sample", "-m", str(tmp_path / "no-such-model"), "-o",
                          str(tmp_path / "x.svg"), option, value])
    assert message in err


# ---------------------------------------------------------------- sample outputs
def test_sample_writes_a_png_and_warns_about_a_high_temperature(
        sheep_js: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    out = tmp_path / "grid.png"
    old = os.umask(0o022)
    try:
        main(["sample", "-m", str(sheep_js), "-n", "4", "-t", "5", "--seed", "1",
              "-o", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    finally:
        os.umask(old)
    err = capsys.readouterr().err
    assert "Warning: temperature 5 is above 1" in err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (192, 192)
    assert out.stat().st_mode & 0o777 == 0o644


def test_sample_svg_honours_the_umask(sheep_js: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.svg"
    old = os.umask(0o022)
    try:
        main(["sample", "-m", str(sheep_js), "-n", "2", "--seed", "1", "-o", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------- quiet TensorFlow, evaluate
def test_filtered_stderr_drops_chatter_and_keeps_real_errors(
        capfd: pytest.CaptureFixture[str]) -> None:
    from sketchart.util.quiet import filtered_stderr

    with filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\n")
        os.write(2, b"I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1.2 1 cuda_executor.cc:1] failed call to cuInit: 303\n")
        os.write(2, b"E0000 00:00:1.2 1 op.cc:9] something real went wrong\n")
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1.2 1 op.cc:9] something real went wrong\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "sketchart", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_train_and_evaluate_of_a_google_file_print_no_tensorflow_chatter(
        sheep_js: Path, small_npz: Path, tmp_path: Path) -> None:
    """``evaluate`` takes a ``.gen.json`` (every name and file ``sample`` takes), and
    neither command shows TensorFlow's start-up lines."""
    proc = _run("evaluate", str(sheep_js), str(small_npz), "--split", "valid")
    assert proc.returncode == 0, proc.stderr
    assert "r_cost" in proc.stdout and "valid sketches" in proc.stdout
    assert not [w for w in CHATTER if w in proc.stderr], proc.stderr
    proc = _run("train", str(small_npz), "--log-root", str(tmp_path / "run"), "--hparams",
                f"{TINY},num_steps=1", "-q", "--samples", "0", "--no-tensorboard")
    assert proc.returncode == 0, proc.stderr
    assert not [w for w in CHATTER if w in proc.stderr], proc.stderr


def test_evaluate_takes_a_model_name(small_npz: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from sketchart.hub.store import shipped_models

    if "sheep" not in shipped_models():
        pytest.skip("the shipped sheep model is not in models/")
    try:
        main(["evaluate", "sheep", str(small_npz), "--split", "test"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "test sketches" in capsys.readouterr().out


def test_sampling_on_tensorflow_and_the_python_api_print_no_chatter(
        sheep_js: Path, tmp_path: Path) -> None:
    proc = _run("sample", "-m", str(sheep_js), "--engine", "tensorflow", "-n", "2",
                "--seed", "1", "-o", str(tmp_path / "tf.svg"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import sketchart\n"
            f"model = sketchart.load_model({str(sheep_js)!r}, engine='keras')\n"
            "print(len(sketchart.sample(model, 2, 0.5, seed=1)))\n")
    api = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=600)
    assert api.returncode == 0 and api.stdout.strip() == "2", api.stderr
    assert not [w for w in CHATTER if w in api.stderr], api.stderr
