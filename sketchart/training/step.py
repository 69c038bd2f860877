"""The compiled training and evaluation steps, per Keras backend.

One training step is: forward pass, the reference's loss, gradients, element-wise clipping
at ``grad_clip``, one Adam update with the learning rate the trainer passes in. It runs as
one compiled function:

* TensorFlow: a ``tf.function`` (``jit_compile`` off by default: XLA's CPU matrix products
  are slower than oneDNN's) around ``GradientTape`` + ``optimizer.apply``;
  with ``tf.distribute.MirroredStrategy`` the replicas' gradients are summed *before*
  clipping, so the update equals one device's on the same global batch.
* JAX: one ``jax.jit`` of a pure function (``model.stateless_call`` +
  ``jax.value_and_grad`` + ``optimizer.stateless_apply``) whose model and optimizer state
  stay on the device between steps (written back to the Keras variables on
  :meth:`TrainStep.sync`); with ``keras.distribution.DataParallel`` the batch is sharded
  over the devices and XLA inserts the gradient all-reduce.

Bucketed batches run only ``T < N_max`` decoder steps; the reconstruction loss is the mean
over ``B x T``, so it is multiplied by ``T / N_max`` to keep the reference's division by
``N_max`` (the pen terms of the steps not run are dropped: the documented deviation).

Random numbers: dropout masks and the encoder's ``eps`` come from the model's
``SeedGenerator`` states (model variables, saved with ``last/``). Evaluation replaces those
states by ones derived from ``(seed, step)`` and puts the training states back afterwards,
so evaluating never changes the training run's random stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.hparams import HParams

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["TrainStep", "is_seed_state"]

_LOSS_KEYS = ("cost", "r_cost", "kl_cost")


def is_seed_state(variable: Any) -> bool:
    """Whether a Keras variable is a ``SeedGenerator`` state (random stream, not a weight)."""
    return str(getattr(variable, "path", variable.name)).endswith("seed_generator_state")


def _loss_terms(model: SketchRNN, hps: HParams, strokes5: Any, lengths: Any, kl_weight: Any,
                n_max: int, training: bool, use_mu: bool = False) -> dict[str, Any]:
    from keras import ops

    from sketchart.nn.losses import compute_losses

    eps = None
    if use_mu and hps.conditional:
        # z = mu: deterministic, as the reference's fixtures are made (batch_z fed as mu)
        eps = ops.zeros((ops.shape(strokes5)[0], hps.z_size), dtype="float32")
    outputs = model({"strokes5": strokes5, "lengths": lengths}, training=training, eps=eps)
    targets = strokes5[:, 1:]
    # pen loss over every step run, unmasked, also in evaluation: the reference's
    # validation graph is built with is_training=1
    losses = compute_losses(outputs, targets, hps, kl_weight, training=True)
    # mean over B x T -> sum / (B x N_max), the reference's normalisation (x 1.0 exactly
    # when T = N_max); T is dynamic under tf.function's shape-polymorphic signature
    r_cost = losses["r_cost"]
    steps = ops.cast(ops.shape(targets)[1], r_cost.dtype)
    r_cost = r_cost * (steps / ops.cast(n_max, r_cost.dtype))
    kl_cost = losses["kl_cost"]
    cost = r_cost + ops.cast(kl_weight, r_cost.dtype) * kl_cost
    return {"cost": cost, "r_cost": r_cost, "kl_cost": kl_cost}


class TrainStep:
    """Compiled train and eval steps for one model and optimizer.

    Args:
        model: a built :class:`~sketchart.nn.model.SketchRNN` (created inside the
            distribution scope when ``strategy`` is given).
        optimizer: a Keras Adam (built by this class); None for evaluation only.
        hps: hyperparameters (``grad_clip``, ``max_seq_len``, loss settings).
        jit_compile: TensorFlow only: compile with XLA.
        strategy: TensorFlow only: a ``tf.distribute`` strategy for data parallelism.
        distribution: JAX only: a ``keras.distribution.DataParallel`` for data parallelism.
    """

    _train: Callable[..., Any]
    _eval: Callable[..., Any]

    def __init__(self, model: SketchRNN, optimizer: Any, hps: HParams, *,
                 jit_compile: bool = False, strategy: Any = None,
                 distribution: Any = None) -> None:
        import keras

        self.model = model
        self.optimizer = optimizer
        self.hps = hps
        self.n_max = int(hps.max_seq_len)
        self.backend = keras.backend.backend()
        self.jit_compile = bool(jit_compile)
        self.strategy = strategy
        self.distribution = distribution
        #: training batches hold only this process's rows (multi-process, streamed data)
        self.local_batches = False
        if optimizer is not None:
            if strategy is not None:
                with strategy.scope():
                    optimizer.build(model.trainable_variables)
            else:
                optimizer.build(model.trainable_variables)
            self._lr_index = next(
                i for i, v in enumerate(optimizer.variables) if v.name == "learning_rate")
        self._seed_index = [i for i, v in enumerate(model.non_trainable_variables)
                            if is_seed_state(v)]
        seeds = [model.non_trainable_variables[i] for i in self._seed_index]
        #: dtype of the SeedGenerator states (int64 on TensorFlow, uint32 on JAX)
        self.seed_dtype = np.dtype(str(seeds[0].dtype)) if seeds else np.dtype("int64")
        if self.backend == "tensorflow":
            from sketchart.nn.step_choice import step_choice

            # made (measured where it measures) before any tracing; logged
            step_choice()
            if getattr(model, "precision", "float32") != "float32":
                step_choice(model.precision)  # its products are measured in their dtype
            self._build_tf()
        elif self.backend == "jax":
            self._build_jax()
        else:
            raise NotImplementedError(f"training on backend {self.backend!r} is not supported")

    # ------------------------------------------------------------------ public API
    def train(self, strokes5: np.ndarray, lengths: np.ndarray, lr: float,
              kl_weight: float) -> dict[str, float]:
        """One update on a batch; returns ``cost``, ``r_cost``, ``kl_cost`` (before it)."""
        return self.losses(self.dispatch(strokes5, lengths, lr, kl_weight))

    def dispatch(self, strokes5: np.ndarray, lengths: np.ndarray, lr: float,
                 kl_weight: float) -> Any:
        """Start one update; returns its losses as device values (see :meth:`losses`).

        On JAX the call returns before the device has finished, so the caller can prepare
        the next batch meanwhile; the update is applied in order either way.
        """
        return self._train(np.asarray(strokes5, np.float32), np.asarray(lengths, np.int32),
                           np.float32(lr), np.float32(kl_weight))

    @staticmethod
    def losses(out: Any) -> dict[str, float]:
        """The losses of a :meth:`dispatch` as floats (waits for the device)."""
        return {k: float(np.asarray(out[k])) for k in _LOSS_KEYS}

    def evaluate(self, strokes5: np.ndarray, lengths: np.ndarray, kl_weight: float,
                 seed_state: np.ndarray, use_mu: bool = False) -> dict[str, float]:
        """Losses on a batch with dropout off and the random streams set from ``seed_state``.

        Args:
            seed_state: two integers used for every seed generator of the model during
                this call (the training streams are left as they were).
            use_mu: decode from ``z = mu`` instead of a sample (deterministic).
        """
        out = self._eval(np.asarray(strokes5, np.float32), np.asarray(lengths, np.int32),
                         np.float32(kl_weight), np.asarray(seed_state, self.seed_dtype),
                         bool(use_mu))
        return {k: float(np.asarray(out[k])) for k in _LOSS_KEYS}

    def sync(self) -> None:
        """Write device-held state back into the Keras variables (JAX; no-op on TF)."""
        if self.backend == "jax":
            for var, value in zip(self.model.trainable_variables, self._tvals):
                var.assign(value)
            for var, value in zip(self.model.non_trainable_variables, self._nvals):
                var.assign(value)
            if self.optimizer is not None:
                for var, value in zip(self.optimizer.variables, self._ovals):
                    var.assign(value)

    def reload(self) -> None:
        """Take the state from the Keras variables again (after restoring a checkpoint)."""
        if self.backend == "jax":
            self._tvals = self._place([v.value for v in self.model.trainable_variables])
            self._nvals = self._place([v.value for v in self.model.non_trainable_variables])
            self._ovals = self._place(
                [] if self.optimizer is None else [v.value for v in self.optimizer.variables])

    # ------------------------------------------------------------------ TensorFlow
    def _build_tf(self) -> None:
        import tensorflow as tf

        model, optimizer, hps = self.model, self.optimizer, self.hps
        clip = float(hps.grad_clip)
        n_max = self.n_max
        spec = (tf.TensorSpec([None, None, 5], tf.float32), tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32))
        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1

        def grads_of(strokes5: Any, lengths: Any, kl_weight: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                losses = _loss_terms(model, hps, strokes5, lengths, kl_weight, n_max, True)
                # each replica's mean is over its share of the batch: the sum of the
                # replicas' gradients of cost / replicas is the global batch's gradient
                scaled = losses["cost"] / replicas
            return tape.gradient(scaled, model.trainable_variables), losses

        def apply(grads: list[Any], lr: Any) -> None:
            # element-wise clipping, as the reference's clip_by_value (not a norm clip)
            grads = [tf.clip_by_value(g, -clip, clip) for g in grads]
            optimizer.learning_rate.assign(lr)  # the variable: fed every step, as magenta
            optimizer.apply(grads, model.trainable_variables)

        if strategy is None:
            def train_fn(strokes5: Any, lengths: Any, lr: Any, kl_weight: Any) -> Any:
                grads, losses = grads_of(strokes5, lengths, kl_weight)
                apply(grads, lr)
                return losses
        else:
            def train_fn(strokes5: Any, lengths: Any, lr: Any, kl_weight: Any) -> Any:
                dist = self._split_tf(strokes5, lengths)
                grads, losses = strategy.run(grads_of, args=(*dist, kl_weight))
                SUM, MEAN = tf.distribute.ReduceOp.SUM, tf.distribute.ReduceOp.MEAN
                grads = [strategy.reduce(SUM, g, axis=None) for g in grads]
                apply(grads, lr)
                return {k: strategy.reduce(MEAN, v, axis=None) for k, v in losses.items()}

        # autograph off: the loops are explicit tf.while_loops (sketchart.nn.backend.scan), and
        # converting every Keras call it reaches would multiply the tracing time
        self._train = tf.function(train_fn, input_signature=spec, autograph=False,
                                  jit_compile=self.jit_compile and strategy is None)
        self._build_tf_eval(spec)

    def _build_tf_eval(self, spec: tuple[Any, ...]) -> None:
        """The compiled evaluation: the model's losses with the seed state given (the
        model's own seed state is put back after), one function per ``use_mu``."""
        import tensorflow as tf

        model, hps, n_max = self.model, self.hps, self.n_max
        seed_vars = [model.non_trainable_variables[i] for i in self._seed_index]

        def eval_fn(strokes5: Any, lengths: Any, kl_weight: Any, seed_state: Any,
                    use_mu: bool) -> Any:
            saved = [tf.identity(v.value) for v in seed_vars]
            for v in seed_vars:
                v.assign(seed_state)
            losses = _loss_terms(model, hps, strokes5, lengths, kl_weight, n_max, False,
                                 use_mu)
            with tf.control_dependencies([losses["cost"]]):
                for v, s in zip(seed_vars, saved):
                    v.assign(s)
            return {k: tf.identity(v) for k, v in losses.items()}

        eval_spec = (*spec[:2], spec[3], tf.TensorSpec([2], tf.as_dtype(self.seed_dtype)))

        def eval_with(use_mu: bool) -> Callable[..., Any]:
            def run(strokes5: Any, lengths: Any, kl_weight: Any, seed_state: Any) -> Any:
                return eval_fn(strokes5, lengths, kl_weight, seed_state, use_mu)

            return run

        compiled = {
            use_mu: tf.function(eval_with(use_mu), input_signature=eval_spec,
                                autograph=False, jit_compile=self.jit_compile)
            for use_mu in (False, True)}

        def run_eval(strokes5: Any, lengths: Any, kl_weight: Any, seed_state: Any,
                     use_mu: bool) -> Any:
            return compiled[use_mu](strokes5, lengths, kl_weight, seed_state)

        self._eval = run_eval

    def _split_tf(self, strokes5: Any, lengths: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        strategy = self.strategy
        n = strategy.num_replicas_in_sync

        def part(ctx: Any) -> tuple[Any, Any]:
            size = tf.shape(strokes5)[0] // n
            start = ctx.replica_id_in_sync_group * size
            return strokes5[start:start + size], lengths[start:start + size]

        values = strategy.experimental_distribute_values_from_function(part)
        return values  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------ JAX
    def _place(self, values: list[Any]) -> list[Any]:
        import jax.numpy as jnp

        # copies: the train step donates its inputs, which must not be the Keras
        # variables' own buffers
        copies = [jnp.array(v, copy=True) for v in values]
        if self.distribution is None:
            return copies
        from sketchart.training.distributed import global_array

        return [global_array(v, self._replicated) for v in copies]

    def _build_jax(self) -> None:
        import jax
        import jax.numpy as jnp

        optimizer, hps = self.optimizer, self.hps
        clip = float(hps.grad_clip)
        lr_index = getattr(self, "_lr_index", 0)
        seed_index = self._seed_index
        if self.distribution is not None:
            from jax.sharding import NamedSharding, PartitionSpec

            mesh = self.distribution.device_mesh.backend_mesh
            self._replicated = NamedSharding(mesh, PartitionSpec())
            self._batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))

        forward = self._jax_forward

        def train_fn(tvals: list[Any], nvals: list[Any], ovals: list[Any], strokes5: Any,
                     lengths: Any, lr: Any, kl_weight: Any) -> Any:
            grad_fn = jax.value_and_grad(forward, has_aux=True)
            (_, (losses, nvals)), grads = grad_fn(tvals, nvals, strokes5, lengths,
                                                  kl_weight, True)
            grads = [jnp.clip(g, -clip, clip) for g in grads]
            ovals = list(ovals)
            ovals[lr_index] = jnp.asarray(lr, ovals[lr_index].dtype)
            tvals, ovals = optimizer.stateless_apply(ovals, grads, tvals)
            return tvals, nvals, ovals, losses

        def eval_fn(tvals: list[Any], nvals: list[Any], strokes5: Any, lengths: Any,
                    kl_weight: Any, seed_state: Any, use_mu: bool) -> Any:
            nvals = list(nvals)
            for i in seed_index:
                nvals[i] = seed_state.astype(nvals[i].dtype)
            _, (losses, _) = forward(tvals, nvals, strokes5, lengths, kl_weight, False,
                                     use_mu)
            return losses

        jit_train = jax.jit(train_fn, donate_argnums=(0, 1, 2))
        jit_eval = jax.jit(eval_fn, static_argnums=(6,))
        self.reload()

        def run_train(strokes5: Any, lengths: Any, lr: Any, kl_weight: Any) -> Any:
            local = self.local_batches
            strokes5, lengths = self._shard(strokes5, local), self._shard(lengths, local)
            self._tvals, self._nvals, self._ovals, losses = jit_train(
                self._tvals, self._nvals, self._ovals, strokes5, lengths, lr, kl_weight)
            return losses

        def run_eval(strokes5: Any, lengths: Any, kl_weight: Any, seed_state: Any,
                     use_mu: bool) -> Any:
            strokes5, lengths = self._shard(strokes5), self._shard(lengths)
            return jit_eval(self._tvals, self._nvals, strokes5, lengths, kl_weight,
                            seed_state, use_mu)

        self._train = run_train
        self._eval = run_eval

    def _jax_forward(self, tvals: list[Any], nvals: list[Any], strokes5: Any, lengths: Any,
                     kl_weight: Any, training: bool, use_mu: bool = False,
                     ) -> tuple[Any, tuple[Any, list[Any]]]:
        """``(cost, (losses, new non-trainable values))`` of the model with the variables'
        values given (pure, for ``jax.value_and_grad`` and ``jax.jit``)."""
        import keras

        model = self.model
        mapping = list(zip(model.trainable_variables, tvals)) + list(
            zip(model.non_trainable_variables, nvals))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            losses = _loss_terms(model, self.hps, strokes5, lengths, kl_weight, self.n_max,
                                 training, use_mu)
        new_nvals = [scope.get_current_value(v) for v in model.non_trainable_variables]
        new_nvals = [o if n is None else n for n, o in zip(new_nvals, nvals)]
        return losses["cost"], (losses, new_nvals)

    def _shard(self, array: np.ndarray, local: bool = False) -> Any:
        if self.distribution is None:
            return array
        import jax

        from sketchart.training.distributed import global_array

        n = len(self.distribution.device_mesh.devices.ravel())
        if local:
            # this process's rows of the global batch (a streamed dataset's share)
            return jax.make_array_from_process_local_data(self._batch_sharding, array)
        # an uneven last evaluation batch runs replicated
        sharding = self._replicated if len(array) % n else self._batch_sharding
        return global_array(array, sharding)
