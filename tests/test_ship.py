"""Shipping a training run into models/: files, README, curves, float16 weights, offline
resolution by name, and one-line errors. One tiny run (3 steps on short real sheep) is
shipped once per module; the error cases reuse it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sketchart.errors import SketchartError

ship_mod = pytest.importorskip("tools.ship")
from tools.ship import (  # noqa: E402
    MODELS_SIZE_LIMIT,
    RunEvents,
    ShipError,
    dataset_info,
    read_events,
    render_curves,
    ship,
)

TINY = ("data_set=aaron_sheep.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,"
        "batch_size=10,num_steps=3,save_every=2")
SHIPPED_FILES = {"model_config.json", "sketchart.json", "model.weights.h5", "README.md",
                 "curves.png", "sample.png", "shipped.json"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    """``aaron_sheep.npz`` cut down to 60/20/20 real sheep of at most 60 points (its name
    keeps the data's licence known)."""
    from sketchart.data.datasets import load_npz
    from sketchart.data.npzsafe import write_npz

    sheep = load_npz(sheep_npz)
    folder = tmp_path_factory.mktemp("data")

    def pick(sketches: list[np.ndarray], n: int) -> list[np.ndarray]:
        return [s.astype(np.int16) for s in sketches if len(s) <= 60][:n]

    write_npz(folder / "aaron_sheep.npz", {"train": pick(sheep.train, 60),
                                           "valid": pick(sheep.valid, 20),
                                           "test": pick(sheep.test, 20)})
    return folder


@pytest.fixture(scope="module")
def log_root(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-step run: best/ at step 2, last/ at step 3, TensorBoard events."""
    import warnings

    from sketchart.training.trainer import train

    root = tmp_path_factory.mktemp("runs") / "sheep"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train(root, TINY, data_dir=data_dir, seed=3, progress=False, samples=0)
    return root


@pytest.fixture(scope="module")
def shipped(log_root: Path, tmp_path_factory: pytest.TempPathFactory):
    models = tmp_path_factory.mktemp("models")
    return ship(log_root, "sheep", models)


def _copy_run(log_root: Path, dest: Path) -> Path:
    shutil.copytree(log_root, dest)
    return dest


# ------------------------------------------------------------------------- the files
def test_ship_writes_every_file_and_nothing_else(shipped, log_root: Path) -> None:
    assert {p.name for p in shipped.path.iterdir()} == SHIPPED_FILES
    # the staging folder is gone: only the model is left in the models root
    assert [p.name for p in shipped.path.parent.iterdir()] == ["sheep"]
    assert shipped.bytes == sum(p.stat().st_size for p in shipped.path.iterdir())
    assert shipped.models_bytes == shipped.bytes < MODELS_SIZE_LIMIT
    umask = os.umask(0)
    os.umask(umask)
    assert shipped.path.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    best = json.loads((log_root / "best" / "sketchart.json").read_text())
    meta = json.loads((shipped.path / "sketchart.json").read_text())
    assert meta["steps"] == best["steps"] == shipped.steps in (2, 3)
    assert meta["valid"] == best["valid"] and meta["test"] == best["test"]
    assert shipped.steps_trained == 3 and shipped.sessions == 1
    assert (shipped.path / "model_config.json").read_text() == \
        (log_root / "best" / "model_config.json").read_text()
    # the log root was only read
    # (the training lock file, .lock, stays in the log root)
    assert sorted(p.name for p in log_root.iterdir()
                  if not p.name.startswith(("events", "."))) == \
        ["best", "last"]


def test_readme_states_licence_first_then_command_and_costs(shipped) -> None:
    text = (shipped.path / "README.md").read_text()
    head = text.splitlines()[:4]
    assert head[0].startswith("# sheep:") and "conditional VAE of sheep" in head[0]
    assert any("CC BY-NC 4.0" in line and "non-commercial" in line for line in head)
    assert shipped.command_source == "reconstructed"
    assert shipped.command.startswith("sketchart train --log-root ")
    assert "--seed 3" in shipped.command and "dec_rnn_size=16" in shipped.command
    if os.path.isabs(shipped.command.split("--log-root ")[1].split()[0]):
        # the run lives outside the working folder (pytest's tmp): the user is told
        assert any("absolute paths" in w for w in shipped.warnings)
    assert f"```sh\n{shipped.command}\n```" in text
    for split in ("valid", "test"):
        costs = getattr(shipped, split)
        assert f"| {split} | {costs['r_cost']:.4f} | {costs['kl_cost']:.4f} |" in text
    if shipped.steps == 2:  # valid improved at step 2 but not at step 3
        assert "- steps: 2 (best on validation, of 3 trained)" in text
    else:
        assert "- steps: 3\n" in text
    assert "- hardware: " in text and "CPU cores" in text
    assert "![training curves](curves.png)" in text and "(sample.png)" in text
    assert "sketchart sample --category sheep" in text
    assert "drawn from the shipped float16 weights" in text
    facts = json.loads((shipped.path / "shipped.json").read_text())
    assert facts["command"] == shipped.command
    assert facts["data"][0]["licence"] == "CC BY-NC 4.0"


def test_the_reconstructed_command_trains_the_same_model(shipped, log_root: Path) -> None:
    from sketchart.hparams import HParams

    hparams = shipped.command.split("--hparams ")[1].split(" --")[0].strip("'\"")
    parsed = HParams().parse(hparams)
    saved = HParams.from_json(log_root / "best" / "model_config.json")
    # max_seq_len is left out when the trainer derived it from the data (as here)
    assert parsed.replace({"max_seq_len": saved.max_seq_len}) == saved
    assert "max_seq_len" not in hparams


def test_pngs_decode_with_their_sizes(shipped) -> None:
    from PIL import Image

    with Image.open(shipped.path / "curves.png") as img:
        assert img.format == "PNG" and img.size == (1200, 480)
        pixels = np.asarray(img.convert("RGB"))
    # drawn: black axes and text, orange valid dots, a white background
    assert (pixels.min(axis=2) < 40).mean() > 0.005
    assert ((pixels[..., 0] > 200) & (pixels[..., 2] < 60)).any()
    with Image.open(shipped.path / "sample.png") as img:
        assert img.size == (800, 830)


def test_float16_weights_load_as_float32_and_agree(shipped, log_root: Path,
                                                   data_dir: Path) -> None:
    import h5py

    from sketchart.data.datasets import BatchLoader, load_npz
    from sketchart.modeldir import load_model_dir

    with h5py.File(shipped.path / "model.weights.h5") as h5:
        dtypes = set()
        h5.visititems(lambda n, o: dtypes.add(str(o.dtype)) if isinstance(o, h5py.Dataset)
                      else None)
    assert "float16" in dtypes and "float32" not in dtypes
    m16, m32 = load_model_dir(shipped.path), load_model_dir(log_root / "best")
    assert {str(v.dtype) for v in m16.weights} == {"float32"}
    for a, b in zip(m16.weights, m32.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-3,
                                   atol=1e-4)
    # the same test sketches through both models (z = mu): the same mixtures and costs
    sketches, labels = load_npz(data_dir / "aaron_sheep.npz").split("test")
    batch = next(iter(BatchLoader(sketches, labels, batch_size=len(sketches),
                                  max_seq_len=m32.hps.max_seq_len,
                                  scale_factor=m32.meta.scale_factor).eval_batches()))
    inputs = {"strokes5": batch.strokes5, "lengths": batch.lengths}
    eps = np.zeros((len(sketches), m32.hps.z_size), np.float32)
    out16 = m16.losses_for(inputs, 1.0, eps=eps)
    out32 = m32.losses_for(inputs, 1.0, eps=eps)
    assert float(out16["r_cost"]) == pytest.approx(float(out32["r_cost"]), rel=2e-3)
    for a, b in zip(out16["outputs"]["params"], out32["outputs"]["params"], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-2, atol=2e-3)
    # what ship measured and wrote in the README
    check = shipped.float16
    assert check["loaded_dtypes"] == ["float32"] and check["max_rel_weight_error"] < 1e-3
    assert check["test_sketches"] == 20 and check["max_rel_mixture_param_error"] < 2e-2
    assert check["p999_rel_mixture_param_error"] <= check["max_rel_mixture_param_error"]
    assert check["max_mu_error"] < 0.05 and check["sketches_mu_moved_over_0.05"] == 0
    assert abs(check["test_r_cost_mu_float16"] - check["test_r_cost_mu_float32"]) < 2e-3
    # same seed: most sampled points agree (the rest branch off once rounding flips a
    # discrete choice)
    assert check["mean_agreeing_fraction"] > 0.5
    assert "## float16 storage" in (shipped.path / "README.md").read_text()


# ------------------------------------------------------------- offline resolution
def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parity
def test_shipped_model_resolves_offline_for_cli_and_vpype(shipped, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import vpype_cli

    from sketchart.cli import app
    from sketchart.hub import store
    from vpype_sketchart import commands

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access: {args[:1]}")

    monkeypatch.setenv("SKETCHART_MODELS_DIR", str(shipped.path.parent))
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SKETCHART_MODEL_URL", _closed_port_url())
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(commands, "_MODELS", {})  # the plugin's per-process model cache

    # "sheep" is also in Google's catalog: the shipped model must win
    assert store.resolve("sheep") == store.ModelSource("sheep", "modeldir", shipped.path)
    assert store.load_model("sheep").hps.dec_rnn_size == 16

    out = tmp_path / "cli.svg"
    result = CliRunner().invoke(app, ["sample", "--category", "sheep", "-n", "2", "-t", "0.4",
                                      "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "2 sketch(es)" in result.output and out.read_text().startswith("<?xml")

    doc = vpype_cli.execute("sketchrnn-sample --category sheep -t 0.4 --seed 1 -n 2")
    assert doc is not None
    loaded = commands._MODELS["numpy:sheep"]  # the NumPy engine by default
    assert loaded.hps.dec_rnn_size == 16 and loaded.meta.steps == shipped.steps


def test_models_dir_override_to_a_missing_folder_ships_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sketchart.hub import store

    monkeypatch.setenv("SKETCHART_MODELS_DIR", str(tmp_path / "nowhere"))
    assert store.shipped_models() == {}
    monkeypatch.setenv("SKETCHART_MODELS_DIR", str(tmp_path))
    (tmp_path / "x").mkdir()
    assert store.shipped_models() == {}


# ------------------------------------------------------------------------ errors
def _one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from sketchart.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_log_root_without_best_is_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    err = _one_line_error(["models", "ship", str(tmp_path / "run"), "sheep",
                           "--models-root", str(tmp_path / "models")], capsys)
    assert "no best/ model" in err
    err = _one_line_error(["models", "ship", str(tmp_path / "absent"), "sheep",
                           "--models-root", str(tmp_path / "models")], capsys)
    assert "no such training log root" in err
    assert not (tmp_path / "models").exists()


def test_existing_target_needs_force(shipped, log_root: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in shipped.path.iterdir()}
    err = _one_line_error(["models", "ship", str(log_root), "sheep", "--models-root",
                           str(shipped.path.parent)], capsys)
    assert "already exists" in err and "--force" in err
    assert {p.name: p.stat().st_mtime_ns for p in shipped.path.iterdir()} == before


def test_bad_name_is_refused(log_root: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("../x", "Sheep", ".hidden"):
        err = _one_line_error(["models", "ship", str(log_root), name, "--models-root",
                               str(tmp_path)], capsys)
        assert "model name" in err
    # sheep_uncond and sheep-uncond are the same --category name: one folder only
    (tmp_path / "sheep-uncond").mkdir()
    err = _one_line_error(["models", "ship", str(log_root), "sheep_uncond", "--models-root",
                           str(tmp_path)], capsys)
    assert "sheep-uncond already holds" in err


def test_unknown_dataset_licence_asks_for_licence(log_root: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy_run(log_root, tmp_path / "run")
    config = run / "best" / "model_config.json"
    hps = json.loads(config.read_text())
    hps["data_set"] = ["my_doodles.npz"]
    config.write_text(json.dumps(hps))
    err = _one_line_error(["models", "ship", str(run), "doodles", "--models-root",
                           str(tmp_path / "models")], capsys)
    assert "my_doodles.npz" in err and "--licence" in err
    assert not (tmp_path / "models").exists()  # asked before anything is written


def test_force_replaces_and_missing_test_costs_are_evaluated(
        shipped, log_root: Path, data_dir: Path, tmp_path: Path) -> None:
    from sketchart.cli import app
    from sketchart.training.trainer import evaluate_model

    # copied two levels deeper: the data paths the run recorded (relative) no longer resolve
    run = _copy_run(log_root, tmp_path / "a" / "b" / "run")
    meta_path = run / "best" / "sketchart.json"
    meta = json.loads(meta_path.read_text())
    recorded = meta.pop("test")
    meta_path.write_text(json.dumps(meta))
    models = tmp_path / "models"
    shutil.copytree(shipped.path, models / "sheep")
    (models / "sheep" / "stale.txt").write_text("old")
    with pytest.raises(ShipError, match="no test costs.*--data-dir"):
        ship(run, "sheep", models, force=True)
    assert (models / "sheep" / "stale.txt").exists()  # the old model is untouched

    command = "sketchart train --log-root training/sheep --hparams 'num_steps=3'"
    result = CliRunner().invoke(app, [
        "models", "ship", str(run), "sheep", "--models-root", str(models), "--force",
        "--float32", "--command", command, "--hardware", "a test rig",
        "--data-dir", str(data_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "shipped" in result.output and "MB" in result.output
    assert sorted(p.name for p in models.iterdir()) == ["sheep"]
    assert not (models / "sheep" / "stale.txt").exists()
    text = (models / "sheep" / "README.md").read_text()
    assert f"```sh\n{command}\n```" in text and "Reconstructed" not in text
    assert "- hardware: a test rig" in text and "stored as float32" in text
    assert "drawn from the shipped float32 weights" in text
    assert "evaluated when shipping" in text
    # the library's evaluation of the test split (z sampled: near the trainer's numbers)
    expected = evaluate_model(run / "best", data_dir / "aaron_sheep.npz", "test")
    written = json.loads((models / "sheep" / "sketchart.json").read_text())["test"]
    assert written == pytest.approx({k: expected[k] for k in ("r_cost", "kl_cost")})
    assert written == pytest.approx(recorded, rel=0.05)
    assert f"| test | {written['r_cost']:.4f} |" in text


def test_a_failure_while_shipping_leaves_the_old_model(shipped, log_root: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    shutil.copytree(shipped.path, models / "sheep")
    (models / ".ship-sheep.killed").mkdir()  # what a killed ship leaves behind
    before = {p.name: p.read_bytes() for p in (models / "sheep").iterdir()}

    def broken(*args: object, **kwargs: object) -> None:
        raise ShipError("disk full (simulated)")

    monkeypatch.setattr(ship_mod, "render_curves", broken)
    with pytest.raises(ShipError, match="simulated"):
        ship(log_root, "sheep", models, force=True, float16=False, command="x")
    assert [p.name for p in models.iterdir()] == ["sheep"]  # no staging folder left
    assert {p.name: p.read_bytes() for p in (models / "sheep").iterdir()} == before


# ------------------------------------------------------------------- data licences
def test_dataset_licences() -> None:
    (omniglot,) = dataset_info(["omniglot.npz"])
    assert omniglot.licence == "MIT" and "brendenlake/omniglot" in omniglot.source
    kanji = dataset_info(["short_kanji.npz", "kanji.rdp100.npz"])
    assert [k.licence for k in kanji] == ["CC BY-SA 3.0"] * 2
    assert "KanjiVG" in kanji[0].title and not kanji[0].non_commercial
    (sheep,) = dataset_info(["../data/aaron_sheep.npz"])
    assert sheep.non_commercial and sheep.licence == "CC BY-NC 4.0"
    (cat,) = dataset_info(["The Eiffel Tower.npz"])
    assert cat.licence == "CC BY 4.0" and "Quick, Draw!" in cat.draws
    with pytest.raises(SketchartError, match="--licence"):
        dataset_info(["mine.npz"])
    (mine,) = dataset_info(["mine.npz"], licence="CC BY-NC-SA 4.0")
    assert mine.licence == "CC BY-NC-SA 4.0" and mine.non_commercial
    (free,) = dataset_info(["mine.npz"], licence="CC0 1.0")
    assert not free.non_commercial


# ------------------------------------------------------------------------ events
def _write_events(folder: Path, steps: range, purge_step: int | None = None,
                  value: float = 1.0) -> None:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=str(folder), purge_step=purge_step)
    for step in steps:
        writer.add_scalar("train/r_cost", value + step / 1000, global_step=step)
        if step % 40 == 0:
            writer.add_scalar("valid/r_cost", value, global_step=step)
    writer.close()


def test_events_of_a_resumed_run_drop_the_lost_steps(tmp_path: Path) -> None:
    import time

    _write_events(tmp_path, range(20, 101, 20), value=1.0)
    time.sleep(1.1)  # event file names carry the second they were made
    _write_events(tmp_path, range(80, 161, 20), purge_step=70, value=2.0)
    events = read_events(tmp_path)
    series = events.series("train/r_cost")
    assert [s for s, _ in series] == [20, 40, 60, 80, 100, 120, 140, 160]
    # steps 80 and 100 come from the resumed run only
    assert [v for s, v in series if s >= 80] == pytest.approx([2.08, 2.1, 2.12, 2.14, 2.16])
    assert events.series("valid/r_cost") == [(40, 1.0), (80, 2.0), (120, 2.0), (160, 2.0)]
    assert len(events.sessions) == 2 and events.last_step() == 160
    # a torn record at the end (a live or killed writer) is ignored
    last = max(tmp_path.glob("events.out.tfevents.*"))
    with open(last, "ab") as fh:
        fh.write(b"\x40\x00\x00\x00\x00\x00\x00\x00\x01\x02")
    assert read_events(tmp_path).series("train/r_cost") == series


def test_wall_time_sums_active_spans_and_skips_pauses() -> None:
    events = RunEvents(sessions=[
        [(1000.0, 0), (1010.0, 20), (1020.0, 40)],          # 20 s
        [(9000.0, 40), (9030.0, 60), (20000.0, 80), (20005.0, 100)],  # 30 s + pause + 5 s
    ])
    assert events.active_seconds(pause_gap_s=900) == pytest.approx(55.0)
    assert events.active_seconds(pause_gap_s=900, until_step=60) == pytest.approx(50.0)
    assert events.active_seconds(pause_gap_s=1e6) == pytest.approx(55.0 + 10970.0)


def test_decoder_only_curves_have_one_panel(tmp_path: Path) -> None:
    from PIL import Image
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=str(tmp_path))
    for step in range(0, 200, 20):
        writer.add_scalar("train/r_cost", 1.0 - step / 400, global_step=step)
        writer.add_scalar("train/kl_cost", 0.0, global_step=step)
    writer.close()
    both = RunEvents(scalars={"train/r_cost": [(0, 1.0), (100, 0.5)],
                              "train/kl_cost": [(0, 0.9), (100, 0.3)]},
                     sessions=[[(0.0, 0), (1.0, 100)]])
    one = render_curves(read_events(tmp_path), tmp_path / "one.png", title="uncond")
    two = render_curves(both, tmp_path / "two.png", title="vae", kl_floor=0.2)

    def frame_edges(path: Path) -> int:
        """Vertical plot-frame edges: runs of columns dark over half the image height."""
        with Image.open(path) as img:
            dark = (np.asarray(img.convert("L")) < 180).mean(axis=0) > 0.5
        return int(np.sum(dark[1:] & ~dark[:-1]) + dark[0])

    assert frame_edges(one) == 2  # r_cost only: the kl_cost of a decoder-only run is 0
    assert frame_edges(two) == 4
