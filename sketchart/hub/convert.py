"""Import magenta sketch_rnn weights: TF1 checkpoints and arrays named like TF variables.

The reference names its variables by TF1 scope (``vector_rnn/RNN/LSTMCell/W_xh:0``).
:func:`reference_names` maps each of them to one of our variables (and, for the stacked
HyperLSTM ``hyper_norm`` blocks, to one gate's slice of it); the same map serves

* :func:`load_reference_weights` -- set a model's weights from ``{name: array}`` (the
  fixture files' ``w:<name>`` arrays, a checkpoint's tensors);
* :func:`reference_weights` -- the inverse, our weights under the reference's names;
* :func:`weights_by_role` -- the weights grouped by role (``decoder``: ``W_xh``, ``W_hh``,
  ``bias``; ``output``: ``W``, ``b``; ...), for exporters such as sketch-rnn-js;
* :func:`convert_checkpoint` -- ``sketchart convert``: a magenta checkpoint directory
  (``checkpoint``, ``vector-N.index``/``.data-*``, ``model_config.json``) to a sketchart
  model directory.

Checkpoints are read by a small pure-Python reader of TF's tensor-bundle format
(:mod:`sketchart.tfbundle`), so conversion also works on machines without TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.hparams import HParams, HParamsError

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = [
    "ConvertError",
    "RefWeight",
    "convert_checkpoint",
    "load_reference_weights",
    "reference_names",
    "reference_weights",
    "weights_by_role",
]

_SCOPE = "vector_rnn"
_CELL_SCOPES = {
    "lstm": "LSTMCell",
    "layer_norm": "LayerNormLSTMCell",
    "hyper": "HyperLSTMCell",
}
_GATES = ("i", "j", "f", "o")


class ConvertError(SketchartError):
    """Weights that do not fit the model: missing, unexpected or of the wrong shape."""


@dataclass(frozen=True)
class RefWeight:
    """One reference variable: our variable ``path`` (``layer/name``) and, for a stacked
    HyperLSTM block, the gate ``index`` and the ``axis`` it is stacked along."""

    name: str
    path: str
    index: int | None = None
    axis: int = 0


def _cell_names(kind: str, scope: str, layer: str) -> list[RefWeight]:
    cell = f"{scope}/{_CELL_SCOPES[kind]}"
    out = [
        RefWeight(f"{cell}/W_xh", f"{layer}/W_xh"),
        RefWeight(f"{cell}/W_hh", f"{layer}/W_hh"),
    ]
    if kind in ("lstm", "hyper"):
        out.append(RefWeight(f"{cell}/bias", f"{layer}/bias"))
    if kind == "hyper":
        sub = f"{cell}/LayerNormLSTMCell"
        out += [
            RefWeight(f"{sub}/W_xh", f"{layer}/hyper_W_xh"),
            RefWeight(f"{sub}/W_hh", f"{layer}/hyper_W_hh"),
            RefWeight(f"{sub}/ln_all/ln_gamma", f"{layer}/hyper_ln_all_gamma"),
            RefWeight(f"{sub}/ln_all/ln_beta", f"{layer}/hyper_ln_all_beta"),
            RefWeight(f"{sub}/ln_c/ln_gamma", f"{layer}/hyper_ln_c_gamma"),
            RefWeight(f"{sub}/ln_c/ln_beta", f"{layer}/hyper_ln_c_beta"),
        ]
        for g, gate in enumerate(_GATES):
            hx, hh = f"{cell}/hyper_{gate}x", f"{cell}/hyper_{gate}h"
            out += [
                RefWeight(f"{hx}/zw/super_linear_w", f"{layer}/hyper_x_zw_w", g, 1),
                RefWeight(f"{hx}/zw/super_linear_b", f"{layer}/hyper_x_zw_b", g, 0),
                RefWeight(f"{hx}/alpha/super_linear_w", f"{layer}/hyper_x_alpha", g, 0),
                RefWeight(f"{hh}/zw/super_linear_w", f"{layer}/hyper_h_zw_w", g, 1),
                RefWeight(f"{hh}/zw/super_linear_b", f"{layer}/hyper_h_zw_b", g, 0),
                RefWeight(f"{hh}/alpha/super_linear_w", f"{layer}/hyper_h_alpha", g, 0),
                RefWeight(f"{hh}/zb/super_linear_w", f"{layer}/hyper_h_zb", g, 1),
                RefWeight(f"{hh}/beta/super_linear_w", f"{layer}/hyper_h_beta", g, 0),
            ]
    if kind in ("layer_norm", "hyper"):
        out += [
            RefWeight(f"{cell}/ln_all/ln_gamma", f"{layer}/ln_all_gamma"),
            RefWeight(f"{cell}/ln_all/ln_beta", f"{layer}/ln_all_beta"),
            RefWeight(f"{cell}/ln_c/ln_gamma", f"{layer}/ln_c_gamma"),
            RefWeight(f"{cell}/ln_c/ln_beta", f"{layer}/ln_c_beta"),
        ]
    return out


def reference_names(hps: HParams) -> list[RefWeight]:
    """Every trainable variable of the reference model for ``hps``, in graph order
    (names without the ``:0`` suffix)."""
    out: list[RefWeight] = []
    if hps.conditional:
        out += _cell_names(hps.enc_model, f"{_SCOPE}/ENC_RNN/fw", "enc_fw")
        out += _cell_names(hps.enc_model, f"{_SCOPE}/ENC_RNN/bw", "enc_bw")
        for scope, layer in (
            ("ENC_RNN_mu", "enc_mu"),
            ("ENC_RNN_sigma", "enc_presig"),
            ("linear", "dec_init"),
        ):
            out += [
                RefWeight(f"{_SCOPE}/{scope}/super_linear_w", f"{layer}/kernel"),
                RefWeight(f"{_SCOPE}/{scope}/super_linear_b", f"{layer}/bias"),
            ]
    out += [
        RefWeight(f"{_SCOPE}/RNN/output_w", "dec_output/kernel"),
        RefWeight(f"{_SCOPE}/RNN/output_b", "dec_output/bias"),
    ]
    out += _cell_names(hps.dec_model, f"{_SCOPE}/RNN", "decoder")
    return out


def _strip(name: str) -> str:
    return name.removesuffix(":0")


def _variables(model: SketchRNN) -> dict[str, Any]:
    return {v.path: v for v in model.weights if "seed_generator" not in v.path}


def load_reference_weights(
    model: SketchRNN, arrays: Mapping[str, np.ndarray], source: str = "weights",
    strict: bool = True,
) -> None:
    """Set ``model``'s weights from arrays named like the reference's variables.

    Args:
        model: a :class:`sketchart.nn.model.SketchRNN` built with matching hparams.
        arrays: ``{TF variable name: array}`` (``:0`` suffixes optional); other names
            (optimizer slots, step counters) are ignored unless ``strict``.
        source: what the arrays came from, for error messages.
        strict: refuse names under ``vector_rnn/`` that the model does not expect.

    Raises:
        ConvertError: a missing variable, an unexpected one or a shape mismatch.
    """
    hps = model.hps
    by_name = {_strip(k): v for k, v in arrays.items()}
    refs = reference_names(hps)
    expected = {r.name for r in refs}
    missing = [r.name for r in refs if r.name not in by_name]
    if missing:
        found = sorted(k for k in by_name if k.startswith(_SCOPE + "/"))
        hint = _cell_hint(found)
        raise ConvertError(
            f"{source}: {len(missing)} variable(s) of a {hps.enc_model}/{hps.dec_model} "
            f"model are missing, e.g. {missing[0]!r}{hint}"
        )
    if strict:
        extra = sorted(
            k
            for k in by_name
            if k.startswith(_SCOPE + "/") and k not in expected and not _is_training_state(k)
        )
        if extra:
            raise ConvertError(
                f"{source}: unexpected variable {extra[0]!r} for a "
                f"{hps.enc_model}/{hps.dec_model} model ({len(extra)} in all)"
            )
    variables = _variables(model)
    values = {
        path: np.array(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float32)
        for path, v in variables.items()
    }
    for ref in refs:
        target = values[ref.path]
        array = np.asarray(by_name[ref.name], dtype=np.float32)
        want = (
            target.shape
            if ref.index is None
            else np.take(target, ref.index, axis=ref.axis).shape
        )
        if array.shape != want:
            raise ConvertError(
                f"{source}: {ref.name} has shape {list(array.shape)}, "
                f"expected {list(want)} for these hparams"
            )
        if ref.index is None:
            values[ref.path] = array
        else:
            index: list[Any] = [slice(None)] * target.ndim
            index[ref.axis] = ref.index
            target[tuple(index)] = array
    for path, variable in variables.items():
        variable.assign(values[path])


def _is_training_state(name: str) -> bool:
    # optimizer slots, step counters, lr / kl_weight variables of magenta's graphs
    tail = name.rsplit("/", 1)[-1]
    return (
        tail in ("Adam", "Adam_1")
        or name.endswith(("/Adam", "/Adam_1"))
        or tail.startswith(("Variable", "global_step", "beta1_power", "beta2_power"))
    )


def _cell_hint(found: list[str]) -> str:
    cells = sorted(
        {part for name in found for part in name.split("/") if part.endswith("Cell")}
    )
    return f" (the weights hold {', '.join(cells)})" if cells else ""


def reference_weights(model: SketchRNN) -> dict[str, np.ndarray]:
    """Our weights under the reference's TF variable names (without ``:0``)."""
    values = {
        path: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        for path, v in _variables(model).items()
    }
    out = {}
    for ref in reference_names(model.hps):
        array = values[ref.path]
        out[ref.name] = (
            array if ref.index is None else np.take(array, ref.index, axis=ref.axis)
        )
    return out


