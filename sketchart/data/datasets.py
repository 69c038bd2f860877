"""Sketch-rnn datasets: safe loading, validation, merging and splitting (the batch loader
is :mod:`sketchart.data.batches`, re-exported here).

The trainer uses three names from here:

- :func:`load_datasets` reads one or more ``.npz`` files (magenta's ``data_set`` list) into
  one :class:`SketchData` with a class label per sketch;
- :func:`~sketchart.strokes.scale_factor` (re-exported) computes the normalising factor on
  the training split;
- :class:`BatchLoader` makes the reference's random training batches (or length-bucketed
  ones) and evaluation batches covering a whole split, deterministically under a seed,
  with a JSON-able RNG state for resuming.

Files are read with :mod:`sketchart.data.npzsafe`, so no pickle code ever runs. NumPy only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.data.batches import Batch, BatchLoader, filter_by_length
from sketchart.data.npzsafe import ALLOWED_STROKE_DTYPES, read_npz
from sketchart.errors import SketchartError
from sketchart.strokes import scale_factor

__all__ = [
    "SPLITS",
    "Batch",
    "BatchLoader",
    "SketchData",
    "filter_by_length",
    "load_datasets",
    "load_npz",
    "scale_factor",
    "split_counts",
    "stratified_split",
    "validate_strokes3",
]

SPLITS = ("train", "valid", "test")


@dataclass
class SketchData:
    """Train/valid/test sketches with a class label per sketch.

    Attributes:
        train, valid, test: lists of ``float32 [n, 3]`` stroke-3 sketches.
        train_labels, valid_labels, test_labels: ``int32 [len(split)]`` indices into
            ``class_names``.
        class_names: one name per class (by default the file's stem, e.g. ``"cat"``).
        sources: the files read, in order.
        skipped: one-line messages of bad sketches left out (``skip_bad`` only).
    """

    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    train_labels: np.ndarray
    valid_labels: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def split(self, name: str) -> tuple[list[np.ndarray], np.ndarray]:
        """``(sketches, labels)`` of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in SPLITS:
            raise SketchartError(
                f"unknown split {name!r} (expected one of {', '.join(SPLITS)})"
            )
        return getattr(self, name), getattr(self, f"{name}_labels")

    def max_len(self) -> int:
        """Longest sketch over all splits (magenta sets ``max_seq_len`` to this)."""
        return max((len(s) for name in SPLITS for s in getattr(self, name)), default=0)

    def scale_factor(self) -> float:
        """The normalising factor of the training split (see ``strokes.scale_factor``)."""
        return scale_factor(self.train)


#: largest offset accepted: far beyond any drawing, and small enough that sums of squares
#: (the scale factor) stay finite in float32
MAX_OFFSET = 1e6


def validate_strokes3(strokes3: Any, where: str) -> np.ndarray:
    """Check one stored sketch and return it as ``float32 [n, 3]``.

    Args:
        strokes3: the array read from the file.
        where: prefix for the error, e.g. ``"cat.npz: split 'train', sketch 12"``.

    Raises:
        SketchartError: not an array, wrong dtype or shape, empty, non-finite values, or a
            pen column outside {0, 1}.
    """
    if not isinstance(strokes3, np.ndarray):
        raise SketchartError(f"{where}: not an array ({type(strokes3).__name__})")
    if strokes3.dtype not in ALLOWED_STROKE_DTYPES:
        raise SketchartError(f"{where}: unsupported dtype {strokes3.dtype}")
    if strokes3.ndim != 2 or strokes3.shape[1] != 3:
        raise SketchartError(f"{where}: expected shape [n, 3], got {list(strokes3.shape)}")
    if len(strokes3) == 0:
        raise SketchartError(f"{where}: empty sketch")
    if strokes3.dtype.kind == "f" and not np.isfinite(strokes3).all():
        row = int(np.flatnonzero(~np.isfinite(strokes3).all(axis=1))[0])
        raise SketchartError(f"{where}: non-finite value in row {row}")
    too_big = np.abs(strokes3[:, 0:2]) > MAX_OFFSET
    if too_big.any():
        row = int(np.flatnonzero(too_big.any(axis=1))[0])
        raise SketchartError(f"{where}: offset beyond ±{MAX_OFFSET:g} in row {row}")
    pen = strokes3[:, 2]
    bad = (pen != 0) & (pen != 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SketchartError(f"{where}: pen value {pen[row]} in row {row} (expected 0 or 1)")
    return strokes3.astype(np.float32)


def _labels_from_file(
    arrays: dict[str, np.ndarray], split: str, count: int, n_classes: int, path: Path
) -> np.ndarray:
    key = f"{split}_labels"
    if key not in arrays:
        return np.zeros(count, dtype=np.int32)
    labels = arrays[key]
    if labels.shape != (count,) or labels.dtype.kind not in "iu":
        raise SketchartError(f"{path}: {key} must be {count} integers, got {labels.shape}")
    if count and (labels.min() < 0 or labels.max() >= n_classes):
        raise SketchartError(f"{path}: {key} has labels outside 0..{n_classes - 1}")
    return labels.astype(np.int32)


def load_npz(path: str | os.PathLike[str], *, skip_bad: bool = False) -> SketchData:
    """Read and validate one sketch-rnn ``.npz`` (no pickle code is executed).

    The file needs the keys ``train``, ``valid`` and ``test``, each an object array of
    ``[n, 3]`` integer or float sketches (int8/int16/float16/32/64 ...). Files written by
    ``sketchart dataset build`` also carry ``<split>_labels`` and ``class_names``; without
    them every sketch gets label 0 and the class is the file's stem.

    Args:
        path: the ``.npz`` file.
        skip_bad: leave out bad sketches (listed in ``SketchData.skipped``) instead of
            raising; a bad file (keys, corrupt data) still raises.

    Raises:
        SketchartError: one line naming the file, split and sketch index.
    """
    path = Path(path)
    # members besides these are never decompressed (a bomb may hide in an unused key)
    arrays = read_npz(path, keys={*SPLITS, *(f"{s}_labels" for s in SPLITS), "class_names"})
    missing = [s for s in SPLITS if s not in arrays]
    if missing:
        raise SketchartError(
            f"{path}: missing key(s) {', '.join(missing)} (found {', '.join(sorted(arrays))})"
        )
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind != "U" or len(names) == 0:
            raise SketchartError(f"{path}: class_names must be a 1-D array of strings")
        class_names = [str(n) for n in names]
    else:
        class_names = [path.name.removesuffix(".npz")]
    result: dict[str, Any] = {}
    skipped: list[str] = []
    for split in SPLITS:
        arr = arrays[split]
        if arr.ndim != 1 or not arr.dtype.hasobject:
            raise SketchartError(f"{path}: split {split!r} must be a 1-D array of sketches")
        labels = _labels_from_file(arrays, split, len(arr), len(class_names), path)
        sketches, keep = [], []
        for i, s in enumerate(arr):
            try:
                sketches.append(validate_strokes3(s, f"{path}: split {split!r}, sketch {i}"))
                keep.append(i)
            except SketchartError as exc:
                if not skip_bad:
                    raise
                skipped.append(str(exc))
        result[split] = sketches
        result[f"{split}_labels"] = labels[keep]
    return SketchData(**result, class_names=class_names, sources=[str(path)], skipped=skipped)


def load_datasets(paths: Sequence[str | os.PathLike[str]]) -> SketchData:
    """Several datasets as one (magenta's ``data_set`` list, e.g. ``cat.npz, bus.npz``).

    Splits are concatenated in the order given; labels are offset so each file's classes
    keep their own indices in the merged ``class_names``. The training split's
    :func:`scale_factor` is then taken over all files together, as magenta does.

    Raises:
        SketchartError: no paths, or any file fails :func:`load_npz`.
    """
    if not paths:
        raise SketchartError("no dataset files given")
    parts = [load_npz(p) for p in paths]
    merged: dict[str, Any] = {s: [] for s in SPLITS}
    labels: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    class_names: list[str] = []
    for part in parts:
        offset = len(class_names)
        class_names.extend(part.class_names)
        for split in SPLITS:
            sketches, lab = part.split(split)
            merged[split].extend(sketches)
            labels[split].append(lab + offset)
    return SketchData(
        **merged,
        **{f"{s}_labels": np.concatenate(labels[s]).astype(np.int32)
           for s in SPLITS},  # type: ignore[arg-type]  # keys match the fields
        class_names=class_names,
        sources=[src for part in parts for src in part.sources],
        skipped=[message for part in parts for message in part.skipped],
    )


def _apportion(target: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    # largest-remainder apportionment of ``target`` proportional to ``weights``, each share
    # capped; what a capped class cannot take goes to the others
    alloc = np.zeros(len(weights), dtype=np.int64)
    for _ in range(len(weights) + 1):
        left = target - alloc.sum()
        room = caps - alloc
        open_ = room > 0
        if left <= 0 or not open_.any():
            break
        w = np.where(open_, weights, 0).astype(np.float64)
        quota = left * w / w.sum()
        add = np.minimum(np.floor(quota).astype(np.int64), room)
        rest = left - add.sum()
        frac = np.where(open_ & (add < room), quota - np.floor(quota), -1.0)
        for i in np.argsort(-frac, kind="stable")[:rest]:
            if frac[i] >= 0:
                add[i] += 1
        alloc += add
    if alloc.sum() != target:
        raise SketchartError(f"cannot place {target} sketches in the classes given")
    return alloc


def split_counts(
    total: int, valid_fraction: float, test_fraction: float, multiple: int = 100
) -> tuple[int, int, int]:
    """``(train, valid, test)`` sizes, each a multiple of ``multiple`` (magenta's 100).

    valid and test get their fraction of ``total`` rounded down to the multiple, but at
    least one multiple; train gets what is left, rounded down. Leftover sketches are not
    used.

    Raises:
        SketchartError: too few sketches for three non-empty splits.
    """
    if multiple < 1:
        raise SketchartError(f"split multiple must be at least 1, got {multiple}")
    if total < 3 * multiple:
        raise SketchartError(
            f"{total} sketches cannot make train/valid/test splits that are multiples of "
            f"{multiple} (need at least {3 * multiple}; lower --multiple)"
        )
    valid = max(multiple, int(total * valid_fraction) // multiple * multiple)
    test = max(multiple, int(total * test_fraction) // multiple * multiple)
    train = (total - valid - test) // multiple * multiple
    if train < multiple:
        raise SketchartError(
            f"{total} sketches leave no training split after {valid} valid and {test} test"
        )
    return train, valid, test


def stratified_split(
    classes: Sequence[Sequence[np.ndarray]],
    *,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    multiple: int = 100,
    seed: int = 0,
) -> tuple[dict[str, tuple[list[np.ndarray], np.ndarray]], int]:
    """Split per-class sketch lists into train/valid/test, stratified by class.

    Split sizes come from :func:`split_counts`; each split's share of every class is
    proportional to the class's size (largest remainder). Sketches are shuffled within
    each class before assignment and within each split after, under ``seed``.

    Returns:
        ``({split: (sketches, labels)}, number of sketches left out)``.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([len(c) for c in classes], dtype=np.int64)
    targets = dict(
        zip(
            ("train", "valid", "test"),
            split_counts(int(sizes.sum()), valid_fraction, test_fraction, multiple),
        )
    )
    remaining = sizes.copy()
    shares: dict[str, np.ndarray] = {}
    for split in ("valid", "test", "train"):
        shares[split] = _apportion(targets[split], sizes, remaining)
        remaining -= shares[split]
    out: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
    parts: dict[str, list[tuple[np.ndarray, int]]] = {s: [] for s in SPLITS}
    for label, sketches in enumerate(classes):
        order = rng.permutation(len(sketches))
        start = 0
        for split in ("valid", "test", "train"):
            take = order[start : start + int(shares[split][label])]
            start += len(take)
            parts[split].extend((sketches[i], label) for i in take)
    for split in SPLITS:
        perm = rng.permutation(len(parts[split]))
        items = [parts[split][i] for i in perm]
        out[split] = ([s for s, _ in items], np.array([n for _, n in items], dtype=np.int32))
    return out, int(remaining.sum())
