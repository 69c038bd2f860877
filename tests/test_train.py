"""The trainer: schedules, checkpoints, resume, TensorBoard, bad input (tiny models).

Every run uses a small dataset cut from the real aaron_sheep file (sketches of at most 60
points) and a tiny model, so a run takes seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_small_sheep

from sketchart.errors import SketchartError
from sketchart.hparams import HParams, HParamsError

train_mod = pytest.importorskip("sketchart.training.trainer")
from sketchart.training.trainer import (  # noqa: E402
    TrainError,
    bucket_steps,
    kl_weight_at,
    learning_rate_at,
    train,
)

TINY = ("data_set=small.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,"
        "batch_size=10")
QUIET = {"progress": False, "samples": 0, "tensorboard": False}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    """``small.npz``: 60 train / 20 valid / 20 test real sheep of at most 60 points."""
    return write_small_sheep(tmp_path_factory.mktemp("data"), sheep_npz, 60, 60, held_out=20)


RUN_HP = TINY + ",save_every=4,use_recurrent_dropout=true"


@pytest.fixture(scope="module")
def run8(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One 8-step run (saves at 4 and 8) with TensorBoard and sample images."""
    root = tmp_path_factory.mktemp("run8") / "r"
    result = train(root, RUN_HP + ",num_steps=8", data_dir=data_dir, seed=5, progress=False,
                   samples=2)
    return root, result


