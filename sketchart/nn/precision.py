"""Training precision: ``float32`` or ``bfloat16`` (Keras' ``mixed_bfloat16`` policy).

Under ``bfloat16`` the variables stay float32 (the optimizer updates float32 master
weights); the recurrences, their matrix products and the encoder run in bfloat16, while the
layer norms' statistics, the latent heads, the mixture head and the losses run in float32
(see :class:`~sketchart.nn.model.SketchRNN`). A saved model is float32 either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["PRECISIONS", "check_precision", "dtype_policy", "float32_twin"]

#: accepted ``precision`` values, the default first
PRECISIONS = ("float32", "bfloat16")
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def check_precision(precision: str) -> str:
    """``precision`` if known, else a ``ValueError`` naming the choices."""
    if precision not in _POLICIES:
        raise ValueError(
            f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
        )
    return precision


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy name of a precision."""
    return _POLICIES[check_precision(precision)]


def float32_twin(model: SketchRNN) -> SketchRNN:
    """``model`` itself when it computes in float32, else a float32 ``SketchRNN`` with the
    same (float32) weights: the samplers work in float32."""
    if getattr(model, "precision", "float32") == "float32":
        return model
    from sketchart.nn.initializers import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    with weights_will_be_loaded():
        twin = SketchRNN(model.hps, seed=model.seed)
    for mine, theirs in zip(twin.variables, model.variables):
        mine.assign(theirs.value)
    twin.meta = model.meta
    return twin
