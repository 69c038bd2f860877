"""Sharded datasets: written, memory-mapped, streamed per process and epoch, resumed, and
iterated in bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sketchart.data.shards import (
    ShardStream,
    ndjson_to_shards,
    read_split,
    scale_factor_of,
    shard_paths,
    split_lengths,
    split_size,
    write_shards,
)
from sketchart.strokes import scale_factor


def _sketches(n: int, seed: int, lo: int = 5, hi: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(lo, hi))
        s = rng.integers(-20, 21, size=(k, 3)).astype(np.int16)
        s[:, 2] = 0
        s[-1, 2] = 1
        s[0, 0] = i % 30000  # an identity for the coverage checks
        out.append(s)
    return out


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    splits: dict[str, tuple[list[np.ndarray], np.ndarray]] = {
              "train": (_sketches(230, 1), np.arange(230) % 3),
              "valid": (_sketches(20, 2), np.zeros(20, np.int32)),
              "test": (_sketches(20, 3), np.zeros(20, np.int32))}
    return write_shards(tmp_path / "toy.npz", splits, ["a", "b", "c"], shard_size=50)


def test_write_and_read_back(shards: list[Path]) -> None:
    assert [p.name for p in shards][0] == "toy-00000-of-00005.npz" and len(shards) == 5
    assert shard_paths([shards[0].parent]) == shards
    train = [s for p in shards for s in read_split(p, "train")[0]]
    assert len(train) == 230
    assert np.array_equal(train[7], _sketches(230, 1)[7])
    assert scale_factor_of(shards) == pytest.approx(scale_factor(train), rel=1e-9)
    assert sum(len(read_split(p, "valid")[0]) for p in shards) == 20
    assert int(max(split_lengths(p, "train").max() for p in shards)) <= 30


def _ids(stream: ShardStream, batches: int) -> list[int]:
    out: list[int] = []
    for _ in range(batches):
        batch = stream.random_batch()
        # the first point's dx, unscaled (random_scale_factor=0)
        out.extend(np.rint(batch.strokes5[:, 1, 0] * stream.scale_factor).astype(int))
    return out


def _stream(shards: list[Path], pid: int = 0, count: int = 1, batch: int = 10
            ) -> ShardStream:
    return ShardStream(shards, batch_size=batch, max_seq_len=40, scale_factor=2.0, seed=4,
                       process_id=pid, num_processes=count)


def test_epochs_cover_every_sketch_once_in_a_new_order(shards: list[Path]) -> None:
    stream = _stream(shards, batch=23)
    first, second = _ids(stream, 10), _ids(stream, 10)
    assert sorted(first) == sorted(second) == list(range(230))
    assert first != second


def test_processes_read_disjoint_shares(shards: list[Path]) -> None:
    # 5 shards (4 x 50 + 30) over 2 processes: epoch 0 gives 3 of them (150 sketches)
    # to process 0 and the other 2 (80) to process 1
    a, b = _stream(shards, 0, 2, 5), _stream(shards, 1, 2, 5)
    ids_a, ids_b = _ids(a, 30), _ids(b, 16)
    assert len(ids_a) + len(ids_b) == 230 and sorted(ids_a + ids_b) == list(range(230))
    assert not set(ids_a) & set(ids_b)
    assert len(set(ids_a)) == len(ids_a) and len(set(ids_b)) == len(ids_b)
    # fewer shards than processes: every shard is split by rows
    c = [_stream(shards[:1], pid, 3, 2) for pid in range(3)]
    rows = [set(_ids(s, 8)) for s in c]
    assert not (rows[0] & rows[1]) and not (rows[1] & rows[2])


def test_resume_continues_the_stream(shards: list[Path]) -> None:
    stream = _stream(shards, batch=7)
    _ids(stream, 40)  # into the second epoch
    state = stream.get_state()
    expected = _ids(stream, 5)
    again = _stream(shards, batch=7)
    again.set_state(state)
    assert _ids(again, 5) == expected


RSS_SCRIPT = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    import numpy as np
    from sketchart.data.shards import ShardStream, write_shard

    folder, shards, per_shard = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    paths = [folder / f"syn-{k:05d}.npz" for k in range(shards)]
    # written by one process, read by another: the peak RSS is the reader's own
    for k in range(shards if sys.argv[4] == "write" else 0):
        lengths = rng.integers(10, 200, size=per_shard)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        points = rng.integers(-30, 31, size=(int(offsets[-1]), 3)).astype(np.int16)
        points[:, 2] = 0
        points[offsets[1:] - 1, 2] = 1
        arrays = {"format": np.array("sketchart-shard-1"), "class_names": np.array(["x"])}
        for split in ("train", "valid", "test"):
            n = per_shard if split == "train" else 1
            arrays[f"{split}_points"] = points[: offsets[n]]
            arrays[f"{split}_offsets"] = offsets[: n + 1]
            arrays[f"{split}_labels"] = np.zeros(n, np.int32)
            arrays[f"{split}_stats"] = np.zeros(3)
        np.savez(paths[k], **arrays)
        del points, arrays
    if sys.argv[4] == "write":
        raise SystemExit(0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stream = ShardStream(paths, batch_size=100, max_seq_len=200, scale_factor=10.0,
                         random_scale_factor=0.15, augment_stroke_prob=0.1, seed=1)
    total = shards * per_shard
    for _ in range(total // 100):
        stream.random_batch()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = sum(p.stat().st_size for p in paths)
    growth = (peak - before) / 1024
    print(f"sketches={total} data={size / 2**20:.0f}MiB rss_growth={growth:.0f}MiB")
""")


