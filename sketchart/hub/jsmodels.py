"""Models built from other formats: sketch-rnn-js files to and from :class:`SketchRNN`, and
magenta TF1 checkpoints (with the scale factors magenta did not save)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.hub.cache import StoreError
from sketchart.hub.catalog import (
    catalog,
    normalize_name,
)

if TYPE_CHECKING:
    from sketchart.jsformat import JSModel
    from sketchart.modeldir import ModelMeta
    from sketchart.nn.model import SketchRNN

__all__ = ["export_js", "model_from_js", "model_to_js"]


# ------------------------------------------------------ sketch-rnn-js <-> SketchRNN
# (weight names <-> roles: sketchart.jsformat.JS_ROLES)


def _make_meta(**fields: Any) -> ModelMeta:
    from sketchart.modeldir import ModelMeta

    return ModelMeta(**fields)


def model_from_js(path: str | os.PathLike[str] | bytes, name: str | None = None
                  ) -> SketchRNN:
    """A SketchRNN holding a sketch-rnn-js model's (dequantised) weights.

    Args:
        path: a ``.gen.json`` / ``.vae.json`` file (or its bytes).
        name: what to call the model (metadata ``source`` and error messages).
    """
    from sketchart.hparams import HParams
    from sketchart.hub.convert import set_weights_by_role
    from sketchart.jsformat import JS_ROLES, read_js_model
    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    label = name or (str(path) if not isinstance(path, bytes) else "<bytes>")
    js = read_js_model(path, name=label if isinstance(path, bytes) else None)
    hps = HParams.from_dict(js.hparams_dict(), source=label)
    with weights_will_be_loaded():  # every weight comes from the file
        model = SketchRNN(hps)
    roles: dict[str, dict[str, Any]] = {}
    for wname, array in js.weights.items():
        role, key = JS_ROLES[wname]
        roles.setdefault(role, {})[key] = array
    set_weights_by_role(model, roles)
    info_name = js.info.get("name")
    model.meta = _make_meta(
        scale_factor=js.scale_factor, max_seq_len=js.max_seq_len,
        data_set=list(hps.data_set),
        class_names=[info_name] if isinstance(info_name, str) and info_name else [],
        source="sketch-rnn-js")
    return model


def model_to_js(model: SketchRNN, name: str | None = None) -> JSModel:
    """The sketch-rnn-js form (:class:`~sketchart.jsformat.JSModel`) of an LSTM model.

    Raises:
        StoreError: the decoder (or, for a VAE, the encoder) is not an LSTM: the browser
            formats only know magenta's LSTM.
    """
    from sketchart.hub.convert import weights_by_role
    from sketchart.jsformat import GEN_NAMES, JS_ROLES, VAE_NAMES, JSModel

    hps = model.hps
    cells = [("dec_model", hps.dec_model)]
    if hps.conditional:
        cells.append(("enc_model", hps.enc_model))
    for key, cell in cells:
        if cell != "lstm":
            raise StoreError(
                f"cannot export a model with {key}={cell}: sketch-rnn-js files (.gen.json, "
                ".vae.json) only hold magenta's LSTM cells")
    roles = weights_by_role(model)
    names = VAE_NAMES if hps.conditional else GEN_NAMES
    weights = {n: np.asarray(roles[JS_ROLES[n][0]][JS_ROLES[n][1]], dtype=np.float32)
               for n in names}
    meta = getattr(model, "meta", None)
    scale = getattr(meta, "scale_factor", None) or 1.0
    max_len = getattr(meta, "max_seq_len", None) or hps.max_seq_len
    if name is None:
        classes = getattr(meta, "class_names", None) or []
        name = classes[0] if classes else Path(hps.data_set[0]).name.split(".")[0]
    info = {"mode": 1 if hps.conditional else 2, "version": 6,
            "max_seq_len": int(max_len), "name": name, "scale_factor": float(scale)}
    return JSModel(info=info, weights=weights)


def export_js(model: SketchRNN, path: str | os.PathLike[str], name: str | None = None
              ) -> tuple[Path, int]:
    """Write an LSTM model as ``.gen.json`` (decoder-only) or ``.vae.json`` (conditional).

    Returns:
        ``(path, clipped)``: the file written and how many weights were beyond +-10 and
        so clipped by the format's int16 quantisation.

    Raises:
        StoreError: a non-LSTM model, or a file name whose suffix does not match the model
            (``.gen.json`` for decoder-only, ``.vae.json`` for conditional).
    """
    from sketchart.jsformat import MAX_WEIGHT, write_js_model

    js = model_to_js(model, name)
    target = Path(path)
    want = f".{js.kind}.json"
    if not target.name.endswith(want):
        other = "decoder-only" if js.kind == "gen" else "conditional (VAE)"
        raise StoreError(f"{target}: a {other} model is written as *{want}")
    clipped = int(sum(np.count_nonzero(np.abs(w) > MAX_WEIGHT) for w in js.weights.values()))
    return write_js_model(target, js), clipped


def _model_from_checkpoint(path: Path, label: str) -> SketchRNN:
    """Load a magenta checkpoint directory directly (without writing a model directory)."""
    from sketchart.hparams import HParams, HParamsError
    from sketchart.hub.convert import load_reference_weights, read_checkpoint
    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    try:
        hps = HParams.from_json(path / "model_config.json")
    except HParamsError as exc:
        raise StoreError(str(exc)) from None
    with weights_will_be_loaded():
        model = SketchRNN(hps)
    load_reference_weights(model, read_checkpoint(path), source=label)
    model.meta = _make_meta(
        scale_factor=_known_scale_factor(hps.data_set), max_seq_len=hps.max_seq_len,
        data_set=list(hps.data_set),
        class_names=[Path(n).name.split(".")[0] for n in hps.data_set],
        source="magenta-checkpoint")
    return model


#: Normalising scale factors of datasets that magenta's checkpoints were trained on and
#: that magenta did not save (QuickDraw categories fall back to the
#: factor of Google's sketch-rnn-js model of the same category).
_KNOWN_SCALE_FACTORS = {"aaron_sheep": 18.5198}


def _known_scale_factor(data_set: list[str]) -> float | None:
    if len(data_set) != 1:
        return None
    stem = normalize_name(Path(data_set[0]).name.split(".")[0])
    if stem in _KNOWN_SCALE_FACTORS:
        return _KNOWN_SCALE_FACTORS[stem]
    entry = catalog().get(stem)
    return entry.scale_factor if entry else None
