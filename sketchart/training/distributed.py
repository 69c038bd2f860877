"""Multi-process data parallelism on each backend's own runtime.

* JAX: :func:`jax.distributed.initialize` joins the processes (auto-detected on SLURM,
  Open MPI and Kubernetes, or given by ``SKETCHART_COORDINATOR``,
  ``SKETCHART_NUM_PROCESSES`` and ``SKETCHART_PROCESS_ID``); CPU processes use gloo
  collectives. ``keras.distribution.DataParallel`` then spans the global device mesh and
  XLA inserts the gradient all-reduce across processes.
* TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` reads ``TF_CONFIG``.

The global batch is ``batch_size``; process 0 (the chief) alone writes into the log root.
Keras and the backends are imported inside the functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sketchart.training.result import TrainError

__all__ = [
    "ENV_COORDINATOR",
    "ENV_LOCK_HELD",
    "ENV_NUM_PROCESSES",
    "ENV_PROCESS_ID",
    "Cluster",
    "barrier",
    "broadcast_int",
    "global_array",
    "join_cluster",
    "worker_failure",
]

ENV_COORDINATOR = "SKETCHART_COORDINATOR"
ENV_NUM_PROCESSES = "SKETCHART_NUM_PROCESSES"
ENV_PROCESS_ID = "SKETCHART_PROCESS_ID"
#: set by ``sketchart train --local-processes``: the launcher holds the log-root lock
ENV_LOCK_HELD = "SKETCHART_LOG_ROOT_LOCKED"
#: seconds to wait for every process to join (and for a peer's heartbeat)
ENV_TIMEOUT = "SKETCHART_DISTRIBUTED_TIMEOUT"


@dataclass
class Cluster:
    """This process's place in a multi-process run.

    Attributes:
        process_id: 0 .. ``num_processes - 1``; process 0 is the chief.
        num_processes: processes in the run.
        backend: the Keras backend.
        strategy: TensorFlow: the ``MultiWorkerMirroredStrategy`` (created at join time,
            as TensorFlow requires); None on JAX.
    """

    process_id: int
    num_processes: int
    backend: str
    strategy: Any = field(default=None, repr=False)
    #: the chief's log-root lock, when it holds it
    lock: Any = field(default=None, repr=False)

    @property
    def is_chief(self) -> bool:
        return self.process_id == 0

    @property
    def holds_log_root_lock(self) -> bool:
        """Whether this process takes the log-root lock: the chief, unless a launcher
        started it and holds the lock itself."""
        return self.is_chief and os.environ.get(ENV_LOCK_HELD) != "1"

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.num_processes:
            raise TrainError(f"batch_size={batch_size} (the global batch) does not divide "
                             f"over {self.num_processes} processes")

    def parallel(self, batch_size: int) -> tuple[Any, Any, Any]:
        """``(tf strategy, keras distribution, scope)`` over every process's devices."""
        self.check_batch(batch_size)
        if self.backend == "tensorflow":
            replicas = self.strategy.num_replicas_in_sync
            if batch_size % replicas:
                raise TrainError(f"batch_size={batch_size} does not split over "
                                 f"{replicas} replicas")
            return self.strategy, None, self.strategy.scope()
        import jax
        import keras

        devices = jax.devices()
        if batch_size % len(devices):
            raise TrainError(f"batch_size={batch_size} does not split over "
                             f"{len(devices)} devices of {self.num_processes} processes")
        dist = keras.distribution.DataParallel(
            devices=[f"{d.platform}:{d.id}" for d in devices])
        return None, dist, dist.scope()


def _timeout() -> int:
    try:
        return max(10, int(os.environ.get(ENV_TIMEOUT, "300")))
    except ValueError:
        raise TrainError(f"{ENV_TIMEOUT} must be a number of seconds") from None


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise TrainError(f"{name}={text!r} is not an integer") from None


def _join_jax() -> Cluster:
    import jax

    coordinator = os.environ.get(ENV_COORDINATOR) or None
    count, pid = _env_int(ENV_NUM_PROCESSES), _env_int(ENV_PROCESS_ID)
    if (coordinator is None) != (count is None) or (count is None) != (pid is None):
        raise TrainError(f"set all of {ENV_COORDINATOR}, {ENV_NUM_PROCESSES} and "
                         f"{ENV_PROCESS_ID}, or none of them (cluster auto-detection)")
    # CPU processes exchange gradients through gloo; GPUs use their own collectives
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    timeout = _timeout()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=count, process_id=pid,
            initialization_timeout=timeout, heartbeat_timeout_seconds=min(timeout, 60))
    except (RuntimeError, ValueError) as exc:
        raise TrainError(f"could not join the distributed run: {_first_line(exc)}") from None
    return Cluster(jax.process_index(), jax.process_count(), "jax")


def _join_tensorflow() -> Cluster:
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise TrainError("--distributed on TensorFlow needs TF_CONFIG (the cluster and "
                         "this worker's task); see docs/distributed.md")
    try:
        config = json.loads(text)
        workers = list(config["cluster"].get("chief", [])) + list(
            config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"]) + (len(config["cluster"].get("chief", []))
                                      if task["type"] == "worker" else 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainError(f"TF_CONFIG is not a cluster and task: {exc}") from None
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=_timeout())
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return Cluster(index, len(workers), "tensorflow", strategy)


def join_cluster() -> Cluster:
    """Start the backend's distributed runtime and return this process's place in it.

    Raises:
        TrainError: the variables are incomplete, or the processes did not all join in
            time (``SKETCHART_DISTRIBUTED_TIMEOUT`` seconds, 300 by default).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return _join_jax()
    if backend == "tensorflow":
        return _join_tensorflow()
    raise TrainError(f"distributed training is not supported on backend {backend!r}")


def barrier(cluster: Cluster, name: str) -> None:
    """Wait until every process reaches ``name`` (the chief has prepared the log root)."""
    if cluster.num_processes == 1:
        return
    if cluster.backend == "jax":
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    import tensorflow as tf

    strategy = cluster.strategy
    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def broadcast_int(cluster: Cluster, value: int) -> int:
    """The chief's ``value`` on every process (a seed drawn at random on each)."""
    if cluster.num_processes == 1:
        return value
    if cluster.backend == "jax":
        from jax.experimental import multihost_utils

        return int(multihost_utils.broadcast_one_to_all(np.int32(value)))
    import tensorflow as tf

    strategy = cluster.strategy

    def mine() -> Any:
        first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
        return tf.where(first, tf.constant(value, tf.int64), tf.constant(0, tf.int64))

    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(mine), axis=None)
    return int(total.numpy())


def global_array(value: Any, sharding: Any) -> Any:
    """A JAX array laid out by ``sharding`` from a value every process holds whole."""
    import jax

    host = np.asarray(value)
    if sharding.is_fully_addressable:
        return jax.device_put(host, sharding)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def worker_failure(cluster: Cluster, exc: BaseException) -> TrainError:
    """The one-line error a process reports when a collective fails (a peer died)."""
    return TrainError(f"process {cluster.process_id} of {cluster.num_processes}: the "
                      f"distributed run failed (a worker died or lost contact?): "
                      f"{_first_line(exc)}")