def _weights(model_dir: Path) -> list[np.ndarray]:
    import h5py

    arrays: list[np.ndarray] = []
    with h5py.File(model_dir / "model.weights.h5") as fh:
        fh.visititems(lambda name, obj: arrays.append(obj[()])
                      if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _events(log_root: Path) -> dict[str, list[tuple[int, object]]]:
    """TensorBoard events by tag: ``[(step, value or 'image'), ...]`` (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    tags: dict[str, list[tuple[int, object]]] = {}
    for path in sorted(log_root.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            record = data[pos + 12:pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                item = "image" if value.HasField("image") else value.simple_value
                tags.setdefault(value.tag, []).append((event.step, item))
    return tags


# ---------------------------------------------------------------------------- schedules
def test_learning_rate_decays_towards_its_floor() -> None:
    hps = HParams()
    assert learning_rate_at(hps, 0) == pytest.approx(1e-3)
    # the reference's formula, magenta's defaults, at step 10,000
    assert learning_rate_at(hps, 10_000) == pytest.approx(
        (1e-3 - 1e-5) * 0.9999 ** 10_000 + 1e-5)
    values = [learning_rate_at(hps, s) for s in range(0, 500_000, 5000)]
    assert all(a > b for a, b in itertools.pairwise(values[:40]))
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert min(values) >= hps.min_learning_rate
    assert learning_rate_at(hps, 10 ** 7) == pytest.approx(hps.min_learning_rate)


def test_kl_weight_rises_from_its_start() -> None:
    hps = HParams()
    assert kl_weight_at(hps, 0) == pytest.approx(0.01)
    assert kl_weight_at(hps, 20_000) == pytest.approx(0.5 - 0.49 * 0.99995 ** 20_000)
    assert kl_weight_at(hps, 10 ** 7) == pytest.approx(0.5)
    values = [kl_weight_at(hps, s) for s in range(0, 200_000, 1000)]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_bucket_steps_cover_the_longest_sketch_and_its_end() -> None:
    assert bucket_steps(np.array([3, 17, 9]), 250) == 24  # 17 + 1 -> a multiple of 8
    assert bucket_steps(np.array([16]), 250) == 24
    assert bucket_steps(np.array([15]), 250) == 16
    assert bucket_steps(np.array([250, 3]), 250) == 250  # never beyond N_max
    assert bucket_steps(np.array([245]), 250) == 248
    assert bucket_steps(np.array([248]), 250) == 250


# ------------------------------------------------------------------------ a real run
@pytest.mark.parity
def test_a_run_writes_loadable_best_and_last_and_tensorboard(run8: tuple[Path, object],
                                                             ) -> None:
    from sketchart.modeldir import load_model_dir

    root, result = run8
    assert result.steps == 8
    assert [h["step"] for h in result.history if h["split"] == "valid"] == [4, 8]
    for name in ("best", "last"):
        model = load_model_dir(root / name)
        # max_seq_len unset: the longest sketch over train, valid and test
        assert model.hps.max_seq_len == 60 == model.meta.max_seq_len
        assert model.meta.scale_factor > 0
    last = json.loads((root / "last" / "sketchart.json").read_text())
    assert last["steps"] == 8
    best = json.loads((root / "best" / "sketchart.json").read_text())
    assert best["steps"] == result.best_step
    assert set(best["valid"]) >= {"r_cost", "kl_cost"} and best["test"] is not None
    state = json.loads((root / "last" / "train_state.json").read_text())
    assert state["step"] == 8 and state["seed"] == 5
    # no temporaries: the hidden lock file stays (an flock on it, released by the OS)
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == [".lock"]
    events = _events(root)
    for tag in ("train/cost", "train/r_cost", "train/kl_cost", "train/lr",
                "train/kl_weight", "train/steps_per_s", "valid/cost", "valid/r_cost",
                "valid/kl_cost", "test/cost", "test/r_cost", "test/kl_cost"):
        assert tag in events, tag
    assert [s for s, _ in events["valid/r_cost"]] == [4, 8]
    assert events["train/lr"][-1][1] == pytest.approx(learning_rate_at(result_hps(root), 7))
    assert events["train/kl_weight"][-1][1] == pytest.approx(
        kl_weight_at(result_hps(root), 7))
    assert [x for _, x in events["samples/free"]] == ["image", "image"]
    assert "samples/reconstructions" in events


def result_hps(root: Path) -> HParams:
    return HParams.from_json(root / "last" / "model_config.json")


def _same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a / "last"), _weights(b / "last")
    assert len(wa) == len(wb) > 10
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    sa = np.load(a / "last" / "train_state.npz")
    sb = np.load(b / "last" / "train_state.npz")
    for key in sa.files:  # Adam moments, iteration count, random-stream states
        if key == "variable_names":  # Keras numbers its seed generators per process
            continue
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.mark.parity
def test_resume_continues_bit_for_bit(run8: tuple[Path, object], data_dir: Path,
                                      tmp_path: Path) -> None:
    """8 steps straight == 4 steps, stop, resume, 4 more: identical weights and state."""
    split = tmp_path / "split"
    train(split, RUN_HP + ",num_steps=4", data_dir=data_dir, seed=5, **QUIET)
    result = train(split, "num_steps=8", data_dir=data_dir, resume=True, **QUIET)
    assert result.steps == 8
    _same_run(run8[0], split)
    # the resumed run reports the whole run's evaluations, as the straight one does
    straight = run8[1]
    assert [(h["step"], h["split"]) for h in result.history] == [
        (h["step"], h["split"]) for h in straight.history]
    for a, b in zip(result.history, straight.history):
        assert a["r_cost"] == pytest.approx(b["r_cost"], rel=1e-6)
    assert result.total_time_s >= result.wall_time_s > 0


@pytest.mark.slow
def test_bucketed_resume_continues_bit_for_bit(data_dir: Path, tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    kw = {"data_dir": data_dir, "bucketed": True, **QUIET}
    train(straight, RUN_HP + ",num_steps=8", seed=5, **kw)
    train(split, RUN_HP + ",num_steps=4", seed=5, **kw)
    train(split, "num_steps=8", resume=True, **kw)
    _same_run(straight, split)


def test_explicit_max_seq_len_drops_longer_sketches_with_a_count(data_dir: Path,
                                                                tmp_path: Path) -> None:
    from sketchart.data.datasets import load_npz

    data = load_npz(data_dir / "small.npz")
    longer = {
        s: sum(len(x) > 40 for x in data.split(s)[0]) for s in ("train", "valid", "test")
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(tmp_path / "r", TINY + ",max_seq_len=40,num_steps=1", data_dir=data_dir,
              seed=0, **QUIET)
    text = " ".join(str(w.message) for w in caught)
    assert "max_seq_len=40" in text
    for split, n in longer.items():
        assert f"{n} of {len(data.split(split)[0])} {split}" in text
    assert HParams.from_json(tmp_path / "r" / "best" / "model_config.json").max_seq_len == 40


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("hparams, error, match", [
    ("num_stepz=3", HParamsError, "unknown hparam 'num_stepz'"),
    ("data_set=nothing_here.npz", SketchartError, "nothing_here.npz"),
    ("max_seq_len=2", TrainError, "train split is empty"),
    ("batch_size=1000", TrainError, "fewer than batch_size=1000"),
])
def test_bad_input_fails_before_training(data_dir: Path, tmp_path: Path, hparams: str,
                                         error: type, match: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKETCHART_DATA_URL", raising=False)
    text = TINY + ",num_steps=1," + hparams
    with pytest.raises(error, match=match) as info:
        train(tmp_path / "r", text, data_dir=data_dir, seed=0, **QUIET)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r" / "last").exists() and not (tmp_path / "r" / "best").exists()


def test_empty_split_is_named(tmp_path: Path, data_dir: Path) -> None:
    from sketchart.data.datasets import load_npz
    from sketchart.data.npzsafe import write_npz

    data = load_npz(data_dir / "small.npz")
    write_npz(tmp_path / "novalid.npz", {"train": data.train, "valid": [], "test": data.test})
    with pytest.raises(TrainError, match="novalid.npz: the valid split is empty"):
        train(tmp_path / "r", TINY + ",data_set=novalid.npz", data_dir=tmp_path, **QUIET)


def test_unwritable_log_root_is_refused(data_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainError, match="cannot create the log root"):
        train(blocker / "run", TINY + ",num_steps=1", data_dir=data_dir, **QUIET)


def test_existing_run_needs_resume_and_resume_needs_a_run(
        run8: tuple[Path, object], data_dir: Path, tmp_path: Path) -> None:
    import shutil

    with pytest.raises(TrainError, match="nothing to resume"):
        train(tmp_path / "empty", TINY, data_dir=data_dir, resume=True, **QUIET)
    root = tmp_path / "r"
    shutil.copytree(run8[0], root)
    before = _weights(root / "last")
    with pytest.raises(TrainError, match="already holds a training run"):
        train(root, TINY + ",num_steps=2", data_dir=data_dir, **QUIET)
    with pytest.raises(TrainError, match="only num_steps, save_every may change"):
        train(root, "dec_rnn_size=32", data_dir=data_dir, resume=True, **QUIET)
    with pytest.raises(TrainError, match="bucketed"):
        train(root, "num_steps=9", data_dir=data_dir, resume=True, bucketed=True, **QUIET)
    for x, y in zip(before, _weights(root / "last")):  # nothing was lost
        np.testing.assert_array_equal(x, y)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a learning rate of 1e30 from step 4 on makes the weights overflow for real
    from sketchart.training import run as run_mod

    real = run_mod.learning_rate_at
    monkeypatch.setattr(run_mod, "learning_rate_at",
                        lambda hps, step: real(hps, step) if step < 4 else 1e30)
    root = tmp_path / "r"
    with pytest.raises(TrainError, match=r"non-finite .* the last good checkpoint is .*last "
                                         r"\(step 4\)"):
        train(root, TINY + ",num_steps=50,save_every=4", data_dir=data_dir, seed=0, **QUIET)
    from sketchart.modeldir import load_model_dir

    model = load_model_dir(root / "last")
    assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)
    assert json.loads((root / "last" / "train_state.json").read_text())["step"] == 4


def _kill_at_random_moments(root: Path, data_dir: Path, kills: int) -> None:
    """Train in a subprocess saving every step; kill -9 it at random moments (resuming
    each time); after every kill best/ and last/ load and last/ resumes."""
    import time

    from sketchart.modeldir import load_model_dir
    from sketchart.training.checkpoint import read_train_state, recover_dir

    script = textwrap.dedent(f"""
        import sys
        from sketchart.training.trainer import train
        train({str(root)!r}, {TINY + ",num_steps=100000,save_every=1"!r},
              data_dir={str(data_dir)!r}, seed=0, progress=False, samples=0,
              tensorboard=False, resume=len(sys.argv) > 1)
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rng = np.random.default_rng(0)
    for attempt in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", script, *(["r"] * (attempt > 0))],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start_step = _step(root)
        deadline = time.monotonic() + 300
        # let it save twice more, then kill it somewhere inside a step or a save
        while _step(root) < start_step + 2 and time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"training died: {err[-2000:]}")
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0, 0.5)))
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        for name in ("best", "last"):
            recover_dir(root / name)
            load_model_dir(root / name)
        assert read_train_state(root / "last").step >= start_step + 2


