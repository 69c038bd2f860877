"""Evaluation: the mean losses over a whole split, during training and of a saved model."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sketchart.training.result import TrainError
from sketchart.training.schedule import kl_weight_at

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["eval_seed", "evaluate", "evaluate_model", "load_model_or_best"]

_EVAL_SPLIT_CODE = {"valid": 1, "test": 2}


def evaluate(step_fn: Any, loader: Any, kl_weight: float, seed_state: np.ndarray,
             use_mu: bool = False) -> dict[str, float]:
    """Mean ``cost``/``r_cost``/``kl_cost`` over a whole split (every sketch once).

    Batches are weighted by their number of real rows: the filler rows of a last partial
    batch are cut off, not counted. With only full batches this is the reference's mean
    of per-batch costs.

    Args:
        step_fn: a :class:`~sketchart.training.step.TrainStep`.
        loader: the split's ``BatchLoader``.
        kl_weight: weight of the KL term in ``cost``.
        seed_state: the random stream used for ``z`` (see ``TrainStep.evaluate``).
        use_mu: decode from ``z = mu`` (deterministic) instead of sampling ``z``.
    """
    totals = {"cost": 0.0, "r_cost": 0.0, "kl_cost": 0.0}
    rows = 0
    for batch in loader.eval_batches():
        n = batch.num_real
        losses = step_fn.evaluate(batch.strokes5[:n], batch.lengths[:n], kl_weight,
                                  seed_state, use_mu=use_mu)
        for key in totals:
            totals[key] += losses[key] * n
        rows += n
    return {k: v / max(rows, 1) for k, v in totals.items()}


def eval_seed(seed: int, step: int, split: str, dtype: np.dtype) -> np.ndarray:
    # derived from (seed, step, split) only: evaluation is reproducible and never
    # consumes the training run's random stream
    return np.array([seed % (2 ** 31), (step * 4 + _EVAL_SPLIT_CODE[split]) % (2 ** 31)],
                    dtype=dtype)


def evaluate_model(
    model_dir: str | os.PathLike[str], data: str | os.PathLike[str], split: str = "test",
    *, kl_weight: float | None = None, batch_size: int | None = None, seed: int = 0,
    use_mu: bool = False, progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a model on one split of a dataset file (``sketchart evaluate``).

    The dataset is normalised with the *model's* scale factor; sketches longer than the
    model's ``max_seq_len`` are dropped with a warning.

    Args:
        model_dir: any name or path ``sketchart sample`` takes (a training log root
            gives its ``best/``).
        data: a sketch-rnn ``.npz``.
        split: ``train``, ``valid`` or ``test``.
        kl_weight: weight of KL in ``cost`` (default: the schedule at the model's step
            count, or the final ``kl_weight``).
        batch_size: rows per batch (default the model's).
        seed: the random stream of ``z``.
        use_mu: decode from ``z = mu`` (deterministic; the reference's fixtures are made
            so) instead of sampling ``z`` (the reference's evaluation).
        progress: show a model download's progress on stderr.

    Returns:
        dict with ``cost``, ``r_cost``, ``kl_cost``, ``kl_weight``, ``sketches``,
        ``dropped``.
    """
    from sketchart.data.datasets import SPLITS, BatchLoader, load_npz
    from sketchart.training.step import TrainStep

    if split not in SPLITS:
        raise TrainError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    model = load_model_or_best(model_dir, progress=progress)
    hps, meta = model.hps, model.meta
    dataset = load_npz(data)
    sketches, labels = dataset.split(split)
    scale = getattr(meta, "scale_factor", None)
    if not scale:
        # e.g. a converted magenta checkpoint: the reference normalises with the training
        # split's factor, so take this file's
        scale = dataset.scale_factor()
        warnings.warn(f"{model_dir}: no scale factor recorded; using {data}'s training "
                      f"split's ({scale:.4f})", stacklevel=2)
    loader = BatchLoader(sketches, labels, batch_size=batch_size or hps.batch_size,
                         max_seq_len=hps.max_seq_len, scale_factor=scale)
    if loader.num_dropped:
        warnings.warn(f"{data}: dropped {loader.num_dropped} of {len(sketches)} {split} "
                      f"sketches longer than the model's max_seq_len={hps.max_seq_len}",
                      stacklevel=2)
    if len(loader) == 0:
        raise TrainError(f"{data}: no {split} sketch fits max_seq_len={hps.max_seq_len}")
    if kl_weight is None:
        steps = getattr(meta, "steps", None)
        kl_weight = kl_weight_at(hps, steps) if steps else hps.kl_weight
    step_fn = TrainStep(model, None, hps)
    losses = evaluate(step_fn, loader, kl_weight,
                      eval_seed(seed, 0, "test", step_fn.seed_dtype), use_mu=use_mu)
    return {**losses, "kl_weight": float(kl_weight), "sketches": len(loader),
            "dropped": int(loader.num_dropped)}


def load_model_or_best(name_or_path: str | os.PathLike[str],
                       progress: bool = False) -> SketchRNN:
    """A model by name or path, as ``sketchart sample`` finds it; a training log root
    gives its ``best/`` (an interrupted swap of it finished first)."""
    from sketchart.hub.store import load_model
    from sketchart.training.checkpoint import recover_dir

    path = Path(name_or_path)
    if path.is_dir() and not (path / "model_config.json").exists():
        recover_dir(path / "best")
    # the evaluation step runs the Keras model
    model = load_model(name_or_path, engine="keras", progress=progress)
    return cast("SketchRNN", model)  # engine="keras" loads a SketchRNN
