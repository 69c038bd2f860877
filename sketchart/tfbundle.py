"""A small pure-Python reader of TensorFlow checkpoints (the "tensor bundle" format).

A checkpoint ``prefix`` is two files:

* ``prefix.index`` -- a LevelDB-style SSTable mapping each tensor name to a
  ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c); the empty key holds
  the ``BundleHeaderProto`` (number of shards, endianness);
* ``prefix.data-SSSSS-of-NNNNN`` -- the tensors' raw little-endian bytes.

Reading it needs neither TensorFlow nor protobuf, so a magenta checkpoint converts on a
JAX-only machine too. Only what TF1 checkpoints of sketch_rnn use is supported: numeric
tensors stored whole (no partitioned slices); string tensors are skipped.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError

__all__ = ["BundleError", "read_bundle", "read_index"]

_MAGIC = 0xDB4775248B80FB57
# tensorflow/core/framework/types.proto
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    17: np.uint16,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}
_DT_STRING = 7


class BundleError(SketchartError):
    """A checkpoint file that cannot be read."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BundleError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Entries of one SSTable block (keys are prefix-compressed against the previous)."""
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _read_block(data: bytes, handle: bytes, where: str) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    block = data[offset : offset + size]
    if len(block) != size or offset + size + 5 > len(data):
        raise BundleError(f"{where}: truncated block")
    compression = data[offset + size]
    if compression != 0:
        # TF writes bundle indexes uncompressed; snappy would need a decoder
        raise BundleError(
            f"{where}: compressed SSTable blocks (type {compression}) are not supported"
        )
    return block


def _fields(buf: bytes) -> dict[int, list[Any]]:
    """Decode one protobuf message into ``{field number: [values]}`` (wire types 0, 1,
    2, 5)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    value: int | bytes
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise BundleError(f"unsupported protobuf wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def read_index(prefix: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The entries of ``prefix.index``: ``{name: {dtype, shape, shard, offset, size}}``."""
    path = Path(f"{prefix}.index")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise BundleError(f"{path}: not a TensorFlow checkpoint index (bad magic number)")
    footer = data[-48:]
    _, pos = _varint(footer, 0)  # metaindex handle offset
    _, pos = _varint(footer, pos)  # metaindex handle size
    index_handle = footer[pos:]
    entries: dict[str, dict[str, Any]] = {}
    for _, handle in _block_entries(_read_block(data, index_handle, str(path))):
        for key, value in _block_entries(_read_block(data, handle, str(path))):
            if not key:
                continue  # the BundleHeaderProto
            f = _fields(value)
            shape_fields = _fields(f.get(2, [b""])[0])
            dims = [_fields(d).get(1, [0])[0] for d in shape_fields.get(2, [])]
            if 7 in f:
                raise BundleError(
                    f"{path}: tensor {key.decode()!r} is stored in slices "
                    "(partitioned variables are not supported)"
                )
            entries[key.decode("utf-8")] = {
                "dtype": f.get(1, [0])[0],
                "shape": dims,
                "shard": f.get(3, [0])[0],
                "offset": f.get(4, [0])[0],
                "size": f.get(5, [0])[0],
            }
    return entries


def read_bundle(prefix: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every numeric tensor of the checkpoint ``prefix`` as a NumPy array."""
    entries = read_index(prefix)
    shards: dict[int, bytes] = {}
    count = None
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e["dtype"] == _DT_STRING:
            continue
        dtype = _DTYPES.get(e["dtype"])
        if dtype is None:
            raise BundleError(f"{prefix}: tensor {name!r} has unsupported dtype {e['dtype']}")
        if e["shard"] not in shards:
            if count is None:
                count = _shard_count(prefix)
            shard_path = Path(f"{prefix}.data-{e['shard']:05d}-of-{count:05d}")
            try:
                shards[e["shard"]] = shard_path.read_bytes()
            except OSError as exc:
                raise BundleError(f"{shard_path}: cannot read ({exc.strerror})") from None
        raw = shards[e["shard"]][e["offset"] : e["offset"] + e["size"]]
        expected = int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(raw) != expected:
            raise BundleError(
                f"{prefix}: tensor {name!r} needs {expected} bytes, the data "
                f"file holds {len(raw)}"
            )
        out[name] = (
            np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            .astype(dtype)
            .reshape(e["shape"])
        )
    return out


def _shard_count(prefix: str | os.PathLike[str]) -> int:
    p = Path(prefix)
    found = sorted(p.parent.glob(f"{p.name}.data-*-of-*"))
    if not found:
        raise BundleError(f"{prefix}: no data file ({p.name}.data-00000-of-00001 missing)")
    return int(found[0].name.rsplit("-of-", 1)[1])
