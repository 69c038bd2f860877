"""One training session: the run state, the loop over updates, evaluations and the saves
of ``best/`` and ``last/`` (:func:`sketchart.training.trainer.train` sets it up)."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.hparams import HParams
from sketchart.training.devices import data_parallel, no_scope, seed_everything
from sketchart.training.evaluation import eval_seed, evaluate
from sketchart.training.prepare import PreparedData
from sketchart.training.progress import GracefulInterrupt, Progress
from sketchart.training.result import TrainError, TrainResult
from sketchart.training.schedule import (
    bucket_multiple,
    bucket_steps,
    kl_weight_at,
    learning_rate_at,
)

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN
    from sketchart.training.checkpoint import TrainState
    from sketchart.training.tblog import TensorBoardLogger

__all__ = ["RunOptions", "TrainingRun"]


@dataclass
class RunOptions:
    """How :func:`train` was asked to run (fixed for the whole run)."""

    seed: int
    bucketed: bool
    data_parallel: bool
    jit_compile: bool
    progress: bool
    tensorboard: bool
    samples: int
    log_every: int
    started: float
    #: ``float32`` or ``bfloat16`` (:mod:`sketchart.nn.precision`)
    precision: str = "float32"
    #: a multi-process run's :class:`~sketchart.training.distributed.Cluster`
    cluster: Any = None

    @property
    def writes(self) -> bool:
        """Whether this process writes ``best/``, ``last/`` (the chief of a cluster)."""
        return self.cluster is None or self.cluster.is_chief



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


# ------------------------------------------------------------------------ the run
@dataclass
class _RunState:
    """What changes as a run goes: the step reached, the best evaluation so far, and the
    data order ``last/`` records."""

    result: TrainResult
    step: int = 0
    best_cost: float | None = None
    best_step: int | None = None
    elapsed_before: float = 0.0
    #: the loader state the next update's batch is drawn from: what last/ records, so a
    #: resumed run draws that batch again (the loop draws one batch ahead)
    pending_state: Any = None
    #: False while an update is applied but not yet counted
    consistent: bool = True
    #: the step of the last evaluation (None: none in this session)
    evaluated_at: int | None = None


class TrainingRun:
    """One training session: the model, optimizer and compiled step, the loop over
    updates, evaluations and the saves of ``best/`` and ``last/``."""

    def __init__(self, log_root: Path, prepared: PreparedData, options: RunOptions,
                 saved: TrainState | None) -> None:
        import keras

        from sketchart.nn.model import SketchRNN
        from sketchart.training.step import TrainStep

        self.log_root, self.prepared, self.options = log_root, prepared, options
        self.hps = hps = prepared.hps
        self.last_dir, self.best_dir = log_root / "last", log_root / "best"
        strategy = distribution = None
        scope: Any = no_scope()
        if options.cluster is not None:
            strategy, distribution, scope = options.cluster.parallel(hps.batch_size)
        elif options.data_parallel:
            strategy, distribution, scope, _ = data_parallel(hps.batch_size)
        seed_everything(options.seed)
        with scope:
            self.model = SketchRNN(hps, seed=options.seed, precision=options.precision)
            self.optimizer = keras.optimizers.Adam(learning_rate=hps.learning_rate,
                                                   epsilon=1e-8)
            self.step_fn = TrainStep(self.model, self.optimizer, hps,
                                     jit_compile=options.jit_compile, strategy=strategy,
                                     distribution=distribution)
        if prepared.streamed and options.cluster is not None:
            if options.cluster.backend != "jax":
                raise TrainError("sharded datasets train on several processes with JAX "
                                 "only; on TensorFlow give the .npz files")
            # each process streams its own rows of the global batch
            self.step_fn.local_batches = True
        self.state = st = _RunState(result=TrainResult(log_root=log_root, steps=0,
                                                       wall_time_s=0.0))
        self.resumed = saved is not None
        if saved is not None:
            self._restore(saved)
            st.result.history = list(saved.history)
            if st.best_cost is not None and (self.best_dir / "sketchart.json").exists():
                st.result.best_valid, st.result.test = _read_best_losses(
                    self.best_dir, hps, st.best_step)
        st.result.steps, st.result.best_step = st.step, st.best_step
        if saved is not None and getattr(options, "writes", True):
            # on every resume, quiet or not: users and scripts look for this line
            print(f"resuming from step {st.step}", file=sys.stderr, flush=True)
        self.tb: TensorBoardLogger = self._tensorboard()
        self.bar = Progress(hps.num_steps, st.step, enabled=options.progress)
        valid = prepared.valid
        self.sample_sketches = valid.strokes3[:: max(1, len(valid) // 4)][:4]

    def _tensorboard(self) -> TensorBoardLogger:
        from sketchart.training.tblog import TensorBoardLogger

        return TensorBoardLogger(self.log_root,
                                 purge_step=self.state.step if self.resumed else None,
                                 enabled=self.options.tensorboard)

    def _restore(self, saved: TrainState) -> None:
        """Weights, optimizer, data order and counters of ``last/``."""
        from sketchart.training.checkpoint import check_variables

        model, optimizer = self.model, self.optimizer
        names = [v.path for v in model.variables]
        check_variables(str(self.last_dir), names, [tuple(v.shape) for v in model.variables],
                        saved)
        for var, value in zip(model.variables, saved.model_variables):
            var.assign(value)
        if len(saved.optimizer_variables) != len(optimizer.variables):
            raise TrainError(f"{self.last_dir}: optimizer state does not match the model")
        for var, value in zip(optimizer.variables, saved.optimizer_variables):
            var.assign(value)
        try:
            self.prepared.train.set_state(saved.data_state)
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise TrainError(f"{self.last_dir / 'train_state.json'}: damaged data order "
                             f"state ({exc})") from None
        self.step_fn.reload()
        st = self.state
        st.step, st.best_cost = saved.step, saved.best_valid_cost
        st.best_step = saved.best_step
        st.elapsed_before = saved.elapsed_s

    # -------------------------------------------------------------- saves
    def save_last(self) -> None:
        import keras

        from sketchart.training.checkpoint import TrainState, atomic_dir, write_train_state

        st, opts, model = self.state, self.options, self.model
        if not opts.writes:
            return
        self.step_fn.sync()
        self._ensure_space(self.last_dir, 4)
        with atomic_dir(self.last_dir) as tmp:
            _save_model_dir(tmp, model, prepared=self.prepared, steps=st.step,
                            valid=st.result.best_valid, test=st.result.test)
            write_train_state(tmp, TrainState(
                step=st.step, best_valid_cost=st.best_cost, best_step=st.best_step,
                seed=opts.seed, data_state=st.pending_state,
                options={"bucketed": opts.bucketed, "backend": keras.backend.backend(),
                         "precision": opts.precision,
                         "data_paths": [os.path.relpath(p.resolve(), self.log_root.resolve())
                                        for p in self.prepared.paths],
                         **_cli_command()},
                elapsed_s=st.elapsed_before + time.monotonic() - opts.started,
                model_variables=[np.asarray(v.value) for v in model.variables],
                optimizer_variables=[np.asarray(v.value) for v in self.optimizer.variables],
                variable_names=[v.path for v in model.variables],
                history=st.result.history))

    def _ensure_space(self, target: Path, copies: int) -> None:
        """Refuse a save the disk cannot hold (HDF5 may crash on a full disk): the new
        directory is written beside the old one, as big as it or ``copies`` times the
        model's float32 variables (weights, train state, Adam's two moments)."""
        from sketchart.training.diskspace import directory_size, ensure_space

        arrays = sum(4 * int(np.prod(v.shape)) for v in self.model.variables)
        ensure_space(self.log_root, max(directory_size(target), copies * arrays))

    def _evaluate(self, split: str, klw: float) -> dict[str, float]:
        loader = self.prepared.valid if split == "valid" else self.prepared.test
        seed = eval_seed(self.options.seed, self.state.step, split, self.step_fn.seed_dtype)
        losses = evaluate(self.step_fn, loader, klw, seed)
        if split == "valid" and not all(math.isfinite(v) for v in losses.values()):
            raise TrainError(f"non-finite validation loss at step {self.state.step} "
                             f"({losses}); training stopped; {_kept(self.last_dir)}")
        self.tb.scalars(split, losses, self.state.step)
        self.state.result.history.append(
            {"step": self.state.step, "split": split, "kl_weight": klw, **losses})
        return losses

    def evaluate_and_save(self) -> None:
        """Evaluate valid (and test on a new best, saving ``best/``); save ``last/``."""
        from sketchart.training.checkpoint import atomic_dir

        st = self.state
        step = st.step
        klw = kl_weight_at(self.hps, max(step - 1, 0))
        valid = self._evaluate("valid", klw)
        if st.best_cost is None or valid["cost"] < st.best_cost:
            st.best_cost, st.best_step = valid["cost"], step
            test = self._evaluate("test", klw)
            st.result.best_valid, st.result.best_step, st.result.test = valid, step, test
            if self.options.writes:
                self.step_fn.sync()
                self._ensure_space(self.best_dir, 1)
                with atomic_dir(self.best_dir) as tmp:
                    _save_model_dir(tmp, self.model, prepared=self.prepared, steps=step,
                                    valid=valid, test=test)
        self.bar.note(f"step {step}: valid cost {valid['cost']:.4f} "
                      f"(r {valid['r_cost']:.4f}, kl {valid['kl_cost']:.4f})"
                      + (" *best*" if st.best_step == step else ""))
        self.save_last()
        self.has_last = True
        if self.options.samples:
            _log_samples(self.tb, self.model, self.sample_sketches, self.prepared,
                         self.options.samples, self.options.seed, step)
        self.tb.flush()

    # -------------------------------------------------------------- the loop
    def _update(self, batch: Any) -> tuple[dict[str, float], float, float]:
        """One update on ``batch``; draws the next batch meanwhile. ``(losses, lr, klw)``."""
        st, hps, loader = self.state, self.hps, self.prepared.train
        strokes5, lengths = batch.strokes5, batch.lengths
        if self.options.bucketed:
            steps_run = bucket_steps(lengths, hps.max_seq_len, self.multiple)
            strokes5 = strokes5[:, : steps_run + 1]
        lr, klw = learning_rate_at(hps, st.step), kl_weight_at(hps, st.step)
        st.consistent = False
        out = self.step_fn.dispatch(strokes5, lengths, lr, klw)
        # prepared while the device computes (JAX dispatches asynchronously)
        next_state = loader.get_state()
        self.batch = loader.random_batch() if st.step + 1 < hps.num_steps else None
        losses = self.step_fn.losses(out)
        if not all(math.isfinite(v) for v in losses.values()):
            raise TrainError(
                f"non-finite loss at step {st.step} (cost={losses['cost']}, "
                f"r_cost={losses['r_cost']}, kl_cost={losses['kl_cost']}); training "
                f"stopped; {_kept(self.last_dir)}")
        st.step += 1
        st.pending_state = next_state
        st.consistent = True
        return losses, lr, klw

    def _loop(self) -> None:
        st, hps = self.state, self.hps
        rate_t0, rate_step0 = time.monotonic(), st.step
        while st.step < hps.num_steps:
            losses, lr, klw = self._update(self.batch)
            step = st.step
            self.bar.update(step, losses)
            if step % self.options.log_every == 0 or step == hps.num_steps:
                now = time.monotonic()
                rate = (step - rate_step0) / max(now - rate_t0, 1e-9)
                rate_t0, rate_step0 = now, step
                self.tb.scalars("train", {**losses, "lr": lr, "kl_weight": klw,
                                          "steps_per_s": rate}, step)
            if step % hps.save_every == 0:
                self.evaluate_and_save()
                st.evaluated_at = step
            if self.stop.requested:
                raise KeyboardInterrupt
        # from the run's own record, not the files: only the chief writes them
        if st.evaluated_at != st.step or not self.has_last:
            self.evaluate_and_save()

    def _interrupted(self) -> TrainError:
        """Keep the steps done since the last save: ``last/`` then resumes exactly here."""
        from sketchart.training.result import TrainInterrupted

        st = self.state
        self.bar.close()
        saved = _saved_step(self.last_dir) == st.step
        if not saved and st.consistent and st.step > (_saved_step(self.last_dir) or 0):
            try:
                self.save_last()
                saved = True
            except Exception:  # noqa: BLE001 (the state may be mid-update: keep the old)
                saved = False
        if saved:
            return TrainInterrupted(f"stopped at step {st.step} (saved); continue with "
                                    "--resume", st.step, True)
        return TrainInterrupted(f"stopped at step {st.step}; {_kept(self.last_dir)}; "
                                "continue with --resume", st.step, False)

    def _disk_full(self) -> TrainError:
        from sketchart.training.diskspace import no_space_error

        return TrainError(no_space_error(self.log_root, _kept(self.last_dir)))

    def run(self) -> TrainResult:
        st, loader = self.state, self.prepared.train
        self.multiple = bucket_multiple(self.options.jit_compile)
        st.evaluated_at = st.step if self.resumed else None
        self.has_last = (self.last_dir / "model_config.json").exists()
        st.pending_state = loader.get_state()
        self.batch = loader.random_batch() if st.step < self.hps.num_steps else None
        self.stop = GracefulInterrupt()
        try:
            self._loop()
        except KeyboardInterrupt:
            raise self._interrupted() from None
        except OSError as exc:
            from sketchart.training.diskspace import disk_full

            if not disk_full(exc):
                raise
            raise self._disk_full() from None
        except Exception as exc:
            cluster = self.options.cluster
            if cluster is None or isinstance(exc, SketchartError):
                raise
            from sketchart.training.distributed import worker_failure

            raise worker_failure(cluster, exc) from None
        finally:
            self.stop.restore()
            self.bar.close()
            self.tb.close()
        result = st.result
        result.steps = st.step
        result.wall_time_s = time.monotonic() - self.options.started
        result.total_time_s = st.elapsed_before + result.wall_time_s
        return result


# ------------------------------------------------------------------------ helpers
def _save_model_dir(path: Path, model: SketchRNN, *, prepared: PreparedData, steps: int,
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


def _saved_step(last_dir: Path) -> int | None:
    """The step of the state in ``last/`` (None when there is none)."""
    import json

    try:
        return int(json.loads((last_dir / "train_state.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
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


def _log_samples(tb: TensorBoardLogger, model: SketchRNN, sketches: list[np.ndarray],
                 prepared: PreparedData, n: int, seed: int, step: int) -> None:
    """Reconstructions of a few valid sketches (conditional) and free samples, as images."""
    from sketchart.generate import sampling
    from sketchart.nn.precision import float32_twin

    model = float32_twin(model)  # the samplers work in float32
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
