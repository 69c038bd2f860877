"""Read and write sketch-rnn ``.npz`` files without executing pickles.

A sketch-rnn ``.npz`` stores each split as an *object* array of ``[n, 3]`` arrays, which
``numpy.load`` can only read with ``allow_pickle=True``: unpickling runs whatever callable
the file names, so a downloaded dataset could run code. Here the zip and ``.npy`` headers
are parsed directly (stdlib ``zipfile`` plus ``ast.literal_eval`` of the header) and object
arrays are rebuilt through :class:`RestrictedUnpickler`, whose ``find_class`` admits only
the few names numpy's array pickles use, each replaced by a checking stand-in. Anything
else is refused with a :class:`~sketchart.errors.SketchartError`.

The writer produces files that ``numpy.load(..., allow_pickle=True, encoding="latin1")``
(magenta's loader) reads, naming ``numpy.core.multiarray`` as older numpy versions expect.
"""

from __future__ import annotations

import ast
import codecs
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.util.atomic import atomic_file

__all__ = [
    "ALLOWED_STROKE_DTYPES",
    "MAX_NPZ_BYTES",
    "RestrictedUnpickler",
    "read_npy",
    "read_npz",
    "write_npz",
]

#: dtypes accepted for stroke arrays inside an object array.
ALLOWED_STROKE_DTYPES = frozenset(
    np.dtype(t) for t in ("i1", "i2", "i4", "i8", "u1", "u2", "f2", "f4", "f8")
)
# dtypes a pickle may construct: the stroke dtypes, object (the outer array), bool
_ALLOWED_PICKLE_DTYPES = frozenset(
    {np.dtype(t).str.lstrip("<>|=") for t in ALLOWED_STROKE_DTYPES} | {"O8", "O4", "b1"}
)
_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 1 << 16


class _Frozen:
    """A callable stand-in that a pickle's BUILD opcode cannot modify.

    BUILD sets attributes on whatever object is on the stack; plain functions and classes
    would accept that (``__defaults__``, ``__init__``), so every stand-in is an instance
    whose ``__setattr__`` refuses and which has no ``__dict__``.
    """

    __slots__ = ("_fn", "_name")
    _fn: Any
    _name: str

    def __init__(self, name: str, fn: Any) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, key: str, value: Any) -> None:
        raise pickle.UnpicklingError(f"cannot set attributes on {self._name}")

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __reduce__(self) -> Any:
        raise TypeError("stand-ins are not picklable")


def _refuse_ndarray_call(*args: Any) -> Any:
    raise pickle.UnpicklingError("numpy.ndarray may only be used through _reconstruct")


# what a pickle gets for ``numpy.ndarray``: only usable as ``_reconstruct``'s subtype
_NDARRAY_TOKEN = _Frozen("numpy.ndarray", _refuse_ndarray_call)


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy pickles always call _reconstruct(ndarray, (0,), b'b'); BUILD then sets the state
    if subtype is not _NDARRAY_TOKEN:
        raise pickle.UnpicklingError("_reconstruct called with a type other than ndarray")
    if shape != (0,) or dtype not in (b"b", "b"):
        raise pickle.UnpicklingError("_reconstruct called with unexpected arguments")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def _dtype(spec: Any, align: Any = 0, copy: Any = 0) -> np.dtype:
    if not isinstance(spec, str) or spec.lstrip("<>|=") not in _ALLOWED_PICKLE_DTYPES:
        raise pickle.UnpicklingError(f"dtype {spec!r} is not allowed in a stroke dataset")
    return np.dtype(spec)


