"""The sketchart model directory: everything sampling needs, no dataset required.

```
model_config.json   HParams (magenta's names; booleans true/false, 0/1 accepted on load)
sketchart.json      ModelMeta: format_version, scale_factor, max_seq_len, data_set,
                    class_names, source, steps, valid/test r_cost and kl_cost, versions
model.weights.h5    Keras weights, float32 (float16 accepted and upcast on load), in the
                    reference's layout (W_xh, W_hh, bias; gates i, j, f, o)
```

A training log root holds ``best/`` and ``last/`` model directories; loading the root
loads ``best/``.

Importing this module never imports TensorFlow or Keras (``load_model_dir`` and
``save_model_dir`` import them when called).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sketchart.errors import SketchartError
from sketchart.hparams import HParams, HParamsError

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "META_FILE",
    "SOURCES",
    "WEIGHTS_FILE",
    "ModelDirError",
    "ModelMeta",
    "is_model_dir",
    "load_model_dir",
    "resolve_model_dir",
    "save_model_dir",
]

FORMAT_VERSION = 1
CONFIG_FILE = "model_config.json"
META_FILE = "sketchart.json"
WEIGHTS_FILE = "model.weights.h5"
#: where a model's weights came from
SOURCES = ("sketchart", "magenta-checkpoint", "sketch-rnn-js")


class ModelDirError(SketchartError):
    """A model directory that is missing files or does not fit its config."""


def _sketchart_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sketchart")
    except PackageNotFoundError:
        return "0.0.0+unknown"


@dataclass
class ModelMeta:
    """``sketchart.json``: what a model needs besides its hparams and weights.

    ``scale_factor`` converts model offsets to dataset units (multiply) and is None when
    unknown (magenta checkpoints do not record it). ``valid``/``test`` hold ``r_cost``
    and ``kl_cost`` when known.
    """

    scale_factor: float | None = None
    max_seq_len: int | None = None
    data_set: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    source: str = "sketchart"
    steps: int | None = None
    valid: dict[str, float] | None = None
    test: dict[str, float] | None = None
    sketchart_version: str = field(default_factory=_sketchart_version)
    keras_version: str | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ModelDirError(
                f"{META_FILE}: unknown source {str(self.source)[:40]!r}: expected one of "
                f"{', '.join(SOURCES)}"
            )
        if self.scale_factor is not None:
            self.scale_factor = _number(self.scale_factor, "scale_factor")
            # offsets are multiplied by it: beyond 1e6 a sketch leaves any page
            if not 0 < self.scale_factor <= 1e6:
                raise ModelDirError(
                    f"{META_FILE}: scale_factor must be in (0, 1e6], got {self.scale_factor}"
                )
        for name, limit in (("max_seq_len", 100_000), ("steps", 10**12)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= limit):
                raise ModelDirError(
                    f"{META_FILE}: {name} must be an integer in [0, {limit}], got "
                    f"{str(value)[:40]}")
        for name in ("valid", "test"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, dict):
                    raise ModelDirError(f"{META_FILE}: {name} must be an object of costs")
                setattr(self, name, {str(k): _number(v, f"{name}.{k}")
                                     for k, v in value.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, ``format_version`` first."""
        data = asdict(self)
        return {"format_version": data.pop("format_version"), **data}

    @classmethod
    def from_dict(cls, data: Any, source: str = META_FILE) -> ModelMeta:
        """Read a ``sketchart.json`` dict; unknown keys are errors, newer formats refused."""
        if not isinstance(data, dict):
            raise ModelDirError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelDirError(
                f"{source}: format_version {version!r} is newer than this "
                f"sketchart reads ({FORMAT_VERSION}); upgrade sketchart"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelDirError(
                f"{source}: unknown key {unknown[0][:60]!r}; "
                f"valid keys: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelDirError(f"{source}: {str(exc)[:200]}") from None
        except RecursionError:
            raise ModelDirError(f"{source}: values nested too deeply") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelMeta:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ModelDirError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ModelDirError(f"{path}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ModelDirError(f"{path}: not valid JSON ({exc})") from None
        except (RecursionError, ValueError):  # too deep, or integers too long to convert
            raise ModelDirError(f"{path}: not valid JSON (nested too deeply or "
                                "numbers too long)") from None
        return cls.from_dict(data, source=str(path))


def _number(value: Any, name: str) -> float:
    """A finite float from a JSON value, or a one-line error."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelDirError(f"{META_FILE}: {name} must be a number, got "
                            f"{str(value)[:40]}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ModelDirError(f"{META_FILE}: {name} must be a finite number, got {value}")
    return number


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a ``model_config.json`` and ``model.weights.h5``."""
    p = Path(path)
    return (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def resolve_model_dir(path: str | os.PathLike[str]) -> Path:
    """The model directory at ``path``, or its ``best/`` when ``path`` is a log root."""
    p = Path(path)
    if not p.exists():
        raise ModelDirError(f"{p}: no such model directory")
    if not p.is_dir():
        raise ModelDirError(
            f"{p}: not a directory (a model directory holds {CONFIG_FILE}, "
            f"{META_FILE} and {WEIGHTS_FILE})"
        )
    if not (p / CONFIG_FILE).exists() and (p / "best" / CONFIG_FILE).exists():
        return p / "best"
    return p


def save_model_dir(
    model: SketchRNN,
    path: str | os.PathLike[str],
    meta: ModelMeta | None = None,
    float16: bool = False,
) -> Path:
    """Write ``model`` as a model directory, atomically.

    The files go to a temporary directory beside ``path`` that is renamed into place
    only when complete, so a crash never leaves a half-written model (an existing model
    at ``path`` is replaced only at that last step).

    Args:
        model: a :class:`sketchart.nn.model.SketchRNN`.
        path: the directory to write.
        meta: metadata (default: ``model.meta`` or a fresh :class:`ModelMeta`);
            ``max_seq_len`` and ``keras_version`` are filled in when missing.
        float16: store the weights as float16 (half the size; upcast on load).

    Returns:
        ``path`` as a :class:`Path`; ``model.meta`` is set to the metadata written.
    """
    import keras

    path = Path(path)
    meta = meta or getattr(model, "meta", None) or ModelMeta()
    if meta.max_seq_len is None:
        meta.max_seq_len = model.hps.max_seq_len
    meta.keras_version = keras.__version__
    meta.sketchart_version = _sketchart_version()
    from sketchart.util.atomic import atomic_dir

    with atomic_dir(path) as tmp:
        model.hps.to_json(tmp / CONFIG_FILE)
        meta.save(tmp / META_FILE)
        model.save_weights(str(tmp / WEIGHTS_FILE))
        if float16:
            _to_float16(tmp / WEIGHTS_FILE)
    model.meta = meta
    return path


def _to_float16(weights: Path) -> None:
    """Rewrite a weight file with float16 arrays (a fresh file: HDF5 never shrinks)."""
    import h5py
    import numpy as np

    half = weights.with_name(weights.name + ".f16")

    def copy(src: Any, dst: Any) -> None:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name))
            else:
                data = item[()]
                if getattr(data, "dtype", None) == np.float32:
                    data = data.astype(np.float16)
                out = dst.create_dataset(name, data=data)
                for key, value in item.attrs.items():
                    out.attrs[key] = value

    with h5py.File(weights, "r") as src, h5py.File(half, "w") as dst:
        copy(src, dst)
    # inside the directory being written: no atomic write needed, the directory is swapped
    half.replace(weights)


def _weight_arrays(weights: Path) -> list[tuple[str, Any]]:
    """The weight file's arrays in Keras' order (``layers/<layer>/vars/<i>``)."""
    import h5py

    out: list[tuple[str, Any]] = []
    with h5py.File(weights, "r") as h5:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out.append((name, obj[()]))

        h5.visititems(visit)
    return out


def load_model_dir(path: str | os.PathLike[str], seed: int | None = None) -> SketchRNN:
    """Load a model directory (or a log root's ``best/``) as a ``SketchRNN``.

    ``model.meta`` holds the :class:`ModelMeta` (a default one, with the config's
    ``max_seq_len``, when ``sketchart.json`` is absent). float16 weights are upcast.

    Raises:
        ModelDirError: a missing file, a bad config, or weights that do not fit it.
    """
    directory = resolve_model_dir(path)
    config, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for f in (config, weights):
        if not f.is_file():
            raise ModelDirError(
                f"{directory}: missing {f.name} (not a sketchart model directory)"
            )
    try:
        hps = HParams.from_json(config)
    except HParamsError as exc:
        raise ModelDirError(str(exc)) from None
    meta_path = directory / META_FILE
    meta = (
        ModelMeta.load(meta_path)
        if meta_path.is_file()
        else ModelMeta(max_seq_len=hps.max_seq_len)
    )

    from sketchart.nn.cells import weights_will_be_loaded
    from sketchart.nn.model import SketchRNN

    with weights_will_be_loaded():
        model = SketchRNN(hps, seed=seed)
    _load_weights(model, weights)
    model.meta = meta
    return model


def _load_weights(model: SketchRNN, weights: Path) -> None:
    import numpy as np

    try:
        arrays = dict(_weight_arrays(weights))
    except OSError as exc:
        raise ModelDirError(f"{weights}: not a readable HDF5 weight file ({exc})") from None
    expected = _h5_names(model)
    missing = [name for name in expected if name not in arrays]
    extra = sorted(set(arrays) - set(expected))
    kind = (
        f"{model.hps.enc_model}/{model.hps.dec_model} model with "
        f"conditional={model.hps.conditional}"
    )
    if missing or extra:
        what = (
            f"lacks {missing[0]!r} ({len(missing)} missing)"
            if missing
            else f"has unexpected {extra[0]!r} ({len(extra)} extra)"
        )
        raise ModelDirError(
            f"{weights}: {what}: it does not hold the weights of the "
            f"{kind} that {CONFIG_FILE} describes"
        )
    for name, variable in expected.items():
        array = arrays[name]
        if tuple(array.shape) != tuple(variable.shape):
            raise ModelDirError(
                f"{weights}: {variable.path} has shape {list(array.shape)}, {CONFIG_FILE} "
                f"expects {list(variable.shape)}"
            )
        # float16 files are upcast here
        variable.assign(np.asarray(array, dtype=variable.dtype))


def _h5_names(model: SketchRNN) -> dict[str, Any]:
    """``{dataset name: variable}`` in the layout ``model.save_weights`` writes:
    ``<layer>/vars/<i>``, ``i`` counting the layer's weights (seed states excluded)."""
    out: dict[str, Any] = {}
    for layer in model.layers:
        own = [v for v in layer.weights if "seed_generator" not in v.path]
        for i, variable in enumerate(own):
            out[f"{layer.name}/vars/{i}"] = variable
    return out
