"""The NumPy batch loader: the reference's random training batches (or length-bucketed
ones) and evaluation batches covering a whole split, deterministic under a seed, with a
JSON-able random state for resuming."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.strokes import augment_strokes, pad_batch, random_scale

__all__ = ["Batch", "BatchLoader", "filter_by_length"]


def filter_by_length(
    list_of_strokes3: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray, max_len: int
) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Drop sketches longer than ``max_len`` (the reference's preprocess).

    Returns:
        ``(kept sketches, their labels, number dropped)``.
    """
    labels = np.asarray(labels, dtype=np.int32)
    keep = [i for i, s in enumerate(list_of_strokes3) if len(s) <= max_len]
    return [list_of_strokes3[i] for i in keep], labels[keep], len(list_of_strokes3) - len(keep)


@dataclass
class Batch:
    """One model batch.

    Attributes:
        strokes5: ``float32 [B, max_seq_len + 1, 5]``, start token in row 0.
        lengths: ``int32 [B]`` real points per sketch (after augmentation).
        labels: ``int32 [B]`` class labels.
        indices: ``int64 [B]`` positions in the loader's (length-sorted) sketch list.
        num_real: rows that hold real data; an evaluation batch's tail may repeat sketches
            to fill ``B`` rows, and those rows come after ``num_real``.
        steps: rows the trainer needs: ``max_seq_len + 1``, or in bucketed mode the longest
            length in the batch + 1 (``strokes5[:, :steps]``; the longest sketch then has no
            end row, as a sketch of exactly ``max_seq_len`` never has).
    """

    strokes5: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    num_real: int
    steps: int

    @property
    def mask(self) -> np.ndarray:
        """``float32 [B]``: 1 for real rows, 0 for the filler rows of a last eval batch."""
        m = np.zeros(len(self.lengths), dtype=np.float32)
        m[: self.num_real] = 1.0
        return m


