"""sketch-rnn-js ``.gen.json`` / ``.vae.json`` reading and writing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from sketchart.jsformat import (
    GEN_NAMES,
    VAE_NAMES,
    JSFormatError,
    JSModel,
    dequantize,
    encode_js_model,
    quantize,
    read_js_model,
    write_js_model,
)


@pytest.fixture(scope="module")
def flamingo_path() -> Path:
    return shared_path("models", "sketch-rnn-js", "flamingo.gen.json")


def _vae_weights(rng: np.random.Generator, enc: int = 8, dec: int = 12, z: int = 4,
                 m: int = 3) -> dict[str, np.ndarray]:
    shapes = {
        "enc_fw_W_xh": (5, 4 * enc), "enc_fw_W_hh": (enc, 4 * enc), "enc_fw_bias": (4 * enc,),
        "enc_bw_W_xh": (5, 4 * enc), "enc_bw_W_hh": (enc, 4 * enc), "enc_bw_bias": (4 * enc,),
        "mu_w": (2 * enc, z), "mu_b": (z,), "presig_w": (2 * enc, z), "presig_b": (z,),
        "init_w": (z, 2 * dec), "init_b": (2 * dec,),
        "output_w": (dec, 6 * m + 3), "output_b": (6 * m + 3,),
        "dec_W_xh": (5 + z, 4 * dec), "dec_W_hh": (dec, 4 * dec), "dec_bias": (4 * dec,),
    }
    return {k: rng.normal(0, 1.5, s).astype(np.float32) for k, s in shapes.items()}


def test_reads_google_flamingo(flamingo_path: Path) -> None:
    model = read_js_model(flamingo_path)
    assert model.kind == "gen" and not model.conditional
    assert list(model.weights) == list(GEN_NAMES)
    assert model.weights["output_w"].shape == (512, 123)
    assert model.weights["dec_W_xh"].shape == (5, 2048)
    assert model.max_seq_len == 105 and model.scale_factor == pytest.approx(72.0492)
    assert model.dec_rnn_size == 512 and model.num_mixture == 20
    hps = model.hparams_dict()
    assert hps["conditional"] is False and hps["dec_model"] == "lstm"
    for w in model.weights.values():
        assert w.dtype == np.float32 and np.all(np.abs(w) <= 10.0)


def test_dequantises_as_magenta_js(flamingo_path: Path) -> None:
    doc = json.loads(flamingo_path.read_bytes())
    q = np.frombuffer(base64.b64decode(doc[2][1]), dtype="<i2")
    # magenta-js: Float32Array(int16) then 10 * w / 32767 (a double op) stored as float32
    expected = np.array([np.float32(10.0 * float(v) / 32767.0) for v in q], dtype=np.float32)
    np.testing.assert_array_equal(read_js_model(flamingo_path).weights["output_b"], expected)


def test_requantising_reproduces_the_file_bytes(flamingo_path: Path) -> None:
    original = json.loads(flamingo_path.read_bytes())
    again = json.loads(encode_js_model(read_js_model(flamingo_path)))
    assert again[0] == original[0]
    assert again[1] == original[1]
    assert again[2] == original[2]


def test_quantisation_error_and_clipping() -> None:
    w = np.array([-25.0, -10.0, -1e-4, 0.0, 3.14159, 9.9999, 12.0])
    back = dequantize(quantize(w))
    assert back[0] == pytest.approx(-10.0) and back[-1] == pytest.approx(10.0)
    inside = np.abs(w) <= 10
    assert np.max(np.abs(back[inside] - w[inside])) <= 10.0 / 32767 / 2 + 1e-7
    assert quantize(w).dtype == np.dtype("<i2")


def test_vae_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = _vae_weights(rng)
    info = {"mode": 1, "version": 6, "max_seq_len": 40, "name": "toy", "scale_factor": 3.5}
    path = write_js_model(tmp_path / "toy.vae.json", JSModel(info, weights))
    doc = json.loads(path.read_text())
    # layout of notes §14: 17 weights in the documented order and shapes
    assert doc[1] == [list(weights[n].shape) for n in VAE_NAMES]
    back = read_js_model(path)
    assert back.conditional and back.kind == "vae"
    assert back.z_size == 4 and back.enc_rnn_size == 8 and back.dec_rnn_size == 12
    assert back.num_mixture == 3
    for name in VAE_NAMES:
        np.testing.assert_allclose(back.weights[name], np.clip(weights[name], -10, 10),
                                   atol=10.0 / 32767)
    hps = back.hparams_dict()
    assert hps["conditional"] is True and hps["z_size"] == 4 and hps["enc_rnn_size"] == 8
    assert not list(tmp_path.glob(".*tmp"))


def _corrupt(path: Path, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_bytes())
    edit(doc)
    out = tmp_path / "bad.gen.json"
    out.write_text(json.dumps(doc))
    return out


def test_truncated_file_is_one_line_error(flamingo_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.gen.json"
    bad.write_bytes(flamingo_path.read_bytes()[:100_000])
    with pytest.raises(JSFormatError, match="corrupt or truncated") as err:
        read_js_model(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.__setitem__(2, d[2][:4]), "same length"),
        (lambda d: (d[1].pop(), d[2].pop()), "4 weights"),
        (lambda d: d[1].__setitem__(2, [6, 2048]), "dec_W_xh has shape"),
        (lambda d: d[2].__setitem__(1, d[2][1][:-8]), "values, expected 123"),
        (lambda d: d[2].__setitem__(1, "!!not base64!!"), "not valid base64"),
        (lambda d: d[0].__setitem__("scale_factor", -1), "scale_factor"),
        (lambda d: d[0].__setitem__("mode", 1), "says vae"),
        (lambda d: d.__setitem__(0, [1, 2]), "info"),
    ],
)
def test_bad_layouts_are_rejected(flamingo_path: Path, tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    bad = _corrupt(flamingo_path, tmp_path, edit)
    with pytest.raises(JSFormatError, match=message) as err:
        read_js_model(bad)
    assert "\n" not in str(err.value)


def test_not_an_array(tmp_path: Path) -> None:
    bad = tmp_path / "x.gen.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(JSFormatError, match=r"\[info, dims, weights\]"):
        read_js_model(bad)


def test_write_refuses_incomplete_model(tmp_path: Path) -> None:
    with pytest.raises(JSFormatError, match="missing weights"):
        write_js_model(tmp_path / "x.gen.json",
                       JSModel({"max_seq_len": 5, "scale_factor": 1.0},
                               {"output_w": np.zeros((4, 9), np.float32),
                                "dec_W_hh": np.zeros((4, 16), np.float32)}))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_seq_len", 1e18, "max_seq_len must be at most"),
        ("max_seq_len", 250.7, "whole number"),
        ("max_seq_len", float("nan"), "positive number"),
        ("scale_factor", 1e300, "scale_factor must be at most"),
        ("scale_factor", float("inf"), "scale_factor must be at most"),
        ("version", 99, "unknown format version"),
        ("version", "6", "unknown format version"),
        ("mode", "sketch", "unknown info.mode"),
        ("mode", 7, "unknown info.mode"),
    ],
)
def test_absurd_info_values_are_refused(flamingo_path: Path, tmp_path: Path, key: str,
                                        value: object, message: str) -> None:
    bad = _corrupt(flamingo_path, tmp_path, lambda d: d[0].__setitem__(key, value))
    with pytest.raises(JSFormatError, match=message) as err:
        read_js_model(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("data", [b"[" * 100_000,
                                  b'[{"max_seq_len": 1' + b"0" * 5000 + b"}]'"])
def test_hostile_json_is_one_line(tmp_path: Path, data: bytes) -> None:
    bad = tmp_path / "x.gen.json"
    bad.write_bytes(data)
    with pytest.raises(JSFormatError) as err:
        read_js_model(bad)
    assert "\n" not in str(err.value)
