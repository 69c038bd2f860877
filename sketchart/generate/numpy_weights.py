"""Read a Sketch-RNN's weights for the NumPy engine, without Keras.

Three sources, one result: ``(hps, meta, roles)`` where ``roles`` groups the weights by
role as ``sketchart.hub.convert.weights_by_role`` does:

* ``encoder_fw``, ``encoder_bw``, ``decoder``: a cell's weights by their Keras names
  (``W_xh``, ``W_hh``, ``bias``, ``ln_*``, ``hyper_*``; see ``numpy_cells.cell_shapes``);
* ``mu``, ``presig``, ``init_state``, ``output``: ``{"W", "b"}`` of a dense layer.

Sources:

* a model directory (``sketchart.modeldir``; converted magenta checkpoints are model
  directories too): ``model.weights.h5`` is read with h5py. Keras writes each layer's
  weights as ``<layer>/vars/<i>``, ``i`` counting them in the order the layer creates
  them (``cell_shapes``' order; a dense layer: kernel, bias); float16 files are upcast;
* a sketch-rnn-js ``.gen.json`` / ``.vae.json`` file (``sketchart.jsformat``);
* a Keras ``SketchRNN`` (its variables are read, nothing of Keras is imported here).

Importing this module imports NumPy and the format modules only (h5py when reading a file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.generate.numpy_cells import cell_shapes
from sketchart.hparams import HParams, HParamsError
from sketchart.modeldir import (
    CONFIG_FILE,
    META_FILE,
    WEIGHTS_FILE,
    ModelDirError,
    ModelMeta,
    resolve_model_dir,
)

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["ROLE_LAYERS", "Roles", "check_roles", "expected_shapes", "is_js_path", "read_js",
           "read_keras", "read_model_dir"]

#: role -> the Keras layer's name (also the weight file's group)
ROLE_LAYERS = {
    "encoder_fw": "enc_fw",
    "encoder_bw": "enc_bw",
    "mu": "enc_mu",
    "presig": "enc_presig",
    "init_state": "dec_init",
    "decoder": "decoder",
    "output": "dec_output",
}
_DENSE_ROLES = ("mu", "presig", "init_state", "output")


Roles = dict[str, dict[str, np.ndarray]]


def _state_total(kind: str, units: int) -> int:
    from sketchart.generate.numpy_cells import HYPER_UNITS

    return 2 * units + (2 * HYPER_UNITS if kind == "hyper" else 0)


def expected_shapes(hps: HParams) -> dict[str, dict[str, tuple[int, ...]]]:
    """``{role: {name: shape}}`` of the model ``hps`` describes, in the weight file's order."""
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    z, enc, dec = hps.z_size, hps.enc_rnn_size, hps.dec_rnn_size
    if hps.conditional:
        out["encoder_fw"] = cell_shapes(hps.enc_model, enc, 5)
        out["encoder_bw"] = cell_shapes(hps.enc_model, enc, 5)
        out["mu"] = {"W": (2 * enc, z), "b": (z,)}
        out["presig"] = {"W": (2 * enc, z), "b": (z,)}
    out["decoder"] = cell_shapes(hps.dec_model, dec, 5 + z if hps.conditional else 5)
    if hps.conditional:
        total = _state_total(hps.dec_model, dec)
        out["init_state"] = {"W": (z, total), "b": (total,)}
    n_out = 3 + 6 * hps.num_mixture
    out["output"] = {"W": (dec, n_out), "b": (n_out,)}
    return out


def check_roles(roles: Roles, hps: HParams, source: str) -> Roles:
    """``roles`` as contiguous float32, checked against ``hps``'s shapes."""
    out: Roles = {}
    kind = f"{hps.enc_model}/{hps.dec_model} model with conditional={hps.conditional}"
    for role, shapes in expected_shapes(hps).items():
        group = roles.get(role, {})
        out[role] = {}
        for name, shape in shapes.items():
            array = group.get(name)
            if array is None:
                raise ModelDirError(f"{source}: no weight {role}/{name} for the {kind}")
            if tuple(array.shape) != shape:
                raise ModelDirError(
                    f"{source}: {role}/{name} has shape {list(array.shape)}, the {kind} "
                    f"expects {list(shape)}")
            out[role][name] = np.ascontiguousarray(array, dtype=np.float32)
    return out


