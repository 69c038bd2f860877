"""Datasets larger than memory: sharded sketch files read through memory maps.

A shard is an uncompressed ``.npz`` (``sketchart dataset build --shard-size N`` writes
them) holding each split as flat arrays, so a reader maps the file instead of loading it::

    format             "sketchart-shard-1"
    class_names        str [k]
    <split>_points     int16 [total points, 3]    every sketch of the split, end to end
    <split>_offsets    int64 [n + 1]              sketch i is points[offsets[i]:offsets[i+1]]
    <split>_labels     int32 [n]
    <split>_stats      float64 [3]                count, sum, sum of squares of dx and dy

The stats make the scale factor (the pooled std of ``dx, dy`` over the training split) one
pass over the data, done once when the shards are written. :class:`ShardStream` draws the
training batches: every epoch the shard order and the order inside each shard are
shuffled with the run's seed; process ``p`` of ``P`` reads only its shards (``order[p::P]``,
or every ``P``-th sketch when there are fewer shards than processes); one shard is mapped at
a time, so the memory used for data stays about one shard's pages. NumPy only.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.data.batches import Batch
from sketchart.errors import SketchartError
from sketchart.strokes import augment_strokes, pad_batch, random_scale

__all__ = ["FORMAT", "ShardStream", "is_shard", "ndjson_to_shards", "scale_factor_of",
           "shard_paths", "split_size", "write_shard", "write_shards"]

FORMAT = "sketchart-shard-1"
_SPLITS = ("train", "valid", "test")


def _stats(sketches: Sequence[np.ndarray]) -> np.ndarray:
    count = total = squares = 0.0
    for s in sketches:
        xy = np.asarray(s[:, :2], np.float64)
        count, total, squares = count + xy.size, total + xy.sum(), squares + (xy * xy).sum()
    return np.array([count, total, squares])


def write_shard(path: str | os.PathLike[str],
                splits: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray]],
                class_names: Sequence[str]) -> Path:
    """Write one shard (stored, not compressed: readers memory-map it); atomic."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT),
                                     "class_names": np.array(list(class_names))}
    for split in _SPLITS:
        sketches, labels = splits.get(split, ([], np.zeros(0, np.int32)))
        lengths = np.array([len(s) for s in sketches], np.int64)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        arrays[f"{split}_points"] = (np.concatenate([np.asarray(s) for s in sketches])
                                     if sketches else np.zeros((0, 3))).astype(np.int16)
        arrays[f"{split}_labels"] = np.asarray(labels, np.int32)
        arrays[f"{split}_stats"] = _stats(sketches)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # names are strings
    os.replace(tmp, path)
    return path


