"""Multi-process data parallel on 2 local CPU processes equals one process.

Two processes x global batch B against one process x batch B, same seed and data order:
the per-step training losses (TensorBoard, logged every step) and the weights in
``last/`` agree within float32 rounding. Every process is its own subprocess (a backend's
distributed runtime starts once per process); the CLI's launcher is tested end to end:
one summary line, ``--resume`` of every process from the same ``last/``, and a worker
killed mid-run ending the run with one line and a complete ``last/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from typer.testing import CliRunner

from sketchart.cli import app
from sketchart.training.distributed import Cluster
from sketchart.training.launcher import free_ports, worker_args, worker_env
from sketchart.training.result import TrainError

TINY = "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3,batch_size=4,max_seq_len=40"

WORKER = textwrap.dedent("""
    import sys
    from sketchart.training.trainer import train
    log_root, hparams, distributed = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    result = train(log_root, hparams, distributed=distributed, seed=5, progress=False,
                   samples=0, log_every=1)
    print(result.summary())
""")


def _env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "", "SKETCHART_DISTRIBUTED_TIMEOUT": "120",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()),
                                                        os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def small_npz(sheep_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sketchart.data.datasets import load_npz
    from sketchart.data.npzsafe import write_npz

    sheep = load_npz(sheep_npz)

    def pick(xs: list[np.ndarray], k: int) -> list[np.ndarray]:
        return [x.astype(np.int16) for x in xs if len(x) <= 40][:k]

    path = tmp_path_factory.mktemp("data") / "small.npz"
    write_npz(path, {"train": pick(sheep.train, 64), "valid": pick(sheep.valid, 8),
                     "test": pick(sheep.test, 8)})
    return path


def _run_workers(backend: str, count: int, log_root: Path, hparams: str) -> list[str]:
    """Run :data:`WORKER` as ``count`` processes (1: not distributed); their stdouts."""
    ports = free_ports(count + 1)
    procs = [subprocess.Popen(
        [sys.executable, "-c", WORKER, str(log_root), hparams, "1" if count > 1 else "0"],
        env=worker_env(pid, count, ports, _env(backend)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for pid in range(count)]
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return outs


def _losses_and_weights(log_root: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    from tools.tbevents import read_events

    costs = np.array([v for _, v in read_events(log_root).series("train/cost")])
    with np.load(log_root / "last" / "train_state.npz") as data:
        weights = [data[k] for k in sorted(data.files) if k.startswith("model_")]
    return costs, weights


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)) if a.size else 0.0


def _compare(backend: str, tmp_path: Path, small_npz: Path, steps: int) -> None:
    text = f"{TINY},num_steps={steps},save_every={steps},data_set={small_npz}"
    if backend == "tensorflow":
        # TensorFlow's replicas draw their own random numbers: nothing random here
        text += ",conditional=false,use_recurrent_dropout=false"
    one, two = tmp_path / "one", tmp_path / "two"
    _run_workers(backend, 1, one, text)
    outs = _run_workers(backend, 2, two, text)
    assert len(list(two.glob("events.out.tfevents.*"))) == 1  # process 0's only
    (c1, w1), (c2, w2) = _losses_and_weights(one), _losses_and_weights(two)
    assert len(c1) == len(c2) == steps
    changed = sum(not np.array_equal(a, b) for a, b in zip(w1, w2))
    loss_rel = max(abs(a - b) / abs(a) for a, b in zip(c1, c2))
    weight_rel = max(_relative(a, b) for a, b in zip(w1, w2))
    print(f"{backend}: {steps} steps, 2 processes vs 1: worst relative difference "
          f"losses {loss_rel:.3g}, weights {weight_rel:.3g} ({changed} of {len(w1)} "
          "variables not bit-equal)")
    assert loss_rel < 1e-5 and weight_rel < 1e-4, (loss_rel, weight_rel)
    assert all("trained" in out for out in outs)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_processes_equal_one(backend: str, tmp_path: Path, small_npz: Path) -> None:
    pytest.importorskip("jax" if backend == "jax" else "tensorflow")
    _compare(backend, tmp_path, small_npz, steps=3)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_processes_equal_one_20_steps(backend: str, tmp_path: Path,
                                          small_npz: Path) -> None:
    _compare(backend, tmp_path, small_npz, steps=20)


def test_global_batch_must_divide() -> None:
    with pytest.raises(TrainError, match="does not divide over 3 processes"):
        Cluster(0, 3, "jax").check_batch(100)
    Cluster(1, 4, "jax").check_batch(100)
    assert Cluster(0, 2, "jax").is_chief and not Cluster(1, 2, "jax").is_chief


def test_worker_args_round_trip(tmp_path: Path) -> None:
    args = worker_args(log_root=tmp_path, data_dir=None, hparams="num_steps=2",
                       resume=True, bucketed=False, seed=3, jit_compile=False,
                       tensorboard=False, samples=0, quiet=True)
    assert args == ["--log-root", str(tmp_path), "--samples", "0", "--hparams",
                    "num_steps=2", "--seed", "3", "--resume", "--no-tensorboard", "--quiet"]
    # every option a worker's train() takes comes back from `sketchart train`'s parser
    args = worker_args(log_root=tmp_path, data_dir="data", hparams="num_steps=2",
                       resume=False, bucketed=True, seed=None, jit_compile=True,
                       tensorboard=True, samples=4, quiet=False, precision="bfloat16")
    seen: dict[str, Any] = {}

    def fake_train(log_root: Path, hparams: str, **kwargs: Any) -> mock.Mock:
        seen.update(kwargs, log_root=log_root, hparams=hparams)
        return mock.Mock(summary=lambda: "trained")

    with mock.patch("sketchart.training.trainer.train", fake_train):
        result = CliRunner().invoke(app, ["train", *args, "--distributed"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "log_root": tmp_path, "hparams": "num_steps=2", "data_dir": "data", "resume": False,
        "bucketed": True, "precision": "bfloat16", "data_parallel": False,
        "distributed": True, "seed": None, "jit_compile": True, "progress": True,
        "tensorboard": True, "samples": 4}
    env = worker_env(1, 2, [1000, 1001, 1002], {})
    assert env["SKETCHART_PROCESS_ID"] == "1" and env["SKETCHART_COORDINATOR"].startswith(
        "127.0.0.1:")
    assert '"index": 1' in env["TF_CONFIG"]


def _cli(tmp_path: Path, log_root: Path, hparams: str, *extra: str
         ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sketchart", "train", "--local-processes", "2",
         "--log-root", str(log_root), "--hparams", hparams, "--seed", "1", "--samples",
         "0", "-q", *extra], env=_env("jax"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path)


@pytest.mark.timeout(900)
def test_launcher_runs_and_resumes(tmp_path: Path, small_npz: Path) -> None:
    pytest.importorskip("jax")
    log_root = tmp_path / "run"
    text = f"{TINY},num_steps=2,save_every=2,data_set={small_npz}"
    proc = _cli(tmp_path, log_root, text)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("trained 2 steps") == 1, out  # process 0's summary only
    proc = _cli(tmp_path, log_root, "num_steps=4", "--resume")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "trained 4 steps" in out, out
    import json

    state = json.loads((log_root / "last" / "train_state.json").read_text())
    assert state["step"] == 4


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


@pytest.mark.timeout(900)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_dying_worker_stops_the_run(tmp_path: Path, small_npz: Path) -> None:
    pytest.importorskip("jax")
    from sketchart.training.checkpoint import has_train_state

    log_root = tmp_path / "run"
    proc = _cli(tmp_path, log_root, f"{TINY},num_steps=100000,save_every=2,"
                f"data_set={small_npz}")
    try:
        deadline = time.monotonic() + 400
        while not has_train_state(log_root / "last") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(0.5)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[1], 9)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert lines[-1].startswith("Error: worker 1 of 2 was killed by signal 9"), err
    # process 0 saw the broken collective and said so in one line
    assert any("process 0 of 2" in ln for ln in lines), err
    assert has_train_state(log_root / "last")
    assert not [p for p in log_root.iterdir() if p.name.startswith(".last")]


@pytest.mark.timeout(900)
def test_launcher_trains_on_shards(tmp_path: Path, small_npz: Path) -> None:
    """Each process streams its own rows of the global batch from its own shards."""
    pytest.importorskip("jax")
    from sketchart.data.datasets import load_npz
    from sketchart.data.shards import write_shards

    data = load_npz(small_npz)
    splits = {s: data.split(s) for s in ("train", "valid", "test")}
    write_shards(tmp_path / "shards" / "small.npz", splits, data.class_names, shard_size=16)
    proc = _cli(tmp_path, tmp_path / "run", f"{TINY},num_steps=2,save_every=2,"
                f"data_set=[{tmp_path / 'shards'}]")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("trained 2 steps") == 1, out
