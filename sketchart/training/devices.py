"""Where a run computes: data-parallel setups per backend, and seeding every generator."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from sketchart.training.result import TrainError

__all__ = ["data_parallel", "no_scope", "seed_everything"]


@contextlib.contextmanager
def no_scope() -> Iterator[None]:
    yield


def data_parallel(batch_size: int) -> tuple[Any, Any, Any, int]:
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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend, so the initial weights follow from ``seed``."""
    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # keras.utils.set_random_seed would import TensorFlow when it is installed; Keras'
    # initialisers draw their default seeds from Python's random module
    random.seed(seed)
    np.random.seed(seed)
