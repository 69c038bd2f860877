"""Training: magenta's ``sketch_rnn_train.py`` behaviour, crash-safe and resumable.

:func:`train` runs the reference's loop on TensorFlow or JAX:

* random batches of augmented sketches (``BatchLoader.random_batch``), or opt-in
  length-bucketed batches run only to their longest sketch + 1 (``bucketed=True``);
* the schedules of :func:`learning_rate_at` and :func:`kl_weight_at`, computed from the
  step *before* the update, Adam with epsilon 1e-8, every gradient value clipped to
  ``[-grad_clip, grad_clip]`` (``sketchart.training.step``);
* every ``save_every`` steps the whole valid split is evaluated with the KL weight reached
  so far (the reference keeps 0.01 there; r_cost and kl_cost are logged apart so
  either convention can be recomputed); on improvement ``best/`` is saved and the test
  split evaluated; ``last/`` is saved every time, with the optimizer, data-order and
  random-stream state, so ``resume=True`` continues bit for bit;
* both directories are swapped in atomically (``sketchart.training.checkpoint``); a
  non-finite loss stops the run and keeps the last good checkpoint;
* TensorBoard events (tensorboardX: no TensorFlow needed) and a progress bar.

``max_seq_len`` left unset becomes the longest sketch over train, valid and test (as the
reference does) and is recorded in the model directory; an explicit value drops longer
sketches with a warning that counts them.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.hparams import HParams

__all__ = [
    "RESUMABLE_HPARAMS",
    "TrainError",
    "TrainResult",
    "bucket_multiple",
    "bucket_steps",
    "evaluate",
    "evaluate_model",
    "kl_weight_at",
    "learning_rate_at",
    "prepare_data",
    "train",
]

#: hparams that may change when a run is resumed (they do not change the model or data)
RESUMABLE_HPARAMS = frozenset({"num_steps", "save_every"})
#: bucketed batches run a multiple of this many decoder steps: 8 where the compiled step
#: takes any length (tf.function without XLA), 25 where each length is compiled anew
#: (jax.jit, XLA), so at most N_max / 25 programs are built
BUCKET_STEP_MULTIPLE = 8
BUCKET_STEP_MULTIPLE_COMPILED = 25
_EVAL_SPLIT_CODE = {"valid": 1, "test": 2}


class TrainError(SketchartError):
    """Training cannot start or had to stop (bad setup, non-finite loss)."""


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        log_root: the run's folder (``best/``, ``last/``, TensorBoard events).
        steps: updates done in total (including those before a resume).
        wall_time_s: seconds spent in this call.
        total_time_s: training seconds over the whole run (earlier sessions included).
        best_valid: valid ``cost``/``r_cost``/``kl_cost`` of ``best/`` (None if none yet).
        best_step: the step ``best/`` was saved at.
        test: test losses of ``best/`` (None if not evaluated).
        history: one dict per evaluation (step, split, losses, kl_weight).
    """

    log_root: Path
    steps: int
    wall_time_s: float
    best_valid: dict[str, float] | None = None
    best_step: int | None = None
    test: dict[str, float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    total_time_s: float = 0.0

    def summary(self) -> str:
        """One line: steps, wall time, best valid cost, test cost."""
        parts = [f"{self.steps} steps in {_hms(self.wall_time_s)}"]
        if self.best_valid is not None:
            parts.append(
                f"best valid cost {self.best_valid['cost']:.4f} "
                f"(r {self.best_valid['r_cost']:.4f}, kl {self.best_valid['kl_cost']:.4f}) "
                f"at step {self.best_step}")
        if self.test is not None:
            parts.append(f"test cost {self.test['cost']:.4f} (r {self.test['r_cost']:.4f}, "
                         f"kl {self.test['kl_cost']:.4f})")
        return "trained " + "; ".join(parts) + f"; saved in {self.log_root}"


# --------------------------------------------------------------------------- schedules
def learning_rate_at(hps: HParams, step: int) -> float:
    """The reference's learning rate for the update at ``step`` (updates done before it).

    ``(learning_rate - min_learning_rate) * decay_rate**step + min_learning_rate``: it
    decays towards ``min_learning_rate`` and never below.
    """
    return ((hps.learning_rate - hps.min_learning_rate) * hps.decay_rate ** step
            + hps.min_learning_rate)


def kl_weight_at(hps: HParams, step: int) -> float:
    """The reference's KL weight for the update at ``step``.

    ``kl_weight - (kl_weight - kl_weight_start) * kl_decay_rate**step``: starts at
    ``kl_weight_start`` and rises towards ``kl_weight``.
    """
    return hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * hps.kl_decay_rate ** step


# --------------------------------------------------------------------------------- data
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


def prepare_data(
    hps: HParams, data_dir: str | os.PathLike[str] | None, *, max_seq_len_from_data: bool,
    bucketed: bool = False, seed: int = 0, scale_factor: float | None = None,
    download: bool = True, progress: bool = True, paths: list[Path] | None = None,
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

    Raises:
        TrainError: a split is empty (or emptied by the filter), or the training split
            cannot fill one batch.
    """
    from sketchart.data.datasets import BatchLoader, load_datasets
    from sketchart.data.quickdraw import resolve_data_set

    if paths is None:
        paths = [resolve_data_set(name, data_dir, download=download, progress=progress)
                 for name in hps.data_set]
    data = load_datasets(paths)
    names = ", ".join(p.name for p in paths)
    if max_seq_len_from_data:
        hps = hps.replace({"max_seq_len": max(data.max_len(), 1)})
    limit = hps.max_seq_len
    dropped = {s: sum(len(x) > limit for x in data.split(s)[0])
               for s in ("train", "valid", "test")}
    if any(dropped.values()):
        counts = ", ".join(f"{n} of {len(data.split(s)[0])} {s}" for s, n in dropped.items())
        warnings.warn(f"{names}: dropped sketches longer than max_seq_len={limit}: {counts}",
                      stacklevel=2)
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


def bucket_multiple(jit_compile: bool = False) -> int:
    """The rounding of bucketed step counts for the active backend (see the constants)."""
    import keras

    if keras.backend.backend() == "tensorflow" and not jit_compile:
        return BUCKET_STEP_MULTIPLE
    return BUCKET_STEP_MULTIPLE_COMPILED


def bucket_steps(lengths: np.ndarray, max_seq_len: int,
                 multiple: int = BUCKET_STEP_MULTIPLE) -> int:
    """Decoder steps a bucketed batch runs: its longest sketch + 1 (the end-of-sketch
    step), rounded up to ``multiple`` and capped at ``max_seq_len``."""
    need = int(np.max(lengths)) + 1
    return min(max_seq_len, -(-need // multiple) * multiple)


# --------------------------------------------------------------------------- evaluation
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


def _eval_seed(seed: int, step: int, split: str, dtype: np.dtype) -> np.ndarray:
    # derived from (seed, step, split) only: evaluation is reproducible and never
    # consumes the training run's random stream
    return np.array([seed % (2 ** 31), (step * 4 + _EVAL_SPLIT_CODE[split]) % (2 ** 31)],
                    dtype=dtype)


def evaluate_model(
    model_dir: str | os.PathLike[str], data: str | os.PathLike[str], split: str = "test",
    *, kl_weight: float | None = None, batch_size: int | None = None, seed: int = 0,
    use_mu: bool = False,
) -> dict[str, Any]:
    """Evaluate a saved model on one split of a dataset file (``sketchart evaluate``).

    The dataset is normalised with the *model's* scale factor; sketches longer than the
    model's ``max_seq_len`` are dropped with a warning.

    Args:
        model_dir: a model directory, or a training log root (its ``best/``).
        data: a sketch-rnn ``.npz``.
        split: ``train``, ``valid`` or ``test``.
        kl_weight: weight of KL in ``cost`` (default: the schedule at the model's step
            count, or the final ``kl_weight``).
        batch_size: rows per batch (default the model's).
        seed: the random stream of ``z``.
        use_mu: decode from ``z = mu`` (deterministic; the reference's fixtures are made
            so) instead of sampling ``z`` (the reference's evaluation).

    Returns:
        dict with ``cost``, ``r_cost``, ``kl_cost``, ``kl_weight``, ``sketches``,
        ``dropped``.
    """
    from sketchart.data.datasets import SPLITS, BatchLoader, load_npz
    from sketchart.training.step import TrainStep

    if split not in SPLITS:
        raise TrainError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    model = _load_model_dir(model_dir)
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
                      _eval_seed(seed, 0, "test", step_fn.seed_dtype), use_mu=use_mu)
    return {**losses, "kl_weight": float(kl_weight), "sketches": len(loader),
            "dropped": int(loader.num_dropped)}


# ------------------------------------------------------------------------ model files
def _load_model_dir(path: str | os.PathLike[str]) -> Any:
    from sketchart.modeldir import load_model_dir

    path = Path(path)
    if (path / "best").is_dir() and not (path / "model_config.json").exists():
        from sketchart.training.checkpoint import recover_dir

        recover_dir(path / "best")
        path = path / "best"
    return load_model_dir(path)


def _save_model_dir(path: Path, model: Any, *, prepared: PreparedData, steps: int,
                    valid: dict[str, float] | None, test: dict[str, float] | None) -> None:
    from sketchart.modeldir import ModelMeta, save_model_dir

    meta = ModelMeta(
        scale_factor=prepared.scale_factor,
        max_seq_len=prepared.hps.max_seq_len,
        data_set=list(prepared.hps.data_set),
        class_names=list(prepared.class_names),
        source="sketchart",
        steps=int(steps),
        valid=None if valid is None else {k: valid[k] for k in ("r_cost", "kl_cost")},
        test=None if test is None else {k: test[k] for k in ("r_cost", "kl_cost")},
    )
    model.meta = meta
    save_model_dir(model, path, meta)


# ------------------------------------------------------------------------ log root
def _check_writable(log_root: Path) -> None:
    try:
        log_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=log_root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise TrainError(f"log root {log_root} is not writable: "
                         f"{exc.strerror or exc}") from None


def _parse_hparams(hparams: str | Mapping[str, Any] | HParams | None,
                   base: HParams | None = None) -> tuple[HParams, set[str]]:
    """``(hps, names set explicitly)``."""
    base = base or HParams()
    if hparams is None:
        return base.replace({}), set()
    if isinstance(hparams, HParams):
        explicit = {k for k, v in hparams.to_dict().items() if v != HParams().to_dict()[k]}
        return hparams.replace({}), explicit | {"max_seq_len"}
    if isinstance(hparams, str):
        parsed = base.parse(hparams)
        explicit = _explicit_keys(hparams)
        return parsed, explicit
    return base.replace(dict(hparams)), set(hparams)


def _explicit_keys(text: str) -> set[str]:
    import json

    text = text.strip()
    if not text:
        return set()
    if text.startswith("{"):
        return set(json.loads(text))
    from sketchart.hparams import _split_top_level

    return {item.split("=", 1)[0].strip() for item in _split_top_level(text) if "=" in item}


# ----------------------------------------------------------------------- distribution
@contextlib.contextmanager
def _no_scope() -> Iterator[None]:
    yield


def _data_parallel(batch_size: int) -> tuple[Any, Any, Any, int]:
    """``(tf strategy, keras distribution, scope, devices)`` for data-parallel training."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = jax.devices()
        if batch_size % len(devices):
            raise TrainError(f"batch_size={batch_size} does not split over "
                             f"{len(devices)} devices")
        dist = keras.distribution.DataParallel(
            devices=[f"{d.platform}:{d.id}" for d in devices])
        return None, dist, dist.scope(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        names = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        if batch_size % len(names):
            raise TrainError(f"batch_size={batch_size} does not split over "
                             f"{len(names)} devices")
        strategy = tf.distribute.MirroredStrategy(names)
        return strategy, None, strategy.scope(), len(names)
    raise TrainError(f"data-parallel training is not supported on backend {backend!r}")


# ------------------------------------------------------------------------- the loop

def _cli_command() -> dict[str, str]:
    """``{"command": ...}`` when the ``sketchart`` CLI runs this process (read by
    ``sketchart models ship`` for the model's README), else nothing."""
    import shlex

    prog = sys.argv[0] if sys.argv else ""
    # the console script, or ``python -m sketchart`` (not pytest's own __main__.py)
    cli = os.path.basename(prog) == "sketchart" or prog.endswith(
        os.path.join("sketchart", "__main__.py")
    )
    if not cli:
        return {}
    return {"command": shlex.join(["sketchart", *sys.argv[1:]])}

def train(
    log_root: str | os.PathLike[str],
    hparams: str | Mapping[str, Any] | HParams | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    bucketed: bool = False,
    data_parallel: bool = False,
    seed: int | None = None,
    jit_compile: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    samples: int = 8,
    log_every: int = 20,
    download: bool = True,
) -> TrainResult:
    """Train a Sketch-RNN into ``log_root`` (see the module docstring).

    Args:
        log_root: folder for ``best/``, ``last/`` and TensorBoard events.
        hparams: magenta's ``--hparams`` text (``"data_set=cat.npz,num_steps=2000"``), a
            dict, or an :class:`HParams` (whose ``max_seq_len`` then counts as explicit).
        data_dir: where ``data_set`` names are looked up (and QuickDraw categories
            downloaded); paths with a folder part are used as given.
        resume: continue the run in ``log_root/last`` (same step, optimizer state,
            schedules, data order and random streams); ``hparams`` may then only change
            ``num_steps`` and ``save_every``.
        bucketed: length-bucketed batches run only to their longest sketch + 1 (faster;
            the loss drops the pen terms of the steps not run).
        data_parallel: split each batch over all devices (GPUs, or virtual CPU devices):
            ``keras.distribution.DataParallel`` on JAX, ``MirroredStrategy`` on TF.
        seed: seed of initial weights, data order, augmentation, dropout and z noise
            (default: drawn at random and recorded for ``resume``).
        jit_compile: TensorFlow: compile the step with XLA (slower on CPU).
        progress: draw a progress bar on stderr.
        tensorboard: write TensorBoard events into ``log_root``.
        samples: sketches drawn into TensorBoard at each save (0: none).
        log_every: steps between TensorBoard training scalars.
        download: allow downloading QuickDraw categories.

    Returns:
        A :class:`TrainResult` (its :meth:`~TrainResult.summary` is the final line).

    Raises:
        TrainError: bad setup (before any training), or a non-finite loss (after which
            ``last/`` still holds the last good state).
        HParamsError: an unknown or badly typed hparam.
    """
    from sketchart.training.checkpoint import (
        clean_temporaries,
        has_train_state,
        read_train_state,
        recover_dir,
    )

    started = time.monotonic()
    log_root = Path(log_root)
    last_dir, best_dir = log_root / "last", log_root / "best"
    state = None
    if resume:
        recover_dir(last_dir)
        recover_dir(best_dir)
        if not has_train_state(last_dir):
            raise TrainError(f"nothing to resume: {last_dir} holds no training state")
        saved_hps = HParams.from_json(last_dir / "model_config.json")
        hps, explicit = _parse_hparams(hparams, base=saved_hps)
        changed = sorted(k for k in explicit if getattr(hps, k) != getattr(saved_hps, k)
                         and k not in RESUMABLE_HPARAMS)
        if changed:
            raise TrainError(
                f"--resume continues {log_root} with its saved hparams; only "
                f"{', '.join(sorted(RESUMABLE_HPARAMS))} may change, not {', '.join(changed)}")
        state = read_train_state(last_dir)
        if bool(state.options.get("bucketed", False)) != bucketed:
            raise TrainError(f"{log_root} was trained with bucketed="
                             f"{state.options.get('bucketed')}; resume it the same way")
        seed = state.seed
        max_from_data = False
    else:
        hps, explicit = _parse_hparams(hparams)
        if best_dir.exists() or last_dir.exists():
            raise TrainError(f"{log_root} already holds a training run (best/ or last/); "
                             "pass --resume to continue it, or choose another log root")
        max_from_data = "max_seq_len" not in explicit
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 31))
    _check_writable(log_root)
    for target in (last_dir, best_dir):
        clean_temporaries(target)
    saved_scale = saved_paths = None
    if state is not None:
        import json

        meta_json = json.loads((last_dir / "sketchart.json").read_text(encoding="utf-8"))
        saved_scale = float(meta_json["scale_factor"])
        # resumed without --data-dir: the files the run was started with, if still there
        # stored relative to the log root, so a committed run resumes in another checkout
        saved_paths = [(log_root / p).resolve() for p in state.options.get("data_paths", [])]
        if data_dir is not None or not saved_paths or not all(p.is_file()
                                                              for p in saved_paths):
            saved_paths = None
    prepared = prepare_data(hps, data_dir, max_seq_len_from_data=max_from_data,
                            bucketed=bucketed, seed=seed, scale_factor=saved_scale,
                            download=download, progress=progress, paths=saved_paths)
    hps = prepared.hps
    return _run(log_root, hps, prepared, state=state, seed=seed, bucketed=bucketed,
                data_parallel=data_parallel, jit_compile=jit_compile, progress=progress,
                tensorboard=tensorboard, samples=samples, log_every=log_every,
                started=started)


def _run(log_root: Path, hps: HParams, prepared: PreparedData, *, state: Any, seed: int,
         bucketed: bool, data_parallel: bool, jit_compile: bool, progress: bool,
         tensorboard: bool, samples: int, log_every: int, started: float) -> TrainResult:
    import keras

    from sketchart.nn.model import SketchRNN
    from sketchart.training.checkpoint import (
        TrainState,
        atomic_dir,
        check_variables,
        write_train_state,
    )
    from sketchart.training.step import TrainStep
    from sketchart.training.tblog import TensorBoardLogger

    strategy = distribution = None
    scope: Any = _no_scope()
    if data_parallel:
        strategy, distribution, scope, _ = _data_parallel(hps.batch_size)
    _seed_everything(seed)
    with scope:
        model = SketchRNN(hps, seed=seed)
        optimizer = keras.optimizers.Adam(learning_rate=hps.learning_rate, epsilon=1e-8)
        step_fn = TrainStep(model, optimizer, hps, jit_compile=jit_compile,
                            strategy=strategy, distribution=distribution)
    step = 0
    best_cost: float | None = None
    best_step: int | None = None
    elapsed_before = 0.0
    last_dir, best_dir = log_root / "last", log_root / "best"
    if state is not None:
        names = [v.path for v in model.variables]
        check_variables(str(last_dir), names, [tuple(v.shape) for v in model.variables], state)
        for var, value in zip(model.variables, state.model_variables):
            var.assign(value)
        if len(state.optimizer_variables) != len(optimizer.variables):
            raise TrainError(f"{last_dir}: optimizer state does not match the model")
        for var, value in zip(optimizer.variables, state.optimizer_variables):
            var.assign(value)
        prepared.train.set_state(state.data_state)
        step_fn.reload()
        step, best_cost, best_step = state.step, state.best_valid_cost, state.best_step
        elapsed_before = state.elapsed_s
    result = TrainResult(log_root=log_root, steps=step, wall_time_s=0.0,
                         best_valid=None, best_step=best_step)
    if state is not None:
        result.history = list(state.history)
    if state is not None and best_cost is not None and (best_dir / "sketchart.json").exists():
        result.best_valid, result.test = _read_best_losses(best_dir, hps, best_step)
    tb = TensorBoardLogger(log_root, purge_step=step if state is not None else None,
                           enabled=tensorboard)
    bar = _Progress(hps.num_steps, step, enabled=progress)
    sample_sketches = prepared.valid.strokes3[:: max(1, len(prepared.valid) // 4)][:4]

    def save_last() -> None:
        step_fn.sync()
        with atomic_dir(last_dir) as tmp:
            _save_model_dir(tmp, model, prepared=prepared, steps=step,
                            valid=result.best_valid, test=result.test)
            write_train_state(tmp, TrainState(
                step=step, best_valid_cost=best_cost, best_step=best_step, seed=seed,
                data_state=pending_state,
                options={"bucketed": bucketed, "backend": keras.backend.backend(),
                         "data_paths": [os.path.relpath(p.resolve(), log_root.resolve())
                                        for p in prepared.paths],
                         **_cli_command()},
                elapsed_s=elapsed_before + time.monotonic() - started,
                model_variables=[np.asarray(v.value) for v in model.variables],
                optimizer_variables=[np.asarray(v.value) for v in optimizer.variables],
                variable_names=[v.path for v in model.variables],
                history=result.history))

    def evaluate_and_save() -> None:
        nonlocal best_cost, best_step
        klw = kl_weight_at(hps, max(step - 1, 0))
        valid = evaluate(step_fn, prepared.valid, klw,
                         _eval_seed(seed, step, "valid", step_fn.seed_dtype))
        if not all(math.isfinite(v) for v in valid.values()):
            raise TrainError(f"non-finite validation loss at step {step} ({valid}); training "
                             f"stopped; {_kept(last_dir)}")
        tb.scalars("valid", valid, step)
        result.history.append({"step": step, "split": "valid", "kl_weight": klw, **valid})
        if best_cost is None or valid["cost"] < best_cost:
            best_cost, best_step = valid["cost"], step
            test = evaluate(step_fn, prepared.test, klw,
                            _eval_seed(seed, step, "test", step_fn.seed_dtype))
            tb.scalars("test", test, step)
            result.history.append({"step": step, "split": "test", "kl_weight": klw, **test})
            result.best_valid, result.best_step, result.test = valid, step, test
            step_fn.sync()
            with atomic_dir(best_dir) as tmp:
                _save_model_dir(tmp, model, prepared=prepared, steps=step, valid=valid,
                                test=test)
        bar.note(f"step {step}: valid cost {valid['cost']:.4f} (r {valid['r_cost']:.4f}, "
                 f"kl {valid['kl_cost']:.4f})"
                 + (" *best*" if best_step == step else ""))
        save_last()
        if samples:
            _log_samples(tb, model, sample_sketches, prepared, samples, seed, step)
        tb.flush()

    multiple = bucket_multiple(jit_compile)
    evaluated_at = step if state is not None else None
    rate_t0, rate_step0 = time.monotonic(), step
    loader = prepared.train
    # the loader state the next update's batch is drawn from: what last/ records, so a
    # resumed run draws that batch again (the loop draws one batch ahead, see below)
    pending_state = loader.get_state()
    batch = loader.random_batch() if step < hps.num_steps else None
    consistent = True  # False while an update is applied but not yet counted
    stop = _GracefulInterrupt()
    try:
        while step < hps.num_steps:
            strokes5, lengths = batch.strokes5, batch.lengths
            if bucketed:
                steps_run = bucket_steps(lengths, hps.max_seq_len, multiple)
                strokes5 = strokes5[:, : steps_run + 1]
            lr, klw = learning_rate_at(hps, step), kl_weight_at(hps, step)
            consistent = False
            out = step_fn.dispatch(strokes5, lengths, lr, klw)
            # prepared while the device computes (JAX dispatches asynchronously)
            next_state = loader.get_state()
            batch = loader.random_batch() if step + 1 < hps.num_steps else None
            losses = step_fn.losses(out)
            if not all(math.isfinite(v) for v in losses.values()):
                raise TrainError(
                    f"non-finite loss at step {step} (cost={losses['cost']}, "
                    f"r_cost={losses['r_cost']}, kl_cost={losses['kl_cost']}); training "
                    f"stopped; {_kept(last_dir)}")
            step += 1
            pending_state = next_state
            consistent = True
            bar.update(step, losses)
            if step % log_every == 0 or step == hps.num_steps:
                now = time.monotonic()
                rate = (step - rate_step0) / max(now - rate_t0, 1e-9)
                rate_t0, rate_step0 = now, step
                tb.scalars("train", {**losses, "lr": lr, "kl_weight": klw,
                                     "steps_per_s": rate}, step)
            if step % hps.save_every == 0:
                evaluate_and_save()
                evaluated_at = step
            if stop.requested:
                raise KeyboardInterrupt
        if evaluated_at != step or not (last_dir / "model_config.json").exists():
            evaluate_and_save()
    except KeyboardInterrupt:
        # keep the steps done since the last save: last/ then resumes exactly from here
        bar.close()
        saved = ""
        if consistent and step > (_saved_step(last_dir) or 0):
            try:
                save_last()
                saved = f"; saved step {step} in {last_dir}"
            except Exception:  # noqa: BLE001 (the state may be mid-update: keep the old)
                saved = ""
        raise TrainError(f"interrupted at step {step}{saved}; {_kept(last_dir)}; "
                         "--resume continues from it") from None
    finally:
        stop.restore()
        bar.close()
        tb.close()
    result.steps = step
    result.wall_time_s = time.monotonic() - started
    result.total_time_s = elapsed_before + result.wall_time_s
    return result


class _GracefulInterrupt:
    """The first Ctrl-C asks the loop to stop after the update in progress (so the state
    saved is consistent); a second one interrupts at once."""

    def __init__(self) -> None:
        import signal
        import threading

        self.requested = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to stop now)", file=sys.stderr,
              flush=True)

    def restore(self) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend, so the initial weights follow from ``seed``."""
    import random

    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # keras.utils.set_random_seed would import TensorFlow when it is installed; Keras'
    # initialisers draw their default seeds from Python's random module
    random.seed(seed)
    np.random.seed(seed)


def _saved_step(last_dir: Path) -> int | None:
    """The step of the state in ``last/`` (None when there is none)."""
    import json

    try:
        return int(json.loads((last_dir / "train_state.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return None


def _kept(last_dir: Path) -> str:
    """What is left after a failure, for the error message."""
    saved = _saved_step(last_dir)
    if saved is None:
        return "no checkpoint was saved yet"
    return f"the last good checkpoint is {last_dir} (step {saved})"


def _read_best_losses(best_dir: Path, hps: HParams, best_step: int | None,
                      ) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    import json

    meta = json.loads((best_dir / "sketchart.json").read_text(encoding="utf-8"))
    klw = kl_weight_at(hps, max((best_step or 1) - 1, 0))

    def with_cost(d: Any) -> dict[str, float] | None:
        if not d:
            return None
        return {"cost": d["r_cost"] + klw * d["kl_cost"], **d}

    return with_cost(meta.get("valid")), with_cost(meta.get("test"))


def _log_samples(tb: Any, model: Any, sketches: list[np.ndarray], prepared: PreparedData,
                 n: int, seed: int, step: int) -> None:
    """Reconstructions of a few valid sketches (conditional) and free samples, as images."""
    from sketchart.generate import sampling

    try:
        originals = [s * np.array([prepared.scale_factor, prepared.scale_factor, 1.0],
                                  np.float32) for s in sketches]
        drawn = sampling.sample(model, n=n, temperature=0.4, seed=seed + step)
        tb.sketches("samples/free", drawn, step, cols=min(n, 4))
        if model.hps.conditional and originals:
            rebuilt = sampling.reconstruct(model, originals, temperature=0.4, seed=seed)
            tb.sketches("samples/reconstructions", originals + rebuilt, step,
                        cols=len(originals))
    except SketchartError as exc:  # a drawing failure must not end a long run
        warnings.warn(f"step {step}: could not draw samples for TensorBoard: {exc}",
                      stacklevel=2)


# ---------------------------------------------------------------------- progress bar
def _hms(seconds: float) -> str:
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Progress:
    """Progress on stderr: redrawn in place on a terminal, a line every 20 steps otherwise.

    Shows the step, a bar, steps/s (smoothed), ETA and the current losses.
    """

    def __init__(self, total: int, start: int, enabled: bool, width: int = 24) -> None:
        self.total, self.start, self.enabled, self.width = total, start, enabled, width
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.last_draw = 0.0
        self.rate: float | None = None
        self.prev_t, self.prev_step = self.t0, start
        self.drawn = False

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        dt = now - self.prev_t
        if dt > 0.5 or step == self.total:
            inst = (step - self.prev_step) / max(dt, 1e-9)
            self.rate = inst if self.rate is None else 0.7 * self.rate + 0.3 * inst
            self.prev_t, self.prev_step = now, step
        if self.tty:
            if now - self.last_draw < 0.2 and step != self.total:
                return
        elif step % 20 and step != self.total:
            return
        self.last_draw = now
        frac = step / max(self.total, 1)
        filled = int(frac * self.width)
        rate = self.rate or (step - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        eta_text = _hms(eta) if math.isfinite(eta) else "?"
        text = (f"step {step}/{self.total} [{'#' * filled}{'-' * (self.width - filled)}] "
                f"{rate:.2f} step/s ETA {eta_text} cost {losses['cost']:.4f} "
                f"r {losses['r_cost']:.4f} kl {losses['kl_cost']:.4f}")
        if self.tty:
            print("\r" + text + "\033[K", end="", file=sys.stderr, flush=True)
            self.drawn = True
        else:
            print(text, file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A line of its own (an evaluation result) above the bar."""
        if not self.enabled:
            return
        prefix = "\r\033[K" if self.tty and self.drawn else ""
        print(prefix + text, file=sys.stderr, flush=True)
        self.drawn = False

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            print(file=sys.stderr, flush=True)
        self.drawn = False
