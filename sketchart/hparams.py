"""Sketch-RNN hyperparameters, with magenta's names, meanings and defaults.

One dataclass, :class:`HParams`, holds every hparam of magenta's ``sketch_rnn``
(``model.py: get_default_hparams``). ``*_dropout_prob`` are *keep* probabilities and
``grad_clip`` clips each gradient value, exactly as in magenta.

Three ways in:

* ``HParams().parse("z_size=64,dec_model=layer_norm")`` -- magenta's ``--hparams`` syntax;
* ``HParams.from_dict(d)`` / ``HParams.from_json(path)`` -- JSON, including the 2017
  ``model_config.json`` files of Google's pretrained models (booleans as 0/1, the legacy
  key ``is_training``);
* keyword arguments.

Every value is type-checked; an unknown key is an error that lists the valid ones.
Stdlib only: importing this module never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from sketchart.errors import SketchartError

__all__ = ["CELL_TYPES", "HParams", "HParamsError"]

#: Recurrent cells available for ``enc_model`` and ``dec_model``.
CELL_TYPES = ("lstm", "layer_norm", "hyper")

#: Keys found in old magenta configs that carry no meaning here; accepted and ignored.
_LEGACY_KEYS = frozenset({"is_training"})


class HParamsError(SketchartError, ValueError):
    """A hyperparameter is unknown, of the wrong type or out of range."""


@dataclass
class HParams:
    """Every hyperparameter of magenta's sketch_rnn, with its defaults."""

    data_set: list[str] = field(default_factory=lambda: ["aaron_sheep.npz"])
    num_steps: int = 10_000_000  # total number of training steps
    save_every: int = 500  # evaluate (and save on improvement) every this many steps
    max_seq_len: int = 250  # longest sketch; the trainer may set it from the data
    dec_rnn_size: int = 512  # decoder RNN size
    dec_model: str = "lstm"  # decoder cell: lstm, layer_norm or hyper
    enc_rnn_size: int = 256  # encoder RNN size (per direction)
    enc_model: str = "lstm"  # encoder cell: lstm, layer_norm or hyper
    z_size: int = 128  # size of the latent vector z
    kl_weight: float = 0.5  # final KL weight
    kl_weight_start: float = 0.01  # KL weight at step 0
    kl_tolerance: float = 0.2  # floor of the KL cost
    batch_size: int = 100
    grad_clip: float = 1.0  # each gradient value is clipped to [-grad_clip, grad_clip]
    num_mixture: int = 20  # Gaussian mixture components
    learning_rate: float = 0.001
    decay_rate: float = 0.9999  # learning-rate decay per step
    kl_decay_rate: float = 0.99995  # KL-weight annealing rate per step
    min_learning_rate: float = 0.00001
    use_recurrent_dropout: bool = True  # dropout without memory loss on the candidate
    recurrent_dropout_prob: float = 0.90  # keep probability
    use_input_dropout: bool = False  # dropout on the decoder input
    input_dropout_prob: float = 0.90  # keep probability
    use_output_dropout: bool = False  # dropout on the decoder output
    output_dropout_prob: float = 0.90  # keep probability
    random_scale_factor: float = 0.15  # random x/y scaling of training sketches
    augment_stroke_prob: float = 0.10  # point-dropping probability
    conditional: bool = True  # VAE (True) or decoder-only model (False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _kind(f)))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`HParamsError` if a value is out of its range."""
        for name in ("enc_model", "dec_model"):
            value = getattr(self, name)
            if value not in CELL_TYPES:
                raise HParamsError(
                    f"unknown cell {name}={value!r}: expected one of {', '.join(CELL_TYPES)}"
                )
        positive = (
            "max_seq_len",
            "dec_rnn_size",
            "enc_rnn_size",
            "z_size",
            "batch_size",
            "num_mixture",
            "save_every",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise HParamsError(
                    f"{name} must be positive, got {_short(getattr(self, name))}")
        for name, limit in _UPPER_LIMITS.items():
            if getattr(self, name) > limit:
                raise HParamsError(
                    f"{name} must be at most {limit:g}, got {_short(getattr(self, name))}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise HParamsError(f"{f.name} must be a finite number, got {value}")
        if self.num_steps < 0:
            raise HParamsError(f"num_steps must be >= 0, got {self.num_steps}")
        for name in ("recurrent_dropout_prob", "input_dropout_prob", "output_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise HParamsError(f"{name} is a keep probability in (0, 1], got {value}")
        if not 0.0 <= self.augment_stroke_prob < 1.0:
            raise HParamsError(
                f"augment_stroke_prob must be in [0, 1), got {self.augment_stroke_prob}"
            )
        for name in ("learning_rate", "grad_clip"):
            if getattr(self, name) <= 0:
                raise HParamsError(f"{name} must be positive, got {getattr(self, name)}")
        for name in (
            "kl_weight",
            "kl_weight_start",
            "kl_tolerance",
            "min_learning_rate",
            "random_scale_factor",
        ):
            if getattr(self, name) < 0:
                raise HParamsError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("decay_rate", "kl_decay_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise HParamsError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not self.data_set:
            raise HParamsError("data_set must name at least one dataset")

    # ----------------------------------------------------------- conversions
    def to_dict(self) -> dict[str, Any]:
        """The hparams as a plain dict with magenta's names (JSON-ready)."""
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Serialise as magenta's ``model_config.json`` (a name -> value dict)."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return text

    @classmethod
    def names(cls) -> list[str]:
        """All hparam names, in magenta's order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Any, source: str = "hparams") -> HParams:
        """Build from a name -> value mapping (magenta's dict ``model_config.json``)."""
        if isinstance(values, list):
            raise HParamsError(
                f"{source} is a list of hparam names without values: magenta's trainer "
                "has written such files since 2020 (a bug in sketch_rnn_train.py), and they "
                "cannot be loaded; rewrite it as a JSON object of name -> value pairs"
            )
        if not isinstance(values, dict):
            raise HParamsError(
                f"{source} must be a JSON object of hparams, got {type(values).__name__}"
            )
        return cls().replace(values, source=source)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> HParams:
        """Load a ``model_config.json`` (sketchart's or magenta's 2017 format)."""
        try:
            with open(path, "rb") as fh:
                data = fh.read(_MAX_JSON_BYTES + 1)
        except OSError as exc:
            raise HParamsError(f"{path}: cannot read ({exc.strerror})") from None
        if len(data) > _MAX_JSON_BYTES:
            raise HParamsError(f"{path}: larger than {_MAX_JSON_BYTES >> 10} KB, not hparams")
        return cls.from_dict(_loads(data, str(path)), source=str(path))

    def replace(self, values: dict[str, Any], source: str = "hparams") -> HParams:
        """A copy with ``values`` overriding these; unknown keys are errors."""
        valid = self.names()
        updates: dict[str, Any] = {}
        for key, value in values.items():
            if key in _LEGACY_KEYS:
                continue
            if key not in valid:
                raise HParamsError(_unknown_key_message(key, valid, source))
            updates[key] = value
        merged = self.to_dict()
        merged.update(updates)
        return HParams(**merged)

    def parse(self, text: str) -> HParams:
        """Apply magenta's ``--hparams`` syntax: ``"a=1,b=x,data_set=[x.npz,y.npz]"``.

        A string that starts with ``{`` is read as JSON instead.
        """
        text = text.strip()
        if not text:
            return self.replace({})
        if text.startswith("{"):
            loaded = _loads(text.encode("utf-8", "surrogatepass"), "--hparams")
            if not isinstance(loaded, dict):
                raise HParamsError("--hparams: JSON must be an object of name: value")
            return self.replace(loaded, source="--hparams")
        values: dict[str, Any] = {}
        for item in _split_top_level(text):
            if "=" not in item:
                raise HParamsError(f"--hparams: expected name=value, got {item!r}")
            key, raw = (s.strip() for s in item.split("=", 1))
            if key not in self.names() and key not in _LEGACY_KEYS:
                raise HParamsError(_unknown_key_message(key, self.names(), "--hparams"))
            values[key] = raw
        return self.replace(values, source="--hparams")


# ---------------------------------------------------------------------- helpers
#: the largest sizes accepted: beyond them a model cannot be built in any memory
_UPPER_LIMITS: dict[str, float] = {
    "max_seq_len": 100_000, "dec_rnn_size": 16_384, "enc_rnn_size": 16_384,
    "z_size": 16_384, "batch_size": 1_000_000, "num_mixture": 1_000, "save_every": 10**12,
    "num_steps": 10**12, "learning_rate": 100.0, "min_learning_rate": 100.0,
    "grad_clip": 1e6, "kl_weight": 1e6, "kl_weight_start": 1e6, "kl_tolerance": 1e6,
    "random_scale_factor": 10.0,
}
_MAX_JSON_BYTES = 1 << 20


def _loads(data: bytes, source: str) -> Any:
    """JSON bytes, every failure (encoding, syntax, depth, huge numbers) one line."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise HParamsError(f"{source}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise HParamsError(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:
        raise HParamsError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise HParamsError(f"{source}: not valid JSON ({exc})") from None


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to one short line (values come from files and the command line)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _kind(f: dataclasses.Field[Any]) -> str:
    return {"list[str]": "list", "int": "int", "float": "float", "str": "str", "bool": "bool"}[
        str(f.type)
    ]


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _coerce(name: str, value: Any, kind: str) -> Any:
    """Convert ``value`` (from JSON, a string or Python) to the hparam's type, or raise."""

    def bad(expected: str) -> HParamsError:
        return HParamsError(f"hparam {name} expects {expected}, got {_short(value)}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):  # magenta's 2017 configs
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise bad("a boolean (true/false or 1/0)")
    if kind == "int":
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            if len(value) > 40:  # no hparam needs more digits; int() of 10**5 digits is slow
                raise bad("an integer")
            try:
                return int(value)
            except ValueError:
                raise bad("an integer") from None
        raise bad("an integer")
    if kind == "float":
        if isinstance(value, bool):
            raise bad("a number")
        try:
            if isinstance(value, (int, float, str)):
                return float(value)
        except (ValueError, OverflowError):
            raise bad("a number") from None
        raise bad("a number")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise bad("a string")
    # list of dataset names
    if isinstance(value, str):
        inner = value.strip()
        if inner.startswith("[") and inner.endswith("]"):
            inner = inner[1:-1]
        items = [s.strip().strip("'\"") for s in inner.split(",")]
        return [s for s in items if s]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise bad("a list of dataset names")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``[...]``."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [s.strip() for s in items if s.strip()]


def _unknown_key_message(key: str, valid: list[str], source: str) -> str:
    close = difflib.get_close_matches(key[:100], valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{source}: unknown hparam {_short(key)}{hint}; valid names: {', '.join(valid)}"