#: weight role -> the SketchRNN layer that holds it
_ROLE_LAYERS = {
    "encoder_fw": "enc_fw",
    "encoder_bw": "enc_bw",
    "decoder": "decoder",
    "mu": "enc_mu",
    "presig": "enc_presig",
    "init_state": "dec_init",
    "output": "dec_output",
}


def weights_by_role(model: SketchRNN) -> dict[str, dict[str, np.ndarray]]:
    """The weights grouped by role, in the reference's layout.

    Roles: ``encoder_fw``, ``encoder_bw``, ``decoder`` (each ``W_xh``, ``W_hh``, ``bias``
    for an LSTM -- gates i, j, f, o, forget bias *not* folded -- plus the layer-norm /
    hyper weights under our names), ``mu``, ``presig``, ``init_state`` and ``output``
    (each ``W``, ``b``). Encoder roles and ``init_state`` only for a conditional model.
    """
    values = {
        path: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        for path, v in _variables(model).items()
    }
    out: dict[str, dict[str, np.ndarray]] = {}
    for role, layer in _ROLE_LAYERS.items():
        group = {p.split("/", 1)[1]: a for p, a in values.items() if p.split("/")[0] == layer}
        if not group:
            continue
        if "kernel" in group:
            group = {"W": group["kernel"], "b": group["bias"]}
        out[role] = group
    return out


