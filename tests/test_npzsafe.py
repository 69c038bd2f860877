"""Safe npz reading: real files read as numpy does, malicious pickles never run, writer."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from sketchart.data.npzsafe import RestrictedUnpickler, read_npy, read_npz, write_npz
from sketchart.errors import SketchartError

NPZ_FILES = ["aaron_sheep.npz", "omniglot.npz", "short_kanji.npz", "kanji.rdp100.npz"]


def _zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _object_npy_header(n: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|O", "fortran_order": False, "shape": (n,)}
    )
    return buf.getvalue()


@pytest.mark.parametrize("name", NPZ_FILES)
def test_real_files_read_like_numpy(name):
    path = shared_path("data", "sketchrnn", name)
    ours = read_npz(path)
    with np.load(path, allow_pickle=True, encoding="latin1") as ref:
        assert sorted(ours) == sorted(ref.files) == ["test", "train", "valid"]
        for key in ref.files:
            assert ours[key].shape == ref[key].shape
            # every sketch: same dtype and values (kanji.rdp100 is float64)
            for a, b in zip(ours[key][::97], ref[key][::97]):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    expected = np.float64 if name == "kanji.rdp100.npz" else np.int16
    assert ours["train"][0].dtype == expected


class _Payload:
    """Pickles as ``os.system('touch MARKER')``: what a hostile dataset would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_npz_never_runs_its_payload(tmp_path):
    marker = tmp_path / "pwned"
    strokes = np.zeros((3, 3), np.int16)
    # an object array whose second element is the payload, inside a real-looking npz
    arr = np.empty(2, dtype=object)
    arr[0] = strokes
    arr[1] = _Payload(marker)
    body = pickle.dumps(arr, protocol=2)
    assert b"system" in body
    path = _zip_with(
        tmp_path / "evil.npz",
        {"train.npy": _object_npy_header(2) + body, "valid.npy": b"", "test.npy": b""},
    )
    # sanity: numpy with allow_pickle really would run it
    with np.load(path, allow_pickle=True) as ref:
        ref["train"]
    assert marker.exists()
    marker.unlink()
    with pytest.raises(SketchartError, match=r"evil.npz:train: unsafe .*refused .*system"):
        read_npz(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module,name",
    [
        ("builtins", "eval"),
        ("numpy", "load"),
        ("subprocess", "Popen"),
        ("numpy", "frombuffer"),
    ],
)
def test_unpickler_refuses_other_globals(module, name):
    body = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
    with pytest.raises(
        pickle.UnpicklingError, match=f"refused to load global {module}.{name}"
    ):
        RestrictedUnpickler(io.BytesIO(body)).load()


def test_stand_ins_cannot_be_modified_or_misused():
    from sketchart.data import npzsafe

    # BUILD on a stand-in tries to set attributes, through __dict__ or slot state: refused
    for state in (b"}X\x03\x00\x00\x00_fnK\x01s", b"N}X\x03\x00\x00\x00_fnK\x01s\x86"):
        body = b"\x80\x02cnumpy\nndarray\n" + state + b"b."
        with pytest.raises((pickle.UnpicklingError, AttributeError)):
            RestrictedUnpickler(io.BytesIO(body)).load()
    assert npzsafe._NDARRAY_TOKEN._fn is npzsafe._refuse_ndarray_call
    # numpy.ndarray called directly (e.g. to allocate a huge array): refused
    body = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x7f\x85R."
    with pytest.raises(pickle.UnpicklingError, match="only be used through _reconstruct"):
        RestrictedUnpickler(io.BytesIO(body)).load()
    # numpy.dtype of something other than a plain numeric type: refused
    body = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00V8\x85R."
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        RestrictedUnpickler(io.BytesIO(body)).load()


