"""The model directory: metadata, atomic saves, loading, float16, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sketchart.hparams import HParams
from sketchart.modeldir import (
    CONFIG_FILE,
    META_FILE,
    WEIGHTS_FILE,
    ModelDirError,
    ModelMeta,
    is_model_dir,
    resolve_model_dir,
)

pytestmark = pytest.mark.parity


def tiny(**overrides: Any) -> HParams:
    return HParams(
        **{
            "enc_rnn_size": 8,
            "dec_rnn_size": 10,
            "z_size": 4,
            "num_mixture": 2,
            "max_seq_len": 20,
            **overrides,
        }
    )


def model_of(hps: HParams, seed: int = 0) -> Any:
    from sketchart.nn.model import SketchRNN

    return SketchRNN(hps, seed=seed)


def test_import_does_not_pull_keras() -> None:
    code = (
        "import sys, sketchart.modeldir, sketchart.hub.convert, sketchart.tfbundle, "
        "sketchart.cli.convert; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_meta_round_trip_and_validation(tmp_path: Path) -> None:
    meta = ModelMeta(
        scale_factor=18.52,
        max_seq_len=250,
        data_set=["aaron_sheep.npz"],
        class_names=["sheep"],
        steps=1000,
        valid={"r_cost": -0.5, "kl_cost": 0.3},
    )
    data = meta.to_dict()
    assert next(iter(data)) == "format_version" and data["format_version"] == 1
    assert set(data) == {
        "format_version",
        "scale_factor",
        "max_seq_len",
        "data_set",
        "class_names",
        "source",
        "steps",
        "valid",
        "test",
        "sketchart_version",
        "keras_version",
    }
    meta.save(tmp_path / "m.json")
    assert ModelMeta.load(tmp_path / "m.json") == meta
    with pytest.raises(ModelDirError, match="unknown source 'pirate'"):
        ModelMeta(source="pirate")
    with pytest.raises(ModelDirError, match="scale_factor must be in"):
        ModelMeta(scale_factor=0)
    with pytest.raises(ModelDirError, match="unknown key 'colour'"):
        ModelMeta.from_dict({**data, "colour": "red"})
    with pytest.raises(ModelDirError, match="format_version 2 is newer"):
        ModelMeta.from_dict({**data, "format_version": 2})


@pytest.mark.parametrize("kind", ["lstm", "hyper"])
def test_save_load_round_trip(tmp_path: Path, kind: str) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    model = model_of(tiny(dec_model=kind, enc_model=kind))
    path = save_model_dir(
        model, tmp_path / "m", ModelMeta(scale_factor=3.0, data_set=["x.npz"])
    )
    assert sorted(os.listdir(path)) == sorted([CONFIG_FILE, WEIGHTS_FILE, META_FILE])
    assert is_model_dir(path)
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["dec_model"] == kind and config["conditional"] is True
    meta = json.loads((path / META_FILE).read_text())
    assert meta["max_seq_len"] == 20 and meta["keras_version"]
    loaded = load_model_dir(path)
    assert loaded.hps == model.hps and loaded.meta.scale_factor == 3.0
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()), a.path)
    assert model.meta.scale_factor == 3.0  # save attaches the metadata too


def test_float16_weights_are_upcast(tmp_path: Path) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    model = model_of(tiny())
    big = save_model_dir(model, tmp_path / "f32")
    half = save_model_dir(model, tmp_path / "f16", float16=True)
    assert (half / WEIGHTS_FILE).stat().st_size < (big / WEIGHTS_FILE).stat().st_size
    loaded = load_model_dir(half)
    for a, b in zip(model.weights, loaded.weights):
        assert b.dtype == "float32"
        np.testing.assert_allclose(
            np.asarray(b.numpy()), np.asarray(a.numpy()), rtol=1e-3, atol=1e-4
        )


def test_atomic_replace_and_no_leftovers(tmp_path: Path) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    save_model_dir(model_of(tiny(), seed=1), tmp_path / "m")
    second = model_of(tiny(), seed=2)
    save_model_dir(second, tmp_path / "m")
    assert os.listdir(tmp_path) == ["m"]  # no temporary or old directories left
    np.testing.assert_array_equal(
        np.asarray(load_model_dir(tmp_path / "m").weights[0]), np.asarray(second.weights[0])
    )

    class Boom(Exception):
        pass

    broken = model_of(tiny(), seed=3)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise Boom

    broken.save_weights = fail  # type: ignore[method-assign]
    with pytest.raises(Boom):
        save_model_dir(broken, tmp_path / "m")
    assert os.listdir(tmp_path) == ["m"]  # the old model is untouched
    np.testing.assert_array_equal(
        np.asarray(load_model_dir(tmp_path / "m").weights[0]), np.asarray(second.weights[0])
    )


def test_log_root_loads_best(tmp_path: Path) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    save_model_dir(model_of(tiny(), seed=1), tmp_path / "run" / "last")
    best = model_of(tiny(), seed=2)
    save_model_dir(best, tmp_path / "run" / "best", ModelMeta(steps=500))
    assert resolve_model_dir(tmp_path / "run") == tmp_path / "run" / "best"
    loaded = load_model_dir(tmp_path / "run")
    assert loaded.meta.steps == 500
    np.testing.assert_array_equal(np.asarray(loaded.weights[0]), np.asarray(best.weights[0]))


def test_missing_meta_gets_a_default(tmp_path: Path) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    path = save_model_dir(model_of(tiny()), tmp_path / "m")
    (path / META_FILE).unlink()
    assert load_model_dir(path).meta.max_seq_len == 20


def test_errors_are_one_line(tmp_path: Path) -> None:
    from sketchart.modeldir import load_model_dir, save_model_dir

    with pytest.raises(ModelDirError, match="no such model directory"):
        load_model_dir(tmp_path / "nowhere")
    path = save_model_dir(model_of(tiny()), tmp_path / "m")
    # a config that no longer matches the weights: shapes
    tiny(dec_rnn_size=12).to_json(path / CONFIG_FILE)
    with pytest.raises(
        ModelDirError,
        match=r"decoder/W_xh has shape \[9, 40\], "
        r"model_config.json expects \[9, 48\]",
    ):
        load_model_dir(path)
    # ... or structure (a decoder-only config for a VAE's weights)
    tiny(conditional=False).to_json(path / CONFIG_FILE)
    with pytest.raises(
        ModelDirError,
        match="does not hold the weights of the lstm/lstm model with conditional=False",
    ):
        load_model_dir(path)
    (path / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelDirError, match="missing model.weights.h5"):
        load_model_dir(path)
    (path / CONFIG_FILE).write_text("[1, 2]")
    (path / WEIGHTS_FILE).write_bytes(b"not hdf5")
    with pytest.raises(Exception) as info:
        load_model_dir(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("data, message", [
    (b'{"scale_factor": 1e300}', "scale_factor must be in"),
    (b'{"scale_factor": "x"}', "scale_factor must be a number"),
    (b'{"max_seq_len": 1e18}', "max_seq_len must be an integer"),
    (b'{"valid": {"r_cost": 1' + b"0" * 400 + b"}}", "valid.r_cost must be"),
    (b'{"valid": [1]}', "valid must be an object"),
    (b'{"source": "\xff"}', "not UTF-8"),
    (b'{"a": ' * 100_000, "nested too deeply|not valid JSON"),
])
def test_hostile_meta_is_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    from sketchart.modeldir import ModelDirError, ModelMeta

    path = tmp_path / "sketchart.json"
    path.write_bytes(data)
    with pytest.raises(ModelDirError, match=message) as err:
        ModelMeta.load(path)
    assert "\n" not in str(err.value)