def set_weights_by_role(model: SketchRNN,
                        roles: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Inverse of :func:`weights_by_role` (roles absent from ``roles`` are left as is)."""
    variables = _variables(model)
    for role, group in roles.items():
        if role not in _ROLE_LAYERS:
            raise ConvertError(
                f"unknown weight role {role!r}: expected one of {', '.join(_ROLE_LAYERS)}"
            )
        for key, array in group.items():
            name = (
                {"W": "kernel", "b": "bias"}.get(key, key)
                if role in ("mu", "presig", "init_state", "output")
                else key
            )
            path = f"{_ROLE_LAYERS[role]}/{name}"
            if path not in variables:
                raise ConvertError(f"role {role}: no weight {key!r} in this model")
            variable = variables[path]
            array = np.asarray(array, dtype=np.float32)
            if tuple(array.shape) != tuple(variable.shape):
                raise ConvertError(
                    f"role {role}: {key} has shape {list(array.shape)}, "
                    f"expected {list(variable.shape)}"
                )
            variable.assign(array)


# --------------------------------------------------------------- checkpoints
def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All tensors of a TF checkpoint: a directory (its ``checkpoint`` file names the
    latest) or a prefix such as ``dir/vector-12``."""
    from sketchart.tfbundle import read_bundle

    prefix = _checkpoint_prefix(Path(path))
    return read_bundle(prefix)


def _checkpoint_prefix(path: Path) -> Path:
    if path.is_dir():
        state = path / "checkpoint"
        if state.is_file():
            for line in state.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "model_checkpoint_path":
                    name = value.strip().strip('"')
                    prefix = Path(name) if os.path.isabs(name) else path / name
                    # checkpoints moved from elsewhere keep the old absolute path
                    if not Path(str(prefix) + ".index").is_file():
                        prefix = path / Path(name).name
                    return prefix
        indexes = sorted(path.glob("*.index"), key=lambda p: p.stat().st_mtime)
        if not indexes:
            raise ConvertError(
                f"{path}: no TF checkpoint here (no 'checkpoint' file and no *.index)"
            )
        return indexes[-1].with_suffix("")
    if Path(str(path) + ".index").is_file():
        return path
    raise ConvertError(f"{path}: not a checkpoint directory or prefix (no {path}.index)")


def convert_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: str | os.PathLike[str] | None = None,
    scale_factor: float | None = None,
    data_set: list[str] | None = None,
) -> Path:
    """Convert a magenta sketch_rnn checkpoint into a sketchart model directory.

    Args:
        checkpoint_dir: directory holding ``checkpoint``, ``vector-N.*`` and
            ``model_config.json`` (or a checkpoint prefix).
        out_dir: the model directory to write (must not exist or be empty).
        config: the ``model_config.json`` to use (default: the one beside the checkpoint).
        scale_factor: the dataset's normalising scale factor, if known (magenta does not
            save it); recorded in ``sketchart.json``.
        data_set: override of the dataset names recorded in the metadata.

    Returns:
        the model directory's path.
    """
    from sketchart.modeldir import ModelMeta, save_model_dir
    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    src = Path(checkpoint_dir)
    config_path = (
        Path(config) if config else (src if src.is_dir() else src.parent) / "model_config.json"
    )
    if not config_path.is_file():
        raise ConvertError(
            f"{config_path}: missing (magenta writes model_config.json beside "
            "the checkpoint; pass --config)"
        )
    try:
        hps = HParams.from_json(config_path)
    except HParamsError as exc:
        raise ConvertError(str(exc)) from None
    arrays = read_checkpoint(src)
    prefix = _checkpoint_prefix(src)
    with weights_will_be_loaded():
        model = SketchRNN(hps)
    load_reference_weights(model, arrays, source=str(prefix))
    step = arrays.get(f"{_SCOPE}/global_step", arrays.get("global_step"))
    meta = ModelMeta(
        scale_factor=scale_factor,
        max_seq_len=hps.max_seq_len,
        data_set=list(data_set or hps.data_set),
        class_names=[Path(n).name.split(".")[0] for n in (data_set or hps.data_set)],
        source="magenta-checkpoint",
        steps=int(np.asarray(step)) if step is not None else None,
    )
    return save_model_dir(model, out_dir, meta)
