"""``sketchart train`` / ``sketchart evaluate`` through the real CLI (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_small_sheep
from typer.testing import CliRunner

from sketchart.cli import app, main

TINY = "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=10"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    """``small.npz``: short real sheep (at most 50 points)."""
    return write_small_sheep(tmp_path_factory.mktemp("data"), sheep_npz, 50, 40)


def test_magenta_spelling_trains_and_evaluate_prints_both_costs(data_dir: Path,
                                                                tmp_path: Path) -> None:
    runner = CliRunner()
    root = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--log_root", str(root), "--data_dir", str(data_dir),
        "--hparams", f"data_set=small.npz,{TINY},num_steps=2,save_every=2",
        "--seed", "1", "--no-tensorboard", "--samples", "0"])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.output and "best valid cost" in result.output
    assert (root / "best" / "model.weights.h5").is_file()
    # magenta's resume flag continues the same run
    result = runner.invoke(app, ["train", "--log_root", str(root), "--resume_training",
                                 "--hparams", "num_steps=3", "-q", "--no-tensorboard"])
    assert result.exit_code == 0, result.output
    assert json.loads((root / "last" / "train_state.json").read_text())["step"] == 3

    result = runner.invoke(app, ["evaluate", str(root), str(data_dir / "small.npz"),
                                 "--split", "valid"])
    assert result.exit_code == 0, result.output
    words = result.output.split()
    r_cost = float(words[words.index("r_cost") + 1])
    kl_cost = float(words[words.index("kl_cost") + 1])
    assert np.isfinite(r_cost) and kl_cost >= 0.2
    assert "10 valid sketches" in result.output


def test_direct_paths_and_a_downloaded_category_train_together(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sketchart train small.npz flamingo``: a local file plus a QuickDraw category
    fetched from ``$SKETCHART_DATA_URL`` (a local server) into ``--data-dir``."""
    import functools
    import http.server
    import shutil
    import threading

    bucket = tmp_path / "bucket" / "sketchrnn"
    bucket.mkdir(parents=True)
    shutil.copy(data_dir / "small.npz", bucket / "flamingo.npz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "bucket"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SKETCHART_DATA_URL",
                       f"http://127.0.0.1:{server.server_address[1]}/sketchrnn")
    root, downloads = tmp_path / "run", tmp_path / "downloads"
    try:
        result = CliRunner().invoke(app, [
            "train", str(data_dir / "small.npz"), "Flamingo", "--log-root", str(root),
            "--data-dir", str(downloads), "--hparams", f"{TINY},num_steps=1", "-q",
            "--no-tensorboard", "--samples", "0"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert (downloads / "flamingo.npz").is_file()
    meta = json.loads((root / "best" / "sketchart.json").read_text())
    assert meta["class_names"] == ["small", "flamingo"]
    assert Path(meta["data_set"][0]).name == "small.npz" and meta["data_set"][1] == "Flamingo"


@pytest.mark.parametrize("args, message", [
    (["--hparams", "data_set=small.npz,bogus=1"], "unknown hparam 'bogus'"),
    (["--hparams", "data_set=missing_file.npz"], "missing_file.npz"),
    (["--resume"], "nothing to resume"),
])
def test_bad_input_is_one_line_on_stderr(data_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch,
                                         args: list[str], message: str) -> None:
    monkeypatch.delenv("SKETCHART_DATA_URL", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["train", "--log-root", str(tmp_path / "r"), "--data-dir", str(data_dir),
              *args])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and message in err
    assert len(err.splitlines()) == 1


def test_evaluate_refuses_an_unknown_split(data_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path), str(data_dir / "small.npz"), "--split", "dev"])
    assert "unknown split 'dev'" in capsys.readouterr().err


@pytest.mark.parity
def test_evaluate_reproduces_the_reference_on_a_converted_magenta_checkpoint(
        tmp_path: Path) -> None:
    """A checkpoint written by magenta's trainer, converted, then ``sketchart evaluate
    --use-mu`` on the reference's own 4 test sketches gives the reference's r_cost."""
    from conftest import shared_path

    from sketchart.data.npzsafe import write_npz
    from sketchart.hub.convert import convert_checkpoint
    from sketchart.strokes import strokes5_to_strokes3

    ckpt = shared_path("fixtures", "reference", "magenta_checkpoint_small")
    ref = np.load(ckpt / "reference_outputs.npz")
    scale = float(ref["scale_factor"])
    sketches = []
    for batch, n in zip(ref["input_data"], ref["sequence_lengths"]):
        s3 = strokes5_to_strokes3(batch[1:])[: int(n)]
        s3[:, :2] *= scale
        sketches.append(s3)
    write_npz(tmp_path / "four.npz", {"train": sketches, "valid": sketches,
                                      "test": sketches}, dtype="float32")
    model_dir = convert_checkpoint(ckpt, tmp_path / "model", scale_factor=scale)
    result = CliRunner().invoke(app, ["evaluate", str(model_dir), str(tmp_path / "four.npz"),
                                      "--batch-size", "4", "--use-mu"])
    assert result.exit_code == 0, result.output
    words = result.output.split()
    r_cost = float(words[words.index("r_cost") + 1])
    kl_cost = float(words[words.index("kl_cost") + 1])
    assert r_cost == pytest.approx(float(ref["r_cost"]), abs=2e-4)  # printed to 4 places
    assert kl_cost == pytest.approx(float(ref["kl_cost"]), abs=1e-4)
