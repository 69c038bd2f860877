"""Stand-ins for the TF1 RNN cell classes that TensorFlow 2.21 no longer ships.

magenta's Sketch-RNN (``magenta/models/sketch_rnn/rnn.py`` and ``model.py``) subclasses
``tf.compat.v1.nn.rnn_cell.RNNCell`` and wraps its decoder cell in
``tf.compat.v1.nn.rnn_cell.DropoutWrapper``. In TensorFlow 2.21 ``tf.compat.v1.nn.rnn_cell`` is
a lazy alias of the legacy ``tf_keras`` cells, which Keras 3 does not provide, so touching it
raises ``ModuleNotFoundError``. :func:`install` replaces that attribute with a small module
holding the two classes the reference needs; everything else it uses
(``tf.compat.v1.nn.dynamic_rnn``, ``bidirectional_dynamic_rnn``, ``variable_scope``,
``AdamOptimizer``...) is still in TensorFlow's core and is used as is.

The classes are graph-mode only (the reference disables v2 behaviour). magenta's three cells
(``LSTMCell``, ``LayerNormLSTMCell``, ``HyperLSTMCell``) override ``__call__`` and never call
``RNNCell.__init__``, so the base class only has to look like an RNN cell to
``dynamic_rnn`` (``state_size``, ``output_size``, ``zero_state``, callable); its own
``__call__`` mirrors the legacy one for completeness.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import tensorflow.compat.v1 as tf

__all__ = ["DropoutWrapper", "RNNCell", "install"]


def _snake(name: str) -> str:
    """``LayerNormLSTMCell`` -> ``layer_norm_lstm_cell`` (the legacy layers' base name)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class RNNCell:
    """Minimal TF1 ``tf.nn.rnn_cell.RNNCell``: an abstract cell with a variable scope.

    Subclasses define ``state_size``, ``output_size`` and ``call(inputs, state)`` (or, as
    magenta's cells do, their own ``__call__``).
    """

    def __init__(self, name: str | None = None, **unused: Any) -> None:
        """Store the scope name (default: the class name in snake case)."""
        self._rnncell_name = name
        self._rnncell_scope: Any = None

    @property
    def state_size(self) -> Any:
        """Size(s) of the state: an int, a TensorShape or a nested structure of them."""
        raise NotImplementedError("abstract property")

    @property
    def output_size(self) -> Any:
        """Size of the output at each step."""
        raise NotImplementedError("abstract property")

    def call(self, inputs: Any, state: Any) -> tuple[Any, Any]:
        """One step: ``(output, new_state)``."""
        raise NotImplementedError("abstract method")

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        """Run ``call`` in the cell's variable scope; later calls reuse its variables.

        As the legacy cells: the first call opens ``scope`` (or a fresh scope named after the
        class) under the current scope; later calls re-enter that scope with ``reuse=True``.
        """
        first = getattr(self, "_rnncell_scope", None)
        if first is None:
            default = getattr(self, "_rnncell_name", None) or _snake(type(self).__name__)
            with tf.variable_scope(scope, default_name=default) as opened:
                self._rnncell_scope = opened
                return self.call(inputs, state)
        with tf.variable_scope(first, reuse=True, auxiliary_name_scope=False):
            return self.call(inputs, state)

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """Zero tensors of shape ``[batch_size] + state_size`` (nested like ``state_size``)."""

        def zeros(size: Any) -> Any:
            dims = [size] if isinstance(size, int) else tf.TensorShape(size).as_list()
            return tf.zeros([batch_size, *dims], dtype=dtype)

        with tf.name_scope(type(self).__name__ + "ZeroState"):
            return tf.nest.map_structure(zeros, self.state_size)


class DropoutWrapper(RNNCell):
    """TF1 ``DropoutWrapper`` for input and output dropout (what magenta's model.py uses).

    ``input_keep_prob``/``output_keep_prob`` apply ``tf.nn.dropout`` to the step's input and
    output; the wrapped cell is called in the current scope (the wrapper owns no variables).
    State dropout and variational dropout are not provided.
    """

    def __init__(
        self,
        cell: Any,
        input_keep_prob: float = 1.0,
        output_keep_prob: float = 1.0,
        state_keep_prob: float = 1.0,
        variational_recurrent: bool = False,
        seed: int | None = None,
        **unused: Any,
    ) -> None:
        """Wrap ``cell``; keep probabilities are floats in (0, 1]."""
        if state_keep_prob != 1.0 or variational_recurrent:
            raise NotImplementedError("the shim provides input and output dropout only")
        for name, keep in (("input", input_keep_prob), ("output", output_keep_prob)):
            if not 0.0 < float(keep) <= 1.0:
                raise ValueError(f"{name}_keep_prob must be in (0, 1], got {keep}")
        super().__init__()
        self._cell = cell
        self._input_keep_prob = float(input_keep_prob)
        self._output_keep_prob = float(output_keep_prob)
        self._seed = seed

    @property
    def wrapped_cell(self) -> Any:
        """The cell inside."""
        return self._cell

    @property
    def state_size(self) -> Any:
        """The wrapped cell's state size."""
        return self._cell.state_size

    @property
    def output_size(self) -> Any:
        """The wrapped cell's output size."""
        return self._cell.output_size

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """The wrapped cell's zero state."""
        return self._cell.zero_state(batch_size, dtype)

    def _dropout(self, x: Any, keep: float) -> Any:
        return x if keep >= 1.0 else tf.nn.dropout(x, rate=1.0 - keep, seed=self._seed)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        """Input dropout, the wrapped cell's step, output dropout."""
        inputs = self._dropout(inputs, self._input_keep_prob)
        output, new_state = self._cell(inputs, state, scope=scope)
        return self._dropout(output, self._output_keep_prob), new_state


def install() -> types.ModuleType:
    """Put the shim at ``tf.compat.v1.nn.rnn_cell`` and return it.

    Also switches TensorFlow to v1 (graph) behaviour, as the reference's entry point does
    (``tf.disable_v2_behavior()``). Call before importing magenta's modules.
    """
    tf.disable_v2_behavior()
    shim = types.ModuleType("tensorflow.compat.v1.nn.rnn_cell")
    shim.__doc__ = "sketchart's stand-in for the removed TF1 RNN cell classes"
    shim.RNNCell = RNNCell  # type: ignore[attr-defined]
    shim.DropoutWrapper = DropoutWrapper  # type: ignore[attr-defined]
    tf.nn.rnn_cell = shim
    sys.modules[shim.__name__] = shim
    return shim
