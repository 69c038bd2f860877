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

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.hparams import HParams
from sketchart.training.evaluation import evaluate, evaluate_model
from sketchart.training.guard import guard_log_root
from sketchart.training.prepare import PreparedData, prepare_data
from sketchart.training.result import TrainError, TrainResult
from sketchart.training.run import RunOptions, TrainingRun
from sketchart.training.schedule import (
    BUCKET_STEP_MULTIPLE,
    BUCKET_STEP_MULTIPLE_COMPILED,
    bucket_multiple,
    bucket_steps,
    kl_weight_at,
    learning_rate_at,
)

if TYPE_CHECKING:
    from sketchart.training.checkpoint import TrainState

__all__ = [
    "BUCKET_STEP_MULTIPLE",
    "BUCKET_STEP_MULTIPLE_COMPILED",
    "RESUMABLE_HPARAMS",
    "PreparedData",
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


# ------------------------------------------------------------------------ hparams
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


# ------------------------------------------------------------------------ log root
def _check_writable(log_root: Path) -> None:
    try:
        log_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=log_root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise TrainError(f"log root {log_root} is not writable: "
                         f"{exc.strerror or exc}") from None


# ------------------------------------------------------------------------ train()
@guard_log_root
def train(
    log_root: str | os.PathLike[str],
    hparams: str | Mapping[str, Any] | HParams | None = None,
    *, data_dir: str | os.PathLike[str] | None = None, resume: bool = False,
    bucketed: bool = False, data_parallel: bool = False, distributed: bool = False,
    seed: int | None = None, jit_compile: bool = False, precision: str | None = None,
    progress: bool = True, tensorboard: bool = True, samples: int = 8, log_every: int = 20,
    download: bool = True,
) -> TrainResult:
    """Train a Sketch-RNN into ``log_root`` (see the module docstring).

    Args:
        log_root: folder for ``best/``, ``last/`` and TensorBoard events.
        hparams: magenta's ``--hparams`` text (``"data_set=cat.npz,num_steps=2000"``), a
            dict, or an :class:`HParams` (whose ``max_seq_len`` then counts as explicit).
        data_dir: where ``data_set`` names are looked up (and QuickDraw categories
            downloaded); paths with a folder part are used as given.
        resume: continue ``log_root/last`` bit for bit (step, optimizer, schedules, data
            order, random streams); ``hparams`` may change only ``num_steps``, ``save_every``.
        bucketed: length-bucketed batches run only to their longest sketch + 1 (faster;
            the loss drops the pen terms of the steps not run).
        data_parallel: split each batch over all devices (GPUs, or virtual CPU devices):
            ``keras.distribution.DataParallel`` on JAX, ``MirroredStrategy`` on TF.
        distributed: one process of a multi-process run (``docs/distributed.md``): the
            global ``batch_size`` is split over all processes' devices; process 0 writes.
        seed: seed of initial weights, data order, augmentation, dropout and z noise
            (default: drawn at random and recorded for ``resume``).
        jit_compile: TensorFlow: compile the step with XLA (slower on CPU).
        precision: ``float32`` (default) or ``bfloat16`` (Keras' ``mixed_bfloat16``:
            float32 weights, loss and mixture head); a resumed run keeps its own.
        progress, tensorboard: draw a progress bar on stderr; write TensorBoard events.
        samples: sketches drawn into TensorBoard at each save (0: none).
        log_every: steps between TensorBoard training scalars.
        download: allow downloading QuickDraw categories.

    Returns:
        A :class:`TrainResult` (its :meth:`~TrainResult.summary` is the final line).

    Raises:
        TrainError: bad setup, ``log_root`` locked by another run, a full disk or a
            non-finite loss (``last/`` kept); :class:`TrainInterrupted` after Ctrl-C.
        HParamsError: an unknown or badly typed hparam.
    """
    started, log_root = time.monotonic(), Path(log_root)
    cluster = _join(log_root, resume) if distributed else None
    hps, state, seed, max_from_data = _start_state(log_root, hparams, resume, bucketed, seed)
    precision = _run_precision(log_root, state, precision)
    prepared, seed = _prepare(log_root, hps, state, data_dir, cluster,
                              max_from_data=max_from_data, bucketed=bucketed, seed=seed,
                              download=download, progress=progress)
    chief = cluster is None or cluster.is_chief
    if cluster is not None and cluster.num_processes > 1:
        samples = 0  # drawing runs on one process, the model spans all of them
    options = RunOptions(seed=seed, precision=precision, bucketed=bucketed,
                         data_parallel=data_parallel, jit_compile=jit_compile,
                         progress=progress and chief, tensorboard=tensorboard and chief,
                         samples=samples, log_every=log_every, started=started,
                         cluster=cluster)
    return TrainingRun(log_root, prepared, options, state).run()


def _start_state(log_root: Path, hparams: str | Mapping[str, Any] | HParams | None,
                 resume: bool, bucketed: bool, seed: int | None,
                 ) -> tuple[HParams, TrainState | None, int, bool]:
    """The run's hparams, its saved state (resumed runs only), its seed (saved, given, else
    drawn at random) and whether ``max_seq_len`` is to come from the data."""
    if resume:
        hps, state = _resume_state(log_root, hparams, bucketed)
        return hps, state, state.seed, False
    hps, explicit = _parse_hparams(hparams)
    _refuse_existing_run(log_root)
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # drawn from the OS, not given
        seed = entropy % (2 ** 31)
    return hps, None, seed, "max_seq_len" not in explicit


def _prepare(log_root: Path, hps: HParams, state: TrainState | None,
             data_dir: str | os.PathLike[str] | None, cluster: Any, *, max_from_data: bool,
             bucketed: bool, seed: int, download: bool, progress: bool,
             ) -> tuple[PreparedData, int]:
    """Clean up ``log_root`` (the writing process), share the chief's seed over a cluster,
    and load the data (a cluster's process: its share); returns the data and the seed."""
    from sketchart.training.checkpoint import clean_temporaries

    if cluster is None or cluster.is_chief:
        _check_writable(log_root)
        for target in (log_root / "last", log_root / "best"):
            clean_temporaries(target)
    if cluster is not None:
        # one seed for every process: the chief's (a resumed run's is already shared)
        seed = _shared_seed(cluster, seed)
    saved_scale, saved_paths = _saved_data(log_root, state, data_dir)
    share = (0, 1) if cluster is None else (cluster.process_id, cluster.num_processes)
    prepared = prepare_data(hps, data_dir, max_seq_len_from_data=max_from_data,
                            bucketed=bucketed, seed=seed, scale_factor=saved_scale,
                            download=download, progress=progress, paths=saved_paths,
                            share=share)
    return prepared, seed


def _join(log_root: Path, resume: bool) -> Any:
    """Join the distributed run; the chief finishes an interrupted swap of ``last/`` or
    ``best/`` before any process reads them."""
    from sketchart.training.checkpoint import recover_dir
    from sketchart.training.distributed import barrier, join_cluster

    cluster = join_cluster()
    if cluster.holds_log_root_lock:
        from sketchart.training.lock import LogRootLock

        log_root.mkdir(parents=True, exist_ok=True)
        # held until the process ends: a distributed train() is a whole process
        cluster.lock = LogRootLock(log_root)
        cluster.lock.acquire()
    if cluster.is_chief and resume:
        recover_dir(log_root / "last")
        recover_dir(log_root / "best")
    barrier(cluster, "log-root-ready")
    return cluster


def _shared_seed(cluster: Any, seed: int) -> int:
    from sketchart.training.distributed import broadcast_int

    return broadcast_int(cluster, seed)


def _run_precision(log_root: Path, state: TrainState | None, precision: str | None) -> str:
    """The run's precision: a resumed run's recorded one (runs saved before it was
    recorded are float32), else ``precision`` (default float32)."""
    from sketchart.nn.precision import check_precision

    if state is None:
        try:
            return check_precision(precision or "float32")
        except ValueError as exc:
            raise TrainError(str(exc)) from None
    saved = str(state.options.get("precision", "float32"))
    if precision is not None and precision != saved:
        raise TrainError(f"{log_root} was trained in {saved}; resume it the same way "
                         f"(not {precision})")
    return saved


def _refuse_existing_run(log_root: Path) -> None:
    if (log_root / "best").exists() or (log_root / "last").exists():
        raise TrainError(f"{log_root} already holds a training run (best/ or last/); "
                         "pass --resume to continue it, or choose another log root")


def _resume_state(log_root: Path, hparams: str | Mapping[str, Any] | HParams | None,
                  bucketed: bool) -> tuple[HParams, TrainState]:
    """The saved hparams (with the allowed changes) and training state of ``last/``."""
    from sketchart.training.checkpoint import has_train_state, read_train_state, recover_dir

    last_dir = log_root / "last"
    recover_dir(last_dir)
    recover_dir(log_root / "best")
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
    return hps, state


def _saved_data(log_root: Path, state: TrainState | None,
                data_dir: str | os.PathLike[str] | None,
                ) -> tuple[float | None, list[Path] | None]:
    """A resumed run's scale factor, and its data files when they are to be reused."""
    if state is None:
        return None, None
    import json

    meta_path = log_root / "last" / "sketchart.json"
    try:
        saved_scale = float(json.loads(meta_path.read_text(encoding="utf-8"))["scale_factor"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise TrainError(f"{meta_path}: unreadable ({exc})") from None
    # resumed without --data-dir: the files the run was started with, if still there,
    # stored relative to the log root, so a committed run resumes in another checkout
    saved_paths: list[Path] | None = [
        (log_root / p).resolve() for p in state.options.get("data_paths", [])
    ]
    if data_dir is not None or not saved_paths or not all(p.is_file() for p in saved_paths):
        saved_paths = None
    return saved_scale, saved_paths