def test_kill_minus_9_never_leaves_an_unloadable_model(data_dir: Path, tmp_path: Path) -> None:
    _kill_at_random_moments(tmp_path / "r", data_dir, kills=1)


@pytest.mark.slow
def test_kill_minus_9_many_times(data_dir: Path, tmp_path: Path) -> None:
    _kill_at_random_moments(tmp_path / "r", data_dir, kills=6)


def _step(root: Path) -> int:
    try:
        return int(json.loads((root / "last" / "train_state.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def test_ctrl_c_saves_the_steps_done_since_the_last_save(data_dir: Path,
                                                        tmp_path: Path) -> None:
    import signal

    root = tmp_path / "r"
    script = textwrap.dedent(f"""
        from sketchart.training.trainer import train
        train({str(root)!r}, {TINY + ",num_steps=100000,save_every=100000"!r},
              data_dir={str(data_dir)!r}, seed=0, samples=0, tensorboard=False)
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    for line in proc.stderr:  # the progress lines come every 20 steps off a terminal
        if line.startswith("step 20/"):
            break
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, err[-2000:]
    step = _step(root)
    assert step >= 20 and f"stopped at step {step} (saved); continue with --resume" in err
    from sketchart.modeldir import load_model_dir

    load_model_dir(root / "last")


@pytest.mark.parity
def test_jax_training_never_imports_tensorflow(data_dir: Path, tmp_path: Path) -> None:
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("runs in the JAX pass (a subprocess either way)")
    script = textwrap.dedent(f"""
        import sys
        from sketchart.training.trainer import train
        train({str(tmp_path / "r")!r}, {TINY + ",num_steps=2"!r}, data_dir={str(data_dir)!r},
              seed=0, progress=False, samples=2)
        assert "tensorflow" not in sys.modules, "tensorflow was imported"
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parity
def test_evaluate_model_reads_a_log_root(run8: tuple[Path, object], data_dir: Path) -> None:
    from sketchart.training.trainer import evaluate_model

    root, result = run8
    out = evaluate_model(root, data_dir / "small.npz", "test", kl_weight=0.25)
    assert out["sketches"] == 20 and out["dropped"] == 0
    assert math.isfinite(out["r_cost"]) and out["kl_cost"] >= 0.2 - 1e-6
    assert out["cost"] == pytest.approx(out["r_cost"] + 0.25 * out["kl_cost"], rel=1e-5)
    # best/ is the model the trainer evaluated on test (only the z noise differs)
    assert out["r_cost"] == pytest.approx(result.test["r_cost"], rel=0.05)


# ------------------------------------------------------------- checkpoints and images
def test_atomic_dir_replaces_whole_directories_or_nothing(tmp_path: Path) -> None:
    from sketchart.training.checkpoint import atomic_dir, recover_dir

    target = tmp_path / "last"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (target / "a.txt").read_text() == "one"
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("half")
        raise RuntimeError("crash while writing")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    # a fallback swap killed between its two renames: recover_dir puts the old one back
    (tmp_path / "last").rename(tmp_path / ".last.old")
    recover_dir(target)
    assert (target / "b.txt").read_text() == "two"


def test_train_state_round_trip(tmp_path: Path) -> None:
    from sketchart.training.checkpoint import TrainState, read_train_state, write_train_state

    rng = np.random.default_rng(0)
    state = TrainState(
        step=12, best_valid_cost=0.5, best_step=10, seed=3,
        data_state={"bit_generator": "PCG64", "state": {"int": str(2 ** 100)},
                    "arr": np.arange(3, dtype=np.uint32)},
        options={"bucketed": True}, elapsed_s=1.5,
        model_variables=[rng.normal(size=(2, 3)).astype(np.float32),
                         np.array([7, 9], np.uint32)],
        optimizer_variables=[np.array(12, np.int64)], variable_names=["w", "seed"])
    write_train_state(tmp_path, state)
    back = read_train_state(tmp_path)
    assert (back.step, back.best_valid_cost, back.best_step, back.seed) == (12, 0.5, 10, 3)
    assert back.options == {"bucketed": True}
    assert back.data_state["state"] == {"int": str(2 ** 100)}
    np.testing.assert_array_equal(back.data_state["arr"], np.arange(3))
    for a, b in zip(state.model_variables + state.optimizer_variables,
                    back.model_variables + back.optimizer_variables):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    (tmp_path / "train_state.npz").write_bytes(b"garbage")
    with pytest.raises(SketchartError, match="train_state.npz: unreadable"):
        read_train_state(tmp_path)


def test_sketches_render_to_images(sheep_npz: Path) -> None:
    from sketchart.data.datasets import load_npz
    from sketchart.training.tblog import render_grid, render_strokes3

    sheep = load_npz(sheep_npz).test[:5]
    image = render_strokes3(sheep[0], size=64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    ink = image.min(axis=2) < 128
    assert 30 < ink.sum() < 64 * 64 / 2  # lines drawn, not a filled square
    rows, cols = np.nonzero(ink)
    assert rows.min() >= 4 and cols.min() >= 4 and rows.max() < 60 and cols.max() < 60
    grid = render_grid(sheep, cols=3, cell=32, gap=2)
    assert grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)
    assert (render_strokes3(np.zeros((0, 3)), size=16) == 255).all()