def test_truncated_and_corrupt_files(tmp_path):
    good = shared_path("data", "sketchrnn", "short_kanji.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(SketchartError, match="cut.npz: truncated or corrupt") as err:
        read_npz(cut)
    assert "\n" not in str(err.value)
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(SketchartError, match="bad.npz"):
        read_npz(bad)
    with pytest.raises(SketchartError, match="no such file"):
        read_npz(tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(SketchartError, match="text.npz: truncated or corrupt"):
        read_npz(text)


def test_bad_npy_headers():
    with pytest.raises(SketchartError, match="bad magic"):
        read_npy(b"NOTNUMPY" + b"\x00" * 20, "x")
    buf = io.BytesIO()
    np.save(buf, np.arange(10, dtype=np.int16))
    data = buf.getvalue()
    assert np.array_equal(read_npy(data, "x"), np.arange(10))
    with pytest.raises(SketchartError, match="truncated array data"):
        read_npy(data[:-4], "x")
    # a header that is Python code, not a literal, is not evaluated
    evil = data.replace(b"{'descr'", b"{__import__('os').system('true') or 'descr'")
    with pytest.raises(SketchartError, match="unreadable .npy header|bad .npy header"):
        read_npy(evil, "x")


@pytest.mark.parametrize("dtype", ["int8", "int16", "float16", "float32", "float64"])
def test_accepts_stroke_dtypes(tmp_path, dtype):
    sketches = [np.array([[1, 2, 0], [3, -4, 1]], dtype=dtype)] * 3
    path = write_npz(tmp_path / "d.npz", {"train": sketches}, dtype=dtype)
    got = read_npz(path)["train"]
    assert len(got) == 3 and got[0].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got[1], sketches[1])


def test_writer_round_trip_and_numpy_compatibility(tmp_path):
    src = read_npz(shared_path("data", "sketchrnn", "kanji.rdp100.npz"))
    splits = {k: list(src[k][:50]) for k in ("train", "valid", "test")}
    labels = np.arange(50, dtype=np.int32) % 3
    path = write_npz(
        tmp_path / "out.npz", splits, {"train_labels": labels, "class_names": np.array(["a"])}
    )
    ours = read_npz(path)
    assert ours["train"][0].dtype == np.int16
    np.testing.assert_array_equal(ours["train_labels"], labels)
    for a, b in zip(ours["valid"], splits["valid"]):
        np.testing.assert_array_equal(a, np.rint(b))
    # magenta's loader (numpy, pickles allowed) reads it; older numpy's module name is used
    with np.load(path, allow_pickle=True, encoding="latin1") as ref:
        for a, b in zip(ref["test"], ours["test"]):
            np.testing.assert_array_equal(a, b)
    with zipfile.ZipFile(path) as zf:
        body = zf.read("train.npy")
    assert b"numpy.core.multiarray" in body and b"numpy._core" not in body


def test_writer_refuses_values_outside_int16_and_keeps_old_file(tmp_path):
    path = write_npz(tmp_path / "d.npz", {"train": [np.array([[1, 1, 1]])]})
    before = path.read_bytes()
    with pytest.raises(
        SketchartError, match="split 'train', sketch 1: values do not fit int16"
    ):
        write_npz(path, {"train": [np.array([[1, 1, 1]]), np.array([[40000, 0, 1]])]})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temporary left behind


# --------------------------------------------------------------- decompression bombs
def _bomb(path: Path, name: str, megabytes: int, extra: dict[str, list] | None = None) -> Path:
    """A valid dataset plus a member of zeros that deflates a thousandfold."""
    write_npz(path, extra or {s: [np.array([[1, 2, 0], [3, 4, 1]], np.int16)]
                              for s in ("train", "valid", "test")})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(bytes(1 << 20))
    return path


def test_unused_members_are_never_decompressed(tmp_path):
    import time

    from sketchart.data.datasets import load_npz

    path = _bomb(tmp_path / "junk.npz", "junk.npy", 512)
    start = time.perf_counter()
    assert len(load_npz(path).train) == 1
    assert time.perf_counter() - start < 1.0


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    import time

    from sketchart.data.datasets import load_npz

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("train.npy", "w", force_zip64=True) as member:
            for _ in range(512):
                member.write(bytes(1 << 20))
    start = time.perf_counter()
    with pytest.raises(SketchartError, match="zip bomb") as err:
        load_npz(path)
    assert time.perf_counter() - start < 1.0 and "\n" not in str(err.value)


def test_declared_sizes_are_capped(tmp_path):
    path = tmp_path / "big.npz"
    write_npz(path, {s: [np.zeros((50, 3), np.int16)] for s in ("train", "valid", "test")})
    with pytest.raises(SketchartError, match="decompresses to more than"):
        read_npz(path, max_bytes=100)


def test_offsets_beyond_float32_are_refused(tmp_path):
    from sketchart.data.datasets import load_npz

    path = tmp_path / "huge.npz"
    sketch = np.array([[1e39, 0, 0], [1, 1, 1]], np.float64)
    write_npz(path, {"train": [sketch], "valid": [sketch[1:]], "test": [sketch[1:]]},
              dtype="float64")
    with pytest.raises(SketchartError, match="offset beyond") as err:
        load_npz(path)
    assert "sketch 0" in str(err.value)
    assert len(load_npz(path, skip_bad=True).train) == 0


def test_writer_refuses_non_finite_values(tmp_path):
    bad = np.array([[np.nan, 0, 0], [1, 1, 1]])
    with pytest.raises(SketchartError, match="sketch 0: non-finite"):
        write_npz(tmp_path / "x.npz", {"train": [bad], "valid": [], "test": []})
    assert not (tmp_path / "x.npz").exists()
