"""Read and write sketch-rnn-js model files (``.gen.json`` and ``.vae.json``).

The format (magenta-js's ``ModelData``) is a JSON array
``[info, dims, weights]``:

* ``info``: ``{"mode", "version", "max_seq_len", "name", "scale_factor", ...}``; ``mode`` is
  2 (or ``"gen"``) for a decoder-only model, 0/1 (or ``"vae"``) for a conditional one;
* ``dims``: the shape of each weight;
* ``weights``: each weight, row-major, quantised to int16 at +-10 (``round(w / 10 * 32767)``)
  and stored as base64 of the little-endian bytes. magenta-js reads ``10 * q / 32767``.

Weight order, decoder-only (``GEN_NAMES``): output W ``[D, 6M+3]``, output b, decoder LSTM
``W_xh [5, 4D]``, ``W_hh [D, 4D]``, ``bias [4D]``. Conditional (``VAE_NAMES``): encoder
forward LSTM (3), backward LSTM (3), mu W/b, presig W/b, decoder initial-state W
``[z, 2D]``/b, output W/b, decoder LSTM (3). All LSTMs are magenta's (gates i, j, f, o;
forget bias +1 added at run time). NumPy only (layer L1).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError

__all__ = [
    "GEN_NAMES",
    "MAX_WEIGHT",
    "VAE_NAMES",
    "JS_ROLES",
    "JSFormatError",
    "JSModel",
    "dequantize",
    "encode_js_model",
    "quantize",
    "read_js_model",
    "write_js_model",
]

#: Largest weight magnitude the int16 quantisation represents.
MAX_WEIGHT = 10.0
_QMAX = 32767

#: Names of the weights of a ``.gen.json`` file, in file order.
GEN_NAMES = ("output_w", "output_b", "dec_W_xh", "dec_W_hh", "dec_bias")

#: Names of the weights of a ``.vae.json`` file, in file order.
VAE_NAMES = (
    "enc_fw_W_xh", "enc_fw_W_hh", "enc_fw_bias",
    "enc_bw_W_xh", "enc_bw_W_hh", "enc_bw_bias",
    "mu_w", "mu_b", "presig_w", "presig_b",
    "init_w", "init_b",
    "output_w", "output_b",
    "dec_W_xh", "dec_W_hh", "dec_bias",
)

#: Weight name -> ``(role, key)`` of a model's weights by role (``encoder_fw``,
#: ``encoder_bw``, ``decoder``: ``W_xh``, ``W_hh``, ``bias``; ``mu``, ``presig``,
#: ``init_state``, ``output``: ``W``, ``b``), as ``sketchart.hub.convert.weights_by_role``
#: and the NumPy engine's weights name them.
JS_ROLES = {
    "output_w": ("output", "W"), "output_b": ("output", "b"),
    "dec_W_xh": ("decoder", "W_xh"), "dec_W_hh": ("decoder", "W_hh"),
    "dec_bias": ("decoder", "bias"),
    "enc_fw_W_xh": ("encoder_fw", "W_xh"), "enc_fw_W_hh": ("encoder_fw", "W_hh"),
    "enc_fw_bias": ("encoder_fw", "bias"),
    "enc_bw_W_xh": ("encoder_bw", "W_xh"), "enc_bw_W_hh": ("encoder_bw", "W_hh"),
    "enc_bw_bias": ("encoder_bw", "bias"),
    "mu_w": ("mu", "W"), "mu_b": ("mu", "b"),
    "presig_w": ("presig", "W"), "presig_b": ("presig", "b"),
    "init_w": ("init_state", "W"), "init_b": ("init_state", "b"),
}


class JSFormatError(SketchartError):
    """A sketch-rnn-js file that is corrupt, truncated or of an unexpected layout."""


@dataclass
class JSModel:
    """A sketch-rnn-js model: its info dict and its (dequantised) weights by name.

    Attributes:
        info: the file's info dict (``max_seq_len``, ``scale_factor``, ``mode``, ...).
        weights: name -> float32 array, names from :data:`GEN_NAMES` or :data:`VAE_NAMES`.
    """

    info: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        """True for a VAE (``.vae.json``), False for a decoder-only model."""
        return "enc_fw_W_xh" in self.weights

    @property
    def kind(self) -> str:
        """``"vae"`` or ``"gen"``: also the file-name suffix."""
        return "vae" if self.conditional else "gen"

    @property
    def max_seq_len(self) -> int:
        return int(self.info["max_seq_len"])

    @property
    def scale_factor(self) -> float:
        return float(self.info["scale_factor"])

    @property
    def dec_rnn_size(self) -> int:
        return int(self.weights["dec_W_hh"].shape[0])

    @property
    def num_mixture(self) -> int:
        return (int(self.weights["output_b"].shape[0]) - 3) // 6

    @property
    def enc_rnn_size(self) -> int | None:
        w = self.weights.get("enc_fw_W_hh")
        return None if w is None else int(w.shape[0])

    @property
    def z_size(self) -> int | None:
        w = self.weights.get("mu_b")
        return None if w is None else int(w.shape[0])

    def hparams_dict(self) -> dict[str, Any]:
        """The hparams (magenta names) of the network this file describes."""
        values: dict[str, Any] = {
            "max_seq_len": self.max_seq_len,
            "dec_rnn_size": self.dec_rnn_size,
            "dec_model": "lstm",
            "num_mixture": self.num_mixture,
            "conditional": self.conditional,
            # the files hold inference weights only; no dropout at sampling time
            "use_recurrent_dropout": False,
        }
        if self.conditional:
            values.update(enc_model="lstm", enc_rnn_size=self.enc_rnn_size,
                          z_size=self.z_size)
        name = self.info.get("name")
        if isinstance(name, str) and name:
            values["data_set"] = [f"{name}.npz"]
        return values


def quantize(w: np.ndarray) -> np.ndarray:
    """Quantise weights as the conversion notebook does: clip to +-10, int16 of w/10·32767."""
    scaled = np.clip(np.asarray(w, dtype=np.float64) / MAX_WEIGHT, -1.0, 1.0)
    return np.round(scaled * _QMAX).astype("<i2")


def dequantize(q: np.ndarray) -> np.ndarray:
    """Dequantise exactly as magenta-js: ``10 * q / 32767`` in float64, stored as float32."""
    return (MAX_WEIGHT * np.asarray(q, dtype=np.float64) / _QMAX).astype(np.float32)


def _is_gen_mode(mode: Any) -> bool | None:
    """True for a gen mode, False for a vae mode, None if unknown."""
    if mode in (2, "2", "gen"):
        return True
    if mode in (0, 1, "0", "1", "vae"):
        return False
    return None


def _expected_shapes(dims: list[tuple[int, ...]], source: str) -> tuple[str, ...]:
    """Names for ``dims`` after checking that the shapes fit one layout together."""
    names: tuple[str, ...]
    if len(dims) == len(GEN_NAMES):
        names = GEN_NAMES
    elif len(dims) == len(VAE_NAMES):
        names = VAE_NAMES
    else:
        raise JSFormatError(
            f"{source}: {len(dims)} weights; a .gen.json has {len(GEN_NAMES)} and a "
            f".vae.json {len(VAE_NAMES)}")
    shape = dict(zip(names, dims, strict=True))
    _check_layout(shape, source)
    return names


def _check_layout(shape: dict[str, tuple[int, ...]], source: str) -> None:
    """Raise if the weight shapes do not fit together (one LSTM decoder, one MDN head)."""
    def need(name: str, want: tuple[int, ...]) -> None:
        if tuple(shape[name]) != want:
            raise JSFormatError(
                f"{source}: weight {name} has shape {list(shape[name])}, "
                f"expected {list(want)}")

    if len(shape["dec_W_hh"]) != 2:
        raise JSFormatError(f"{source}: weight dec_W_hh must be 2-D, got {shape['dec_W_hh']}")
    dec = shape["dec_W_hh"][0]
    out = shape["output_b"][0] if len(shape["output_b"]) == 1 else -1
    if out < 9 or (out - 3) % 6:
        raise JSFormatError(
            f"{source}: weight output_b has shape {list(shape['output_b'])}, expected [6M+3]")
    conditional = "enc_fw_W_hh" in shape
    z = shape["mu_b"][0] if conditional and len(shape["mu_b"]) == 1 else 0
    need("output_w", (dec, out))
    need("dec_W_xh", (5 + z, 4 * dec))
    need("dec_W_hh", (dec, 4 * dec))
    need("dec_bias", (4 * dec,))
    if conditional:
        enc = shape["enc_fw_W_hh"][0] if len(shape["enc_fw_W_hh"]) == 2 else -1
        for side in ("fw", "bw"):
            need(f"enc_{side}_W_xh", (5, 4 * enc))
            need(f"enc_{side}_W_hh", (enc, 4 * enc))
            need(f"enc_{side}_bias", (4 * enc,))
        need("mu_w", (2 * enc, z))
        need("presig_w", (2 * enc, z))
        need("presig_b", (z,))
        need("init_w", (z, 2 * dec))
        need("init_b", (2 * dec,))


#: the largest ``max_seq_len`` accepted (Google's models use 100-250)
MAX_SEQ_LEN = 100_000
#: the largest ``scale_factor`` accepted (Google's models: 20-150 dataset units per model unit)
MAX_SCALE_FACTOR = 1e6
#: the format versions written by Google's converter (all published files say 6)
KNOWN_VERSIONS = range(1, 7)


def _parse_json(raw: bytes, label: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSFormatError(
            f"{label}: not valid JSON, the file is corrupt or truncated ({exc})") from None
    except RecursionError:
        raise JSFormatError(f"{label}: not a model file (JSON nested too deeply)") from None
    except ValueError as exc:  # integers too long to convert
        raise JSFormatError(f"{label}: not valid JSON ({exc})") from None


def _check_info(info: dict[str, Any], label: str) -> None:
    """Refuse info values that would break sampling or drawing later."""
    for key, limit in (("max_seq_len", MAX_SEQ_LEN), ("scale_factor", MAX_SCALE_FACTOR)):
        value = info.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise JSFormatError(
                f"{label}: info.{key} must be a positive number, got {str(value)[:40]}")
        if not value <= limit:
            raise JSFormatError(f"{label}: info.{key} must be at most {limit:g}, "
                                f"got {str(value)[:40]}")
    if isinstance(info["max_seq_len"], float) and not info["max_seq_len"].is_integer():
        raise JSFormatError(
            f"{label}: info.max_seq_len must be a whole number, got {info['max_seq_len']}")
    if "mode" in info and _is_gen_mode(info["mode"]) is None:
        raise JSFormatError(f"{label}: unknown info.mode {str(info['mode'])[:40]!r} "
                            "(0 or 1 for a VAE, 2 for a decoder-only model)")
    version = info.get("version", KNOWN_VERSIONS[-1])
    if isinstance(version, bool) or not isinstance(version, int) or (
            version not in KNOWN_VERSIONS):
        raise JSFormatError(
            f"{label}: unknown format version {str(version)[:40]!r} (this reads "
            f"sketch-rnn-js files up to version {KNOWN_VERSIONS[-1]})")


def read_js_model(source: str | os.PathLike[str] | bytes, name: str | None = None) -> JSModel:
    """Parse a ``.gen.json`` / ``.vae.json`` file (or its bytes) into dequantised arrays.

    Args:
        source: a path, or the file's bytes.
        name: what to call the source in error messages (defaults to the path).

    Raises:
        JSFormatError: the file is not valid JSON, is truncated, has base64 of the wrong
            length, weights whose shapes do not fit the layout, or absurd info values.
    """
    if isinstance(source, bytes):
        label = name or "<bytes>"
        raw = source
    else:
        label = name or str(source)
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise JSFormatError(f"{label}: cannot read ({exc.strerror})") from None
    doc = _parse_json(raw, label)
    if not (isinstance(doc, list) and len(doc) == 3):
        raise JSFormatError(f"{label}: expected a JSON array [info, dims, weights]")
    info, dims, blobs = doc
    if not isinstance(info, dict):
        raise JSFormatError(f"{label}: info (item 0) must be a JSON object")
    _check_info(info, label)
    if not (isinstance(dims, list) and isinstance(blobs, list) and len(dims) == len(blobs)):
        raise JSFormatError(f"{label}: dims and weights must be lists of the same length")
    shapes: list[tuple[int, ...]] = []
    for i, d in enumerate(dims):
        if not (isinstance(d, list) and d and all(isinstance(n, int) and n > 0 for n in d)):
            raise JSFormatError(
                f"{label}: dims[{i}] is not a list of positive integers: {d!r}")
        shapes.append(tuple(d))
    names = _expected_shapes(shapes, label)
    gen_mode = _is_gen_mode(info.get("mode"))
    if gen_mode is not None and gen_mode != (names is GEN_NAMES):
        raise JSFormatError(
            f"{label}: info.mode {info.get('mode')!r} says "
            f"{'gen' if gen_mode else 'vae'} but the file holds {len(names)} weights")
    weights: dict[str, np.ndarray] = {}
    for i, (wname, shape, blob) in enumerate(zip(names, shapes, blobs, strict=True)):
        if not isinstance(blob, str):
            raise JSFormatError(f"{label}: weights[{i}] ({wname}) must be a base64 string")
        try:
            data = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise JSFormatError(
                f"{label}: weights[{i}] ({wname}) is not valid base64") from None
        count = math.prod(shape)
        if len(data) != 2 * count:
            raise JSFormatError(
                f"{label}: weights[{i}] ({wname}) holds {len(data) // 2} values, "
                f"expected {count} for shape {list(shape)} (truncated?)")
        weights[wname] = dequantize(np.frombuffer(data, dtype="<i2").reshape(shape))
    return JSModel(info=dict(info), weights=weights)


def encode_js_model(model: JSModel) -> bytes:
    """The file bytes of ``model`` (quantised; compact JSON as Google's files)."""
    names = VAE_NAMES if model.conditional else GEN_NAMES
    missing = [n for n in names if n not in model.weights]
    if missing:
        raise JSFormatError(f"cannot write a .{model.kind}.json: missing weights {missing}")
    shapes = {n: tuple(int(s) for s in np.shape(model.weights[n])) for n in names}
    _check_layout(shapes, f"<{model.kind} export>")
    dims = [list(shapes[n]) for n in names]
    blobs = [base64.b64encode(quantize(model.weights[n]).tobytes()).decode("ascii")
             for n in names]
    return json.dumps([model.info, dims, blobs], separators=(",", ":")).encode("utf-8")


def write_js_model(path: str | os.PathLike[str], model: JSModel) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file, then a rename).

    Returns:
        The path written.
    """
    from sketchart.util.atomic import atomic_file

    data = encode_js_model(model)
    target = Path(path)
    with atomic_file(target) as fh:
        fh.write(data)
    return target
