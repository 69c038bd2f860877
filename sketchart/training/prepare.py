"""A run's datasets resolved, downloaded, loaded, filtered and put into batch loaders."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sketchart.hparams import HParams
from sketchart.training.result import TrainError

__all__ = ["PreparedData", "prepare_data"]


@dataclass
class PreparedData:
    """The datasets of a run, filtered and with their loaders."""

    hps: HParams
    paths: list[Path]
    class_names: list[str]
    scale_factor: float
    train: Any
    valid: Any
    test: Any
    dropped: dict[str, int]
    #: the training batches stream from shards, each process its own share
    streamed: bool = False


#: magenta's default ``data_set``: what a run given no data asks for
_DEFAULT_DATA_SET = HParams().data_set


def _resolve(name: str, data_dir: str | os.PathLike[str] | None, download: bool,
             progress: bool) -> Path:
    """``resolve_data_set`` with a hint: what to do when no data was given, and the
    closest file of the folder for a misspelled name."""
    from sketchart.data.quickdraw import resolve_data_set
    from sketchart.errors import SketchartError

    try:
        return resolve_data_set(name, data_dir, download=download, progress=progress)
    except SketchartError as exc:
        if data_dir is None and [name] == _DEFAULT_DATA_SET and not Path(name).exists():
            raise TrainError(
                "no training data given: name a QuickDraw category (`sketchart train "
                "sheep` downloads Google's sheep), give .npz files, or pass --data-dir "
                f"with {name}") from None
        hint = _closest_file(name, data_dir)
        if hint is None or "did you mean" in str(exc):
            raise
        raise TrainError(f"{exc}; did you mean {hint}?") from None


def _closest_file(name: str, data_dir: str | os.PathLike[str] | None) -> str | None:
    import difflib

    given = Path(name)
    folder = given.parent if len(given.parts) > 1 else Path(data_dir or ".")
    if str(folder).startswith(("http://", "https://")):
        return None
    try:
        files = [p.name for p in folder.iterdir() if p.suffix == ".npz"]
    except OSError:
        return None
    close = difflib.get_close_matches(given.name, files, n=1, cutoff=0.8)
    return close[0] if close else None


def _dropped(data: Any, names: str, limit: int) -> dict[str, int]:
    """Sketches longer than ``limit`` per split, with a warning that counts them."""
    dropped = {s: sum(len(x) > limit for x in data.split(s)[0])
               for s in ("train", "valid", "test")}
    if any(dropped.values()):
        counts = ", ".join(f"{n} of {len(data.split(s)[0])} {s}" for s, n in dropped.items())
        warnings.warn(f"{names}: dropped sketches longer than max_seq_len={limit}: {counts}",
                      stacklevel=3)
    return dropped


def prepare_data(
    hps: HParams, data_dir: str | os.PathLike[str] | None, *, max_seq_len_from_data: bool,
    bucketed: bool = False, seed: int = 0, scale_factor: float | None = None,
    download: bool = True, progress: bool = True, paths: list[Path] | None = None,
    share: tuple[int, int] = (0, 1),
) -> PreparedData:
    """Resolve, download, load and filter ``hps.data_set``; build the three loaders.

    Args:
        hps: the run's hparams (``data_set``, ``batch_size``, augmentation).
        data_dir: where dataset names are looked up (and categories downloaded).
        max_seq_len_from_data: set ``max_seq_len`` to the longest sketch over all splits
            (nothing dropped); otherwise drop longer sketches and warn with the counts.
        bucketed: length-bucketed training batches.
        seed: the training loader's seed (data order and augmentation).
        scale_factor: the normalising factor (default: computed on the training split).
        download: allow downloading QuickDraw categories.
        progress: progress bar for downloads.
        paths: the files of ``hps.data_set`` when already known (a resumed run).
        share: ``(process, processes)``: a sharded dataset's training batches are this
            process's share of the global batch, read from its own shards.

    Raises:
        TrainError: a split is empty (or emptied by the filter), or the training split
            cannot fill one batch.
    """
    from sketchart.data.datasets import BatchLoader, load_datasets

    if paths is None:
        paths = _shard_sources(hps.data_set, data_dir) or [
            _resolve(name, data_dir, download, progress) for name in hps.data_set]
    if _all_shards(paths):
        return _prepare_streamed(hps, paths, max_seq_len_from_data, seed, scale_factor, share)
    data = load_datasets(paths)
    names = ", ".join(p.name for p in paths)
    if max_seq_len_from_data:
        hps = hps.replace({"max_seq_len": max(data.max_len(), 1)})
    limit = hps.max_seq_len
    dropped = _dropped(data, names, limit)
    for split in ("train", "valid", "test"):
        total = len(data.split(split)[0])
        if total - dropped[split] == 0:
            why = (f" (all {total} are longer than max_seq_len={limit})" if total else "")
            raise TrainError(f"{names}: the {split} split is empty{why}")
    if scale_factor is None:
        from sketchart.strokes import scale_factor as compute_scale

        scale_factor = compute_scale([s for s in data.train if len(s) <= limit])

    def loader(split: str, train: bool) -> Any:
        sketches, labels = data.split(split)
        return BatchLoader(
            sketches, labels, batch_size=hps.batch_size, max_seq_len=limit,
            scale_factor=scale_factor,
            random_scale_factor=hps.random_scale_factor if train else 0.0,
            augment_stroke_prob=hps.augment_stroke_prob if train else 0.0,
            bucketed=bucketed and train, seed=seed if train else 0)

    train_loader = loader("train", True)
    if len(train_loader) < hps.batch_size:
        raise TrainError(
            f"{names}: the train split has {len(train_loader)} sketches of at most "
            f"{limit} points, fewer than batch_size={hps.batch_size}")
    return PreparedData(hps=hps, paths=paths, class_names=list(data.class_names),
                        scale_factor=float(scale_factor), train=train_loader,
                        valid=loader("valid", False), test=loader("test", False),
                        dropped=dropped)


def _all_shards(paths: list[Path]) -> bool:
    from sketchart.data.shards import is_shard

    return all(is_shard(p) for p in paths)


def _shard_sources(names: list[str], data_dir: str | os.PathLike[str] | None,
                   ) -> list[Path] | None:
    """The shards of ``data_set`` when it names folders of shards or shard files."""
    from sketchart.data.shards import is_shard, shard_paths

    found = []
    for name in names:
        candidates = [Path(name)] + ([Path(data_dir) / name] if data_dir else [])
        hit = next((c for c in candidates if c.is_dir() or is_shard(c)), None)
        if hit is None:
            return None
        found.append(hit)
    return shard_paths(found)


def _prepare_streamed(hps: HParams, paths: list[Path], max_from_data: bool, seed: int,
                      scale_factor: float | None, share: tuple[int, int]) -> PreparedData:
    """Training batches streamed from shards; valid and test (small) held in memory."""
    import numpy as np

    from sketchart.data.datasets import BatchLoader
    from sketchart.data.shards import (
        ShardStream,
        class_names_of,
        read_split,
        scale_factor_of,
        split_lengths,
    )

    if max_from_data:
        longest = max(int(split_lengths(p, s).max(initial=1)) for p in paths
                      for s in ("train", "valid", "test"))
        hps = hps.replace({"max_seq_len": longest})
    if scale_factor is None:
        scale_factor = scale_factor_of(paths)
    process, processes = share
    if hps.batch_size % processes:
        raise TrainError(f"batch_size={hps.batch_size} (the global batch) does not "
                         f"divide over {processes} processes")
    train = ShardStream(paths, batch_size=hps.batch_size // processes,
                        max_seq_len=hps.max_seq_len, scale_factor=scale_factor,
                        random_scale_factor=hps.random_scale_factor,
                        augment_stroke_prob=hps.augment_stroke_prob, seed=seed,
                        process_id=process, num_processes=processes)
    held = {}
    for split in ("valid", "test"):
        parts = [read_split(p, split) for p in paths]
        sketches = [s for part, _ in parts for s in part]
        labels = np.concatenate([lab for _, lab in parts]).astype(np.int32)
        if not any(len(x) <= hps.max_seq_len for x in sketches):
            raise TrainError(f"the {split} split of the shards is empty")
        held[split] = BatchLoader(sketches, labels, batch_size=hps.batch_size,
                                  max_seq_len=hps.max_seq_len, scale_factor=scale_factor)
    return PreparedData(hps=hps, paths=paths, class_names=class_names_of(paths[0]),
                        scale_factor=float(scale_factor), train=train,
                        valid=held["valid"], test=held["test"],
                        dropped={s: held[s].num_dropped for s in held}, streamed=True)
