"""TensorFlow's start-up chatter kept off the terminal, its real errors kept on it.

Importing TensorFlow prints absl, oneDNN and CUDA notes from C++ straight to file
descriptor 2 (``TF_CPP_MIN_LOG_LEVEL`` no longer silences all of them), and the first
device query adds a ``failed call to cuInit`` line on machines without a GPU that reads
like a failure. :func:`install` adds an import hook: the first ``import tensorflow``
(directly, or through Keras) runs with descriptor 2 redirected into a temporary file,
also initialising the devices there; afterwards every captured line that is not known
start-up noise is written back to stderr, so real errors still show. TensorFlow's Python
logger is set to errors only. Standard library only; nothing is imported until
TensorFlow itself is.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

__all__ = ["filtered_stderr", "install", "is_noise"]

#: start-up lines that say nothing to a user of this tool
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog"
    r"|oneDNN custom operations are on"
    r"|cuda drivers|cuInit|cuda_executor|cuda_diagnostics|kernel driver does not appear"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|CPU instructions in performance-critical operations"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|This TensorFlow binary is optimized"
    r"|An NVIDIA GPU may be present on this machine"
)


def is_noise(line: str) -> bool:
    """Whether ``line`` is known start-up chatter (else it is written back)."""
    return not line.strip() or bool(_NOISE.search(line))


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Capture file descriptor 2 during the block, then write back what is not noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (an embedding host): nothing to do
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _settle(tensorflow: ModuleType) -> None:
    """Initialise the devices (where cuInit complains) and quieten the Python logger."""
    with contextlib.suppress(Exception):
        tensorflow.get_logger().setLevel("ERROR")
        tensorflow.autograph.set_verbosity(0)
        tensorflow.config.list_physical_devices()


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Wraps the loading of the ``tensorflow`` package in :func:`filtered_stderr`."""

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader: Any = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with filtered_stderr():
                run(module)
                _settle(module)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Add the import hook (idempotent; a no-op once TensorFlow is imported).

    Also hides TensorFlow's later C++ info and warning lines (XLA service notes at the
    first compilation) unless ``TF_CPP_MIN_LOG_LEVEL`` is set; errors still show.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())