def _codecs_encode(text: Any, encoding: Any = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 writes protocol-2 bytes as _codecs.encode(str, 'latin1'), e.g. the raw data
    # of float64 arrays; only that form is admitted
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 text")
    return codecs.encode(text, "latin1")


_SAFE_RECONSTRUCT = _Frozen("_reconstruct", _reconstruct)
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _SAFE_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _SAFE_RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY_TOKEN,
    ("numpy", "dtype"): _Frozen("numpy.dtype", _dtype),
    ("_codecs", "encode"): _Frozen("_codecs.encode", _codecs_encode),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and refuses every other global.

    ``find_class`` returns checking stand-ins for ``numpy.core.multiarray._reconstruct``
    (or ``numpy._core.multiarray._reconstruct``), ``numpy.ndarray``, ``numpy.dtype`` and
    ``_codecs.encode`` (latin1 only); array state is then set by ``ndarray.__setstate__``
    (the pickle's BUILD), which only copies data. Any other name raises
    ``pickle.UnpicklingError``.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _parse_header(data: bytes, where: str) -> tuple[dict[str, Any], int]:
    if len(data) < 10 or data[:6] != _MAGIC:
        raise SketchartError(f"{where}: not a .npy array (bad magic)")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    elif major in (2, 3):
        if len(data) < 12:
            raise SketchartError(f"{where}: truncated .npy header")
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    else:
        raise SketchartError(f"{where}: unsupported .npy version {major}")
    if hlen > _MAX_HEADER or start + hlen > len(data):
        raise SketchartError(f"{where}: truncated or oversized .npy header")
    text = data[start : start + hlen].decode("utf-8" if major == 3 else "latin1")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise SketchartError(f"{where}: unreadable .npy header") from None
    if (
        not isinstance(header, dict)
        or set(header) != {"descr", "fortran_order", "shape"}
        or not isinstance(header["shape"], tuple)
        or not all(isinstance(s, int) and s >= 0 for s in header["shape"])
    ):
        raise SketchartError(f"{where}: bad .npy header {text.strip()!r}")
    return header, start + hlen


def read_npy(data: bytes, where: str = "<npy>") -> np.ndarray:
    """Parse one ``.npy`` file's bytes; object arrays go through the restricted unpickler.

    Args:
        data: the whole ``.npy`` file.
        where: a name for error messages (``file.npz:train``).

    Raises:
        SketchartError: bad header, truncated data, a refused pickle.
    """
    header, offset = _parse_header(data, where)
    shape = header["shape"]
    try:
        dtype = np.dtype(header["descr"])
    except (TypeError, ValueError):
        raise SketchartError(f"{where}: unsupported dtype {header['descr']!r}") from None
    if dtype.hasobject:
        try:
            arr = RestrictedUnpickler(io.BytesIO(data[offset:]), encoding="latin1").load()
        except pickle.UnpicklingError as exc:
            raise SketchartError(f"{where}: unsafe or corrupt pickle: {exc}") from None
        except (
            EOFError,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
            struct.error,
            MemoryError,
        ) as exc:
            raise SketchartError(
                f"{where}: corrupt pickle data ({type(exc).__name__})"
            ) from None
        if not isinstance(arr, np.ndarray) or arr.shape != shape:
            raise SketchartError(f"{where}: pickle does not hold a {list(shape)} array")
        return arr
    if dtype.fields is not None or dtype.subdtype is not None:
        raise SketchartError(f"{where}: structured dtype {header['descr']!r} not supported")
    count = int(np.prod(shape, dtype=np.int64))
    need = count * dtype.itemsize
    if len(data) - offset < need:
        raise SketchartError(f"{where}: truncated array data")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if header["fortran_order"] else "C").copy()


#: most bytes read from one ``.npz`` once decompressed (Google's largest full QuickDraw
#: categories hold a few hundred MB)
MAX_NPZ_BYTES = 4 << 30
#: members larger than this must not claim a compression ratio above :data:`MAX_RATIO`
_RATIO_FLOOR = 16 << 20
#: stroke data deflates 2-6x; a thousandfold member is a zip bomb
MAX_RATIO = 100


def _check_member(info: zipfile.ZipInfo, where: str, budget: int) -> None:
    """Refuse a member by its declared sizes, before decompressing anything."""
    if info.file_size > budget:
        raise SketchartError(
            f"{where}: decompresses to more than {MAX_NPZ_BYTES >> 20} MB in all")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
        raise SketchartError(
            f"{where}: compressed {ratio:.0f} to 1, far beyond any sketch data (a zip bomb?)")


def read_npz(path: str | os.PathLike[str], keys: Collection[str] | None = None,
             max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, read without executing any pickle code.

    Only ``keys`` are read when given (others are never decompressed). Members are
    checked by their declared sizes first (zipfile never inflates past the declared size):
    more than ``max_bytes`` in all, or a zip-bomb compression ratio, is refused.

    Args:
        path: the ``.npz`` file.
        keys: the keys wanted (without ``.npy``); None for all.
        max_bytes: most decompressed bytes read.

    Returns:
        ``{key: array}`` with keys without the ``.npy`` suffix.

    Raises:
        SketchartError: missing, truncated, corrupt or oversized file (one line naming it).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            out: dict[str, np.ndarray] = {}
            budget = max_bytes
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if info.is_dir() or (keys is not None and key not in keys):
                    continue
                _check_member(info, f"{path}:{key}", budget)
                budget -= info.file_size
                out[key] = read_npy(zf.read(info), f"{path}:{key}")
            return out
    except FileNotFoundError:
        raise SketchartError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SketchartError(f"{path}: is a folder, not an .npz file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        # zlib errors, CRC mismatches and truncation all land here
        raise SketchartError(f"{path}: truncated or corrupt .npz ({exc})") from None
    except SketchartError:
        raise
    # zlib.error, NotImplementedError (an unknown compression) and friends from a damaged
    # member: any of them means the file is unreadable, and the user needs its name
    except Exception as exc:  # noqa: BLE001
        raise SketchartError(f"{path}: truncated or corrupt .npz ({exc})") from None


def _object_array(items: Sequence[np.ndarray]) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if not arr.dtype.hasobject:
        np.lib.format.write_array(buf, arr, allow_pickle=False)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    # Protocol 3 (numpy 1.x's choice) names globals in plain-text GLOBAL opcodes and has no
    # frames or offsets, so numpy 2's ``numpy._core`` can be renamed to ``numpy.core``,
    # which every numpy version imports.
    body = pickle.dumps(arr, protocol=3)
    body = body.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return buf.getvalue() + body


def write_npz(
    path: str | os.PathLike[str],
    splits: Mapping[str, Sequence[np.ndarray]],
    extra: Mapping[str, np.ndarray] | None = None,
    *,
    dtype: str = "int16",
) -> Path:
    """Write a sketch-rnn dataset: one object array of strokes per split, compressed.

    The file is written to a temporary name and renamed, so an interrupted write never
    leaves a damaged file in place of a good one.

    Args:
        path: the ``.npz`` to write.
        splits: ``{"train": [...], "valid": [...], "test": [...]}`` lists of ``[n, 3]``.
        extra: more plain (non-object) arrays, e.g. ``train_labels`` or ``class_names``.
        dtype: stroke dtype; the default ``int16`` is what sketch-rnn datasets use.

    Raises:
        SketchartError: a value does not fit ``dtype`` or a stroke array is not ``[n, 3]``.
    """
    path = Path(path)
    target = np.dtype(dtype)
    arrays: dict[str, np.ndarray] = {}
    for name, sketches in splits.items():
        converted = []
        for i, s in enumerate(sketches):
            s = np.asarray(s)
            if s.ndim != 2 or s.shape[1] != 3:
                raise SketchartError(f"{path}: split {name!r}, sketch {i}: shape {s.shape}")
            if s.dtype.kind == "f" and not np.isfinite(s).all():
                # NaN passes any range check and casts to an arbitrary integer
                raise SketchartError(f"{path}: split {name!r}, sketch {i}: non-finite values")
            if target.kind in "iu":
                info = np.iinfo(target)
                rounded = np.rint(s)
                if rounded.size and (rounded.min() < info.min or rounded.max() > info.max):
                    raise SketchartError(
                        f"{path}: split {name!r}, sketch {i}: values do not fit {target}"
                    )
                s = rounded
            converted.append(s.astype(target))
        arrays[name] = _object_array(converted)
    for name, arr in (extra or {}).items():
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            raise SketchartError(f"{path}: extra array {name!r} must not be an object array")
        arrays[name] = arr
    with (
        atomic_file(path, prefix=path.name + ".") as fh,
        zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        for name, arr in arrays.items():
            zf.writestr(name + ".npy", _npy_bytes(arr))
    return path