class BatchLoader:
    """The reference's ``DataLoader`` in numpy, with an explicit seeded RNG.

    Construction does the reference's ``preprocess``: sketches longer than ``max_seq_len``
    are dropped (``num_dropped``), values clamped to ``[-limit, limit]``, converted to
    float32, ``dx, dy`` divided by ``scale_factor``, then sorted by length (stable).

    :meth:`random_batch` is the reference's ``random_batch``: the first ``batch_size``
    entries of a fresh permutation each step; each sketch is randomly scaled (two uniform
    draws, even with factor 0), then, if ``augment_stroke_prob > 0``, has points dropped,
    then the batch is padded. With ``bucketed=True`` a batch is drawn from one of
    ``num_buckets`` contiguous slices of the length-sorted list (bucket chosen with
    probability proportional to its size, so every sketch stays equally likely), and
    ``Batch.steps`` lets the trainer run only as many steps as the batch needs.

    :meth:`eval_batches` walks the whole split in length order without augmentation.

    Args:
        list_of_strokes3: stroke-3 sketches (unnormalised, as stored).
        labels: class label per sketch (default all 0).
        batch_size: rows per batch.
        max_seq_len: longest sketch kept; batches are ``[B, max_seq_len + 1, 5]``.
        scale_factor: divide ``dx, dy`` by it (the *training* split's factor).
        random_scale_factor: the reference's ``random_scale_factor`` (0.15 to train).
        augment_stroke_prob: the reference's ``augment_stroke_prob`` (0.10 to train).
        bucketed: draw length-bucketed batches (opt-in).
        num_buckets: buckets for ``bucketed`` (fewer if the data cannot fill them).
            20 by default: on aaron_sheep (7,400 training sketches, mean length 125) a
            batch then runs 133 steps on average against 140 with 10 buckets (40 would
            give 132), and each bucket still holds 370 sketches to draw 100 from.
        seed: seed of the loader's ``numpy.random.Generator``.
        limit: clamp bound (the reference's 1000).
    """

    def __init__(
        self,
        list_of_strokes3: Sequence[np.ndarray],
        labels: Sequence[int] | np.ndarray | None = None,
        *,
        batch_size: int = 100,
        max_seq_len: int = 250,
        scale_factor: float = 1.0,
        random_scale_factor: float = 0.0,
        augment_stroke_prob: float = 0.0,
        bucketed: bool = False,
        num_buckets: int = 20,
        seed: int | None = None,
        limit: float = 1000.0,
    ) -> None:
        if batch_size < 1:
            raise SketchartError(f"batch_size must be at least 1, got {batch_size}")
        if max_seq_len < 1:
            raise SketchartError(f"max_seq_len must be at least 1, got {max_seq_len}")
        if not scale_factor > 0:
            raise SketchartError(f"scale_factor must be positive, got {scale_factor}")
        if labels is None:
            labels = np.zeros(len(list_of_strokes3), dtype=np.int32)
        if len(labels) != len(list_of_strokes3):
            raise SketchartError(f"{len(labels)} labels for {len(list_of_strokes3)} sketches")
        self.batch_size = int(batch_size)
        self.max_seq_len = int(max_seq_len)
        self.scale_factor = float(scale_factor)
        self.random_scale_factor = float(random_scale_factor)
        self.augment_stroke_prob = float(augment_stroke_prob)
        self.bucketed = bool(bucketed)
        self.rng = np.random.default_rng(seed)

        kept, kept_labels, self.num_dropped = filter_by_length(
            list_of_strokes3, labels, self.max_seq_len
        )
        processed = []
        for s in kept:
            s = np.array(s, dtype=np.float32)
            np.clip(s, -limit, limit, out=s)
            s[:, 0:2] /= self.scale_factor
            processed.append(s)
        order = np.argsort([len(s) for s in processed], kind="stable")
        self.strokes3: list[np.ndarray] = [processed[i] for i in order]
        self.labels = kept_labels[order].astype(np.int32)
        self.lengths = np.array([len(s) for s in self.strokes3], dtype=np.int32)
        # buckets: contiguous slices of the length-sorted list, each >= batch_size
        n = len(self.strokes3)
        k = max(1, min(int(num_buckets), n // self.batch_size))
        self._bucket_edges = np.linspace(0, n, k + 1).astype(np.int64)

    def __len__(self) -> int:
        return len(self.strokes3)

    @property
    def num_batches(self) -> int:
        """Full batches per pass (the reference's ``num_batches``, remainder dropped)."""
        return len(self.strokes3) // self.batch_size

    @property
    def num_eval_batches(self) -> int:
        """Batches :meth:`eval_batches` yields (the last one may be partial)."""
        return -(-len(self.strokes3) // self.batch_size)

    def _make_batch(self, indices: np.ndarray, augment: bool, num_real: int) -> Batch:
        sketches = []
        for i in indices:
            s = self.strokes3[int(i)]
            if augment:
                s = random_scale(s, self.random_scale_factor, self.rng)
                if self.augment_stroke_prob > 0:
                    s = augment_strokes(s, self.augment_stroke_prob, self.rng)
            sketches.append(s)
        strokes5, lengths = pad_batch(sketches, self.max_seq_len)
        steps = int(lengths.max()) + 1 if self.bucketed else self.max_seq_len + 1
        return Batch(
            strokes5=strokes5,
            lengths=lengths,
            labels=self.labels[indices],
            indices=np.asarray(indices, dtype=np.int64),
            num_real=num_real,
            steps=steps,
        )

    def random_batch(self) -> Batch:
        """A training batch: random sketches, augmented (see the class docstring).

        Raises:
            SketchartError: fewer sketches than ``batch_size``.
        """
        n = len(self.strokes3)
        if n < self.batch_size:
            raise SketchartError(
                f"{n} sketches (after dropping {self.num_dropped} longer than "
                f"{self.max_seq_len}) cannot fill a batch of {self.batch_size}"
            )
        return self._make_batch(self.draw_indices(), augment=True, num_real=self.batch_size)

    def draw_indices(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """The sketches of one random batch, as :meth:`random_batch` draws them (from one
        length bucket when bucketed), with ``rng`` (default: the loader's own)."""
        rng = self.rng if rng is None else rng
        if self.bucketed:
            sizes = np.diff(self._bucket_edges)
            b = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
            lo = int(self._bucket_edges[b])
            return lo + rng.permutation(int(sizes[b]))[: self.batch_size]
        return rng.permutation(len(self.strokes3))[: self.batch_size]

    def get_batch(self, idx: int) -> Batch:
        """Batch ``idx`` of consecutive length-sorted sketches, unaugmented.

        The last batch of a split whose size is not a multiple of ``batch_size`` is filled
        by repeating sketches from the start; ``Batch.num_real`` says how many rows are real.
        """
        n = len(self.strokes3)
        if not 0 <= idx < self.num_eval_batches:
            raise SketchartError(f"batch {idx} out of range 0..{self.num_eval_batches - 1}")
        start = idx * self.batch_size
        real = np.arange(start, min(start + self.batch_size, n))
        filler = np.arange(self.batch_size - len(real)) % n
        return self._make_batch(np.concatenate([real, filler]), False, len(real))

    def eval_batches(self) -> Iterator[Batch]:
        """Every sketch once, in length order, in batches of ``batch_size`` rows.

        Weight per-row results with ``Batch.mask`` (or use the first ``num_real`` rows) so
        the filler rows of the last batch are not counted twice.
        """
        for idx in range(self.num_eval_batches):
            yield self.get_batch(idx)

    def get_state(self) -> dict[str, Any]:
        """The RNG state as JSON-able data (big integers as decimal strings)."""
        state = self.rng.bit_generator.state
        return _jsonable(state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s value, so the data order continues where it was."""
        try:
            restored = _from_jsonable(state)
            if restored.get("bit_generator") != type(self.rng.bit_generator).__name__:
                raise ValueError("different bit generator")
            self.rng.bit_generator.state = restored
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise SketchartError(f"bad data loader state: {exc}") from None


def _jsonable(value: Any) -> Any:
    # PCG64 state integers exceed 2**64: strings keep them exact in any JSON reader
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {"int": str(int(value))}
    if isinstance(value, np.ndarray):
        return {"array": [str(int(v)) for v in value.ravel()], "dtype": str(value.dtype)}
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"int"}:
            return int(value["int"])
        if set(value) == {"array", "dtype"}:
            return np.array([int(v) for v in value["array"]], dtype=value["dtype"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    return value