def _rss_growth(tmp_path: Path, shards: int, per_shard: int) -> tuple[float, float]:
    for mode in ("write", "read"):
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(tmp_path), str(shards),
                              str(per_shard), mode], capture_output=True, text=True,
                             timeout=3000, check=False, env={**os.environ})
        assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout.strip())
    fields = dict(f.split("=") for f in out.stdout.split())
    return float(fields["rss_growth"].removesuffix("MiB")), float(
        fields["data"].removesuffix("MiB"))


def test_streaming_memory_stays_bounded_small(tmp_path: Path) -> None:
    growth, data = _rss_growth(tmp_path, shards=4, per_shard=5000)
    assert growth < 200, (growth, data)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_streaming_memory_stays_bounded_2m(tmp_path: Path) -> None:
    growth, data = _rss_growth(tmp_path, shards=20, per_shard=100_000)
    assert data > 1024  # more data than the bound
    assert growth <= 1024, (growth, data)


@pytest.mark.timeout(900)
def test_build_shards_and_train(tmp_path: Path, sheep_npz: Path) -> None:
    pytest.importorskip("keras")
    from typer.testing import CliRunner

    from sketchart.cli import app
    from sketchart.training.trainer import train

    result = CliRunner().invoke(app, ["dataset", "build", str(sheep_npz), "-o",
                                      str(tmp_path / "sheep.npz"), "--shard-size", "300",
                                      "--max-seq-len", "60"])
    assert result.exit_code == 0, result.output
    shards = sorted(tmp_path.glob("sheep-*-of-*.npz"))
    assert len(shards) >= 2
    out = train(tmp_path / "run", "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3,"
                f"batch_size=4,num_steps=2,save_every=2,data_set=[{tmp_path}]", seed=0,
                progress=False, samples=0, tensorboard=False)
    assert out.steps == 2 and out.best_valid is not None


def test_ndjson_folder_streams_into_shards(tmp_path: Path) -> None:
    from conftest import shared_path

    folder = tmp_path / "qd"
    folder.mkdir()
    for name in ("cat", "airplane", "ambulance"):
        (folder / f"{name}.ndjson").write_bytes(
            shared_path("data", "quickdraw", "simplified", f"{name}.ndjson").read_bytes())
    shards, counts = ndjson_to_shards(folder, tmp_path / "out" / "qd.npz", shard_size=10,
                                      holdout=0.1, seed=1)
    assert shards[0].name.endswith(f"-of-{len(shards):05d}.npz") and len(shards) > 2
    total = counts["train"] + counts["valid"] + counts["test"]
    assert sum(split_size(p, "train") for p in shards) == counts["train"]
    assert total > 30 and counts["valid"] and counts["test"]
    labels = np.concatenate([read_split(p, "train")[1] for p in shards[:2]])
    assert len(set(labels.tolist())) == 3  # the files are read in turn: classes mixed
