"""Crash-safe training checkpoints: atomic directory swaps and the resume state.

A training log root holds ``best/`` and ``last/``: complete model directories
(``sketchart.modeldir``). ``last/`` also carries what ``--resume`` needs to continue
exactly where the run stopped:

```
last/train_state.json   step, best valid cost, seed, data-order RNG state, run options
last/train_state.npz    every model variable (random-seed states included) and every
                        optimizer variable (Adam moments, iteration count), by position
```

Both directories are written into a hidden temporary directory beside the target and
swapped in (:mod:`sketchart.util.atomic`) with one atomic ``renameat2(RENAME_EXCHANGE)``
on Linux, so a ``kill -9`` at any moment leaves either the old complete directory or the
new one, never a mixture. Elsewhere (or on a filesystem without the exchange) the swap is
two renames, and :func:`recover_dir` finishes or undoes an interrupted one; the trainer
calls it before it reads a log root. NumPy + stdlib only: the Keras objects are passed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.util.atomic import atomic_dir, clean_temporaries, recover_dir, swap_dir

__all__ = [
    "STATE_JSON",
    "STATE_NPZ",
    "TrainState",
    "atomic_dir",
    "check_variables",
    "clean_temporaries",
    "has_train_state",
    "read_train_state",
    "recover_dir",
    "swap_dir",
    "write_train_state",
]

STATE_JSON = "train_state.json"
STATE_NPZ = "train_state.npz"
_FORMAT_VERSION = 1


@dataclass
class TrainState:
    """What a resumed run needs besides the model directory itself.

    Attributes:
        step: number of updates done (the schedules' step for the next update).
        best_valid_cost: best validation cost so far (None before the first evaluation).
        best_step: step at which ``best/`` was saved.
        seed: the run's base seed.
        data_state: the batch loader's ``get_state()`` (JSON-ready after encoding).
        options: run options that must not change on resume (``bucketed``...).
        elapsed_s: training wall time so far, for the summary and steps/s.
        model_variables: values of ``model.variables`` in order (seed states included).
        optimizer_variables: values of ``optimizer.variables`` in order.
        variable_names: the paths of the model variables, checked on restore.
        history: every evaluation so far (step, split, losses, kl weight), so a resumed
            run reports the whole run, not only its own part.
    """

    step: int
    best_valid_cost: float | None = None
    best_step: int | None = None
    seed: int = 0
    data_state: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    model_variables: list[np.ndarray] = field(default_factory=list)
    optimizer_variables: list[np.ndarray] = field(default_factory=list)
    variable_names: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def _encode(value: Any) -> Any:
    """JSON-ready copy of nested dicts/lists/tuples/NumPy values (arrays are tagged)."""
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def has_train_state(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (a ``last/`` directory) holds a resumable train state."""
    path = Path(path)
    return (path / STATE_JSON).is_file() and (path / STATE_NPZ).is_file()


def write_train_state(path: str | os.PathLike[str], state: TrainState) -> None:
    """Write ``train_state.json`` and ``train_state.npz`` into the directory ``path``."""
    path = Path(path)
    meta = {
        "format_version": _FORMAT_VERSION,
        "step": int(state.step),
        "best_valid_cost": state.best_valid_cost,
        "best_step": state.best_step,
        "seed": int(state.seed),
        "data_state": _encode(state.data_state),
        "options": _encode(state.options),
        "elapsed_s": float(state.elapsed_s),
        "num_model_variables": len(state.model_variables),
        "num_optimizer_variables": len(state.optimizer_variables),
        "history": _encode(state.history),
    }
    (path / STATE_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    arrays: dict[str, Any] = {
        f"model_{i:04d}": np.asarray(v) for i, v in enumerate(state.model_variables)
    }
    arrays.update(
        {f"optimizer_{i:04d}": np.asarray(v) for i, v in enumerate(state.optimizer_variables)}
    )
    arrays["variable_names"] = np.asarray(state.variable_names, dtype=np.str_)
    with open(path / STATE_NPZ, "wb") as fh:
        np.savez(fh, **arrays)


def read_train_state(path: str | os.PathLike[str]) -> TrainState:
    """Read what :func:`write_train_state` wrote.

    Raises:
        SketchartError: missing or damaged files (the message names the file).
    """
    path = Path(path)
    json_path, npz_path = path / STATE_JSON, path / STATE_NPZ
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SketchartError(f"{json_path}: missing; nothing to resume") from None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8
        raise SketchartError(f"{json_path}: unreadable train state ({exc})") from None
    if not isinstance(meta, dict):
        raise SketchartError(f"{json_path}: damaged train state (not a JSON object)")
    if meta.get("format_version") != _FORMAT_VERSION:
        raise SketchartError(
            f"{json_path}: train state format {meta.get('format_version')!r} "
            f"is not {_FORMAT_VERSION}")
    try:
        # allow_pickle=False: a log root from elsewhere cannot run code on resume
        with np.load(npz_path, allow_pickle=False) as data:
            model_vars = [data[f"model_{i:04d}"] for i in range(meta["num_model_variables"])]
            opt_vars = [
                data[f"optimizer_{i:04d}"] for i in range(meta["num_optimizer_variables"])
            ]
            names = [str(n) for n in data["variable_names"]]
    except FileNotFoundError:
        raise SketchartError(f"{npz_path}: missing; nothing to resume") from None
    except (OSError, KeyError, ValueError) as exc:
        raise SketchartError(f"{npz_path}: unreadable train state ({exc})") from None
    except (TypeError, OverflowError) as exc:  # counts that are not integers
        raise SketchartError(f"{json_path}: damaged train state ({exc})") from None
    try:
        return _state_from(meta, model_vars, opt_vars, names)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError,
            RecursionError) as exc:
        raise SketchartError(f"{json_path}: damaged train state ({exc})") from None


def _state_from(meta: dict[str, Any], model_vars: list[np.ndarray],
                opt_vars: list[np.ndarray], names: list[str]) -> TrainState:
    """The fields of a train state, checked for their types (a hand-edited or damaged
    file raises here, not deep inside a resumed run)."""
    best = meta.get("best_valid_cost")
    best_step = meta.get("best_step")
    if best is not None:
        best = float(best)
    if best_step is not None:
        best_step = int(best_step)
    options = _decode(meta.get("options") or {})
    history = list(_decode(meta.get("history") or []))
    if not isinstance(options, dict) or not all(isinstance(h, dict) for h in history):
        raise TypeError("options must be an object and history a list of objects")
    if int(meta["step"]) < 0:
        raise ValueError(f"negative step {meta['step']}")
    return TrainState(
        step=int(meta["step"]),
        best_valid_cost=best,
        best_step=best_step,
        seed=int(meta.get("seed", 0)),
        data_state=_decode(meta.get("data_state")),
        options=options,
        elapsed_s=float(meta.get("elapsed_s", 0.0)),
        model_variables=model_vars,
        optimizer_variables=opt_vars,
        variable_names=names,
        history=history,
    )


def check_variables(
    where: str, names: Sequence[str], shapes: Sequence[tuple[int, ...]], state: TrainState
) -> None:
    """Raise unless the saved model variables match the model's names and shapes."""
    if len(names) != len(state.model_variables):
        raise SketchartError(
            f"{where}: the saved state has {len(state.model_variables)} model variables, "
            f"the model has {len(names)} (different hparams?)")
    for i, (name, shape) in enumerate(zip(names, shapes)):
        saved = tuple(state.model_variables[i].shape)
        if tuple(shape) != saved:
            raise SketchartError(
                f"{where}: variable {i} ({name}) has shape {list(shape)} in the model but "
                f"{list(saved)} in the saved state")