def write_shards(stem: str | os.PathLike[str],
                 splits: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray]],
                 class_names: Sequence[str], shard_size: int) -> list[Path]:
    """Split a dataset into shards of at most ``shard_size`` training sketches (valid and
    test spread evenly over the same shards): ``STEM-00000-of-00012.npz``..."""
    if shard_size < 1:
        raise SketchartError(f"--shard-size must be at least 1, got {shard_size}")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    count = max(1, -(-len(splits["train"][0]) // shard_size))
    paths = []
    for k in range(count):
        part = {}
        for split, (sketches, labels) in splits.items():
            n = len(sketches)
            lo, hi = (k * shard_size, (k + 1) * shard_size) if split == "train" else (
                k * n // count, (k + 1) * n // count)
            part[split] = (list(sketches[lo:hi]), np.asarray(labels)[lo:hi])
        name = f"{stem.name.removesuffix('.npz')}-{k:05d}-of-{count:05d}.npz"
        paths.append(write_shard(stem.parent / name, part, class_names))
    return paths


def _member(path: Path, name: str) -> np.ndarray:
    """One array of a stored ``.npz`` as a read-only memory map."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise SketchartError(f"{path}: {name} is compressed; shards must be stored")
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                     + int.from_bytes(local[28:30], "little"))
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    if dtype.hasobject or fortran:
        raise SketchartError(f"{path}: {name} is not a plain array")
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def is_shard(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a shard (not a magenta-style ``.npz`` of object arrays)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "format.npy" in zf.namelist() and "train_offsets.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def shard_paths(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The shards named by files and folders (a folder: its ``*.npz`` shards, sorted)."""
    paths: list[Path] = []
    for source in map(Path, sources):
        found = sorted(source.glob("*.npz")) if source.is_dir() else [source]
        paths.extend(p for p in found if is_shard(p))
    if not paths:
        raise SketchartError(f"no dataset shards in {', '.join(map(str, sources))}")
    return paths


def class_names_of(path: Path) -> list[str]:
    with np.load(path, allow_pickle=False) as data:
        return [str(n) for n in data["class_names"]]


def split_size(path: Path, split: str) -> int:
    return len(_member(path, f"{split}_offsets")) - 1


def scale_factor_of(paths: Sequence[Path], split: str = "train") -> float:
    """The pooled std of ``dx, dy`` over a split of every shard (from the stored stats)."""
    totals = np.zeros(3)
    for path in paths:
        totals += np.asarray(_member(path, f"{split}_stats"), np.float64)
    count, total, squares = totals
    if count == 0:
        raise SketchartError("scale factor of a dataset with no points")
    mean = total / count
    return float(np.sqrt(max(squares / count - mean * mean, 0.0)))


def read_split(path: Path, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """A whole split of one shard in memory (the small valid and test splits)."""
    points, offsets = _member(path, f"{split}_points"), _member(path, f"{split}_offsets")
    sketches = [np.array(points[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]
    return sketches, np.array(_member(path, f"{split}_labels"))


class ShardStream:
    """Training batches streamed from shards (the in-memory ``BatchLoader``'s interface
    as the trainer uses it: ``random_batch``, ``get_state``, ``set_state``, ``len``).

    Args:
        paths: the shards.
        batch_size: rows per batch of *this process* (the global batch / processes).
        max_seq_len: longer sketches are skipped (counted in ``num_dropped``).
        scale_factor: ``dx, dy`` are divided by it.
        random_scale_factor, augment_stroke_prob: the reference's augmentation.
        seed: the run's seed (epoch order and augmentation).
        process_id, num_processes: this process's share.
        limit: clamp bound (the reference's 1000).
    """

    def __init__(self, paths: Sequence[Path], *, batch_size: int, max_seq_len: int,
                 scale_factor: float, random_scale_factor: float = 0.0,
                 augment_stroke_prob: float = 0.0, seed: int = 0, process_id: int = 0,
                 num_processes: int = 1, limit: float = 1000.0) -> None:
        self.paths = list(paths)
        self.batch_size, self.max_seq_len = int(batch_size), int(max_seq_len)
        self.scale_factor = float(scale_factor)
        self.random_scale_factor = float(random_scale_factor)
        self.augment_stroke_prob = float(augment_stroke_prob)
        self.seed, self.limit = int(seed), float(limit)
        self.process_id, self.num_processes = int(process_id), int(num_processes)
        self.sizes = [split_size(p, "train") for p in self.paths]
        self.num_dropped = 0
        self.batches = 0  # batches drawn: the whole resume state
        self._stream = self._sketches(0)

    def __len__(self) -> int:
        return int(sum(self.sizes))

    def _plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """``[(shard, rows)]`` this process reads in ``epoch``, in order (shuffled)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.paths))
        p, n = self.process_id, self.num_processes
        mine = order[p::n] if len(self.paths) >= n else order
        plan = []
        for shard in mine:
            rows = np.random.default_rng([self.seed, epoch, int(shard)]).permutation(
                self.sizes[shard])
            plan.append((int(shard), rows if len(self.paths) >= n else rows[p::n]))
        return plan

    def _lengths(self, shard: int) -> np.ndarray:
        return np.diff(np.asarray(_member(self.paths[shard], "train_offsets")))

    def _sketches(self, skip: int) -> Iterator[tuple[np.ndarray, int]]:
        """Every kept sketch of this process's share, epoch after epoch, after skipping
        ``skip`` kept sketches (a resumed run; only the lengths are read for those)."""
        epoch = 0
        while True:
            plan = self._plan(epoch)
            if not any(len(rows) for _, rows in plan):
                raise SketchartError("this process's share of the shards is empty")
            for shard, rows in plan:
                lengths = self._lengths(shard)
                keep = rows[lengths[rows] <= self.max_seq_len]
                self.num_dropped += len(rows) - len(keep)
                if skip >= len(keep):
                    skip -= len(keep)
                    continue
                keep, skip = keep[skip:], 0
                points = _member(self.paths[shard], "train_points")
                offsets = np.asarray(_member(self.paths[shard], "train_offsets"))
                labels = np.asarray(_member(self.paths[shard], "train_labels"))
                for row in keep:
                    yield (np.array(points[offsets[row]:offsets[row + 1]], np.float32),
                           int(labels[row]))
                del points  # unmapped: one shard's pages at a time
            epoch += 1

    def random_batch(self) -> Batch:
        """The next ``batch_size`` sketches of the stream, augmented and padded."""
        rng = np.random.default_rng([self.seed, self.process_id, self.batches, 1])
        sketches, labels = [], []
        for _ in range(self.batch_size):
            s, label = next(self._stream)
            labels.append(label)
            np.clip(s, -self.limit, self.limit, out=s)
            s[:, 0:2] /= self.scale_factor
            s = random_scale(s, self.random_scale_factor, rng)
            if self.augment_stroke_prob > 0:
                s = augment_strokes(s, self.augment_stroke_prob, rng)
            sketches.append(s)
        self.batches += 1
        strokes5, lengths = pad_batch(sketches, self.max_seq_len)
        return Batch(strokes5=strokes5, lengths=lengths, labels=np.array(labels, np.int32),
                     indices=np.zeros(self.batch_size, np.int64), num_real=self.batch_size,
                     steps=self.max_seq_len + 1)

    def get_state(self) -> dict[str, Any]:
        return {"stream_batches": self.batches}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue after ``state``'s batches (every process from the chief's state: the
        processes draw the same number of batches)."""
        try:
            batches = int(state["stream_batches"])
        except (TypeError, KeyError, ValueError):
            raise SketchartError("bad data loader state for a sharded dataset") from None
        self.batches, self.num_dropped = batches, 0
        self._stream = self._sketches(batches * self.batch_size)


def split_lengths(path: Path, split: str) -> np.ndarray:
    """The lengths of a split's sketches in one shard (read from the offsets only)."""
    return np.diff(np.asarray(_member(path, f"{split}_offsets")))


def _ndjson_sketches(path: Path, rdp_epsilon: float | None, skip_bad: bool,
                     counts: dict[str, int], keep_first_point: bool = False,
                     ) -> Iterator[np.ndarray]:
    """The drawings of one QuickDraw ndjson file, one line at a time."""
    from sketchart.data.importers import (
        drawing_to_lines,
        lines_to_int_strokes3,
        parse_ndjson_line,
    )

    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = parse_ndjson_line(line)
                lines = drawing_to_lines(record["drawing"])
                yield lines_to_int_strokes3(
                    lines, rdp_epsilon, keep_first_point=keep_first_point).astype(np.int16)
            except (KeyError, TypeError, SketchartError) as exc:
                if not skip_bad:
                    raise SketchartError(f"{path}:{number}: {exc}") from None
                counts["skipped"] += 1


def ndjson_to_shards(folder: str | os.PathLike[str], stem: str | os.PathLike[str], *,
                     shard_size: int, max_seq_len: int = 250, holdout: float = 0.05,
                     rdp_epsilon: float | None = None, skip_bad: bool = False,
                     seed: int = 0, keep_first_point: bool = False,
                     ) -> tuple[list[Path], dict[str, int]]:
    """A folder of QuickDraw ``.ndjson`` files (one class each) to shards, streamed: the
    files are read in turn, a line of each at a time (so every shard mixes the classes),
    and at most one shard's sketches are held in memory.

    Each drawing goes to valid or test with probability ``holdout`` each (seeded), else
    to train; drawings longer than ``max_seq_len`` are dropped.

    Returns:
        ``(shard paths, counts)`` with ``train``, ``valid``, ``test``, ``too_long`` and
        ``skipped``.
    """
    files = sorted(Path(folder).glob("*.ndjson"))
    if not files:
        raise SketchartError(f"{folder}: no .ndjson files")
    names = [f.name.removesuffix(".ndjson") for f in files]
    counts = dict.fromkeys(("train", "valid", "test", "too_long", "skipped"), 0)
    rng = np.random.default_rng(seed)
    streams = {k: _ndjson_sketches(f, rdp_epsilon, skip_bad, counts, keep_first_point)
               for k, f in enumerate(files)}
    held: dict[str, tuple[list[np.ndarray], list[int]]] = {s: ([], []) for s in _SPLITS}
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def flush() -> None:
        part = {s: (sk, np.array(lab, np.int32)) for s, (sk, lab) in held.items()}
        name = f"{stem.name.removesuffix('.npz')}-{len(written):05d}.npz"
        written.append(write_shard(stem.parent / name, part, names))
        for sketches, labels in held.values():
            sketches.clear()
            labels.clear()

    while streams:
        for label in list(rng.permutation(list(streams))):
            sketch = next(streams[int(label)], None)
            if sketch is None:
                del streams[int(label)]
                continue
            if len(sketch) > max_seq_len:
                counts["too_long"] += 1
                continue
            u = rng.random()
            split = "valid" if u < holdout else "test" if u < 2 * holdout else "train"
            held[split][0].append(sketch)
            held[split][1].append(int(label))
            counts[split] += 1
            if len(held["train"][0]) >= shard_size:
                flush()
    if any(sk for sk, _ in held.values()) or not written:
        flush()
    final = [p.with_name(f"{p.stem}-of-{len(written):05d}.npz") for p in written]
    for old, new in zip(written, final):
        os.replace(old, new)
    return final, counts