def read_model_dir(path: str | os.PathLike[str]) -> tuple[HParams, ModelMeta, Roles]:
    """A model directory's (or a log root's ``best/``) hparams, metadata and weights.

    Raises:
        ModelDirError: a missing file, a bad config, or weights that do not fit it.
    """
    import h5py

    directory = resolve_model_dir(path)
    config, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for f in (config, weights):
        if not f.is_file():
            raise ModelDirError(
                f"{directory}: missing {f.name} (not a sketchart model directory)")
    try:
        hps = HParams.from_json(config)
    except HParamsError as exc:
        raise ModelDirError(str(exc)) from None
    meta_path = directory / META_FILE
    meta = ModelMeta.load(meta_path) if meta_path.is_file() else ModelMeta(
        max_seq_len=hps.max_seq_len)
    roles: Roles = {}
    try:
        with h5py.File(weights, "r") as h5:
            for role, shapes in expected_shapes(hps).items():
                group = h5.get(f"{ROLE_LAYERS[role]}/vars")
                if group is None:
                    continue  # check_roles names what is missing
                roles[role] = {name: np.asarray(group[str(i)][()], dtype=np.float32)
                               for i, name in enumerate(shapes) if str(i) in group}
    except OSError as exc:
        raise ModelDirError(f"{weights}: not a readable HDF5 weight file ({exc})") from None
    return hps, meta, check_roles(roles, hps, str(weights))


def read_js(path: str | os.PathLike[str] | bytes, name: str | None = None,
            ) -> tuple[HParams, ModelMeta, Roles]:
    """A sketch-rnn-js file's (``.gen.json`` / ``.vae.json``) hparams, metadata and weights.

    Raises:
        sketchart.jsformat.JSFormatError: a corrupt or unexpected file.
    """
    from sketchart.jsformat import JS_ROLES, read_js_model

    label = name or (str(path) if not isinstance(path, bytes) else "<bytes>")
    js = read_js_model(path, name=label if isinstance(path, bytes) else None)
    hps = HParams.from_dict(js.hparams_dict(), source=label)
    roles: Roles = {}
    for wname, array in js.weights.items():
        role, key = JS_ROLES[wname]
        roles.setdefault(role, {})[key] = array
    info_name = js.info.get("name")
    meta = ModelMeta(
        scale_factor=js.scale_factor, max_seq_len=js.max_seq_len,
        data_set=list(hps.data_set),
        class_names=[info_name] if isinstance(info_name, str) and info_name else [],
        source="sketch-rnn-js")
    return hps, meta, check_roles(roles, hps, label)


def _to_numpy(variable: Any) -> np.ndarray:
    value = variable.numpy() if hasattr(variable, "numpy") else variable
    return np.asarray(value, dtype=np.float32)


def read_keras(model: SketchRNN) -> tuple[HParams, ModelMeta, Roles]:
    """A Keras ``SketchRNN``'s hparams, metadata (``model.meta`` or a default) and weights."""
    hps = model.hps
    roles: Roles = {}
    for role in expected_shapes(hps):
        layer = getattr(model, ROLE_LAYERS[role], None)
        if layer is None:
            continue
        group = {v.name: _to_numpy(v) for v in layer.weights if "seed_generator" not in v.path}
        if role in _DENSE_ROLES:
            group = {"W": group["kernel"], "b": group["bias"]}
        roles[role] = group
    meta = getattr(model, "meta", None) or ModelMeta(max_seq_len=hps.max_seq_len)
    return hps, meta, check_roles(roles, hps, f"SketchRNN {getattr(model, 'name', '')}")


def is_js_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a sketch-rnn-js file (by its suffix)."""
    return Path(path).name.endswith((".gen.json", ".vae.json"))
