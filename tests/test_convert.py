"""Weight import: the checkpoint reader, the reference-name map, roles, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import shared_path

from sketchart.hparams import HParams

pytestmark = pytest.mark.parity


def checkpoint_dir() -> Path:
    return shared_path("fixtures", "reference", "magenta_checkpoint_small")


def tiny(**overrides: Any) -> HParams:
    return HParams(
        **{
            "enc_rnn_size": 6,
            "dec_rnn_size": 8,
            "z_size": 3,
            "num_mixture": 2,
            "max_seq_len": 10,
            **overrides,
        }
    )


def test_bundle_reader_matches_tensorflow() -> None:
    """The pure-Python tensor-bundle reader returns exactly what TF's reader does."""
    from sketchart.tfbundle import read_bundle

    prefix = checkpoint_dir() / "vector-12"
    ours = read_bundle(prefix)
    tf = pytest.importorskip("tensorflow")
    reader = tf.train.load_checkpoint(str(prefix))
    names = reader.get_variable_to_shape_map()
    assert set(ours) == set(names)
    for name in names:
        np.testing.assert_array_equal(ours[name], reader.get_tensor(name), err_msg=name)
    assert int(ours["vector_rnn/global_step"]) == 12


def test_bundle_reader_errors(tmp_path: Path) -> None:
    from sketchart.errors import SketchartError
    from sketchart.tfbundle import read_bundle

    (tmp_path / "x.index").write_bytes(b"\0" * 64)
    with pytest.raises(SketchartError, match="not a TensorFlow checkpoint index"):
        read_bundle(tmp_path / "x")
    shutil.copy(checkpoint_dir() / "vector-12.index", tmp_path / "y.index")
    with pytest.raises(SketchartError, match="no data file"):
        read_bundle(tmp_path / "y")


@pytest.mark.parametrize(
    "fixture, overrides",
    [
        ("lstm.npz", {}),
        (
            "layer_norm.npz",
            {"enc_model": "layer_norm", "dec_model": "layer_norm", "max_seq_len": 67},
        ),
        ("hyper.npz", {"enc_model": "hyper", "dec_model": "hyper", "max_seq_len": 67}),
        ("lstm_unconditional.npz", {"conditional": False}),
    ],
)
def test_reference_names_cover_the_fixtures(fixture: str, overrides: dict[str, Any]) -> None:
    """The name map lists exactly the reference's trainable variables, and loading then
    exporting them is the identity."""
    from sketchart.hub.convert import (
        load_reference_weights,
        reference_names,
        reference_weights,
    )
    from sketchart.nn.model import SketchRNN

    data = np.load(shared_path("fixtures", "reference", fixture))
    names = {k[2:-2] for k in data.files if k.startswith("w:")}
    hps = HParams(**overrides)
    assert {r.name for r in reference_names(hps)} == names
    model = SketchRNN(hps)
    load_reference_weights(model, {k[2:]: data[k] for k in data.files if k.startswith("w:")})
    exported = reference_weights(model)
    assert set(exported) == names
    for name in names:
        np.testing.assert_array_equal(exported[name], data[f"w:{name}:0"], err_msg=name)


def test_weights_by_role_round_trip() -> None:
    from sketchart.hub.convert import ConvertError, set_weights_by_role, weights_by_role
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(), seed=1)
    roles = weights_by_role(model)
    assert set(roles) == {
        "encoder_fw",
        "encoder_bw",
        "decoder",
        "mu",
        "presig",
        "init_state",
        "output",
    }
    assert set(roles["decoder"]) == {"W_xh", "W_hh", "bias"}
    assert roles["decoder"]["W_xh"].shape == (5 + 3, 32)  # [stroke5 + z, 4H], gates i,j,f,o
    assert set(roles["output"]) == {"W", "b"} and roles["output"]["W"].shape == (8, 15)
    other = SketchRNN(tiny(), seed=2)
    set_weights_by_role(other, roles)
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    gen = weights_by_role(SketchRNN(tiny(conditional=False)))
    assert set(gen) == {"decoder", "output"}
    with pytest.raises(ConvertError, match="unknown weight role 'brain'"):
        set_weights_by_role(other, {"brain": {}})
    with pytest.raises(ConvertError, match=r"role output: W has shape \[2, 2\], expected"):
        set_weights_by_role(other, {"output": {"W": np.zeros((2, 2))}})


def test_convert_checkpoint(tmp_path: Path) -> None:
    from sketchart.hub.convert import convert_checkpoint
    from sketchart.modeldir import load_model_dir

    out = convert_checkpoint(checkpoint_dir(), tmp_path / "m", scale_factor=18.5)
    model = load_model_dir(out)
    assert model.meta.source == "magenta-checkpoint" and model.meta.steps == 12
    assert model.meta.scale_factor == 18.5 and model.meta.class_names == ["aaron_sheep"]
    # a checkpoint prefix works as well as the directory
    convert_checkpoint(checkpoint_dir() / "vector-12", tmp_path / "m2")
    assert (tmp_path / "m2" / "model.weights.h5").is_file()


def copy_checkpoint(tmp_path: Path, **config_changes: Any) -> Path:
    dst = tmp_path / "ckpt"
    shutil.copytree(checkpoint_dir(), dst)
    if config_changes:
        (dst / "model_config.json").chmod(0o644)
        config = json.loads((dst / "model_config.json").read_text())
        config.update(config_changes)
        (dst / "model_config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize(
    "changes, match",
    [
        (
            {"dec_model": "lstm"},
            (
                r"variable\(s\) of a lstm/lstm model are missing, "
                r"e.g. 'vector_rnn/RNN/LSTMCell/W_xh' "
                r"\(the weights hold LSTMCell, LayerNormLSTMCell\)"
            ),
        ),
        (
            {"dec_rnn_size": 32},
            (
                r"vector_rnn/linear/super_linear_w has shape \[16, 128\], "
                r"expected \[16, 64\] for these hparams"
            ),
        ),
        ({"num_mixture": 4}, r"output_w has shape \[64, 33\], expected \[64, 27\]"),
        ({"dec_model": "gru"}, r"unknown cell dec_model='gru'"),
        ({"conditional": 0}, r"unexpected variable 'vector_rnn/ENC_RNN/bw/LSTMCell/W_hh'"),
    ],
)
def test_convert_bad_input(tmp_path: Path, changes: dict[str, Any], match: str) -> None:
    """Configs that do not match the checkpoint: one-line errors, expected vs found."""
    from sketchart.errors import SketchartError
    from sketchart.hub.convert import convert_checkpoint

    src = copy_checkpoint(tmp_path, **changes)
    with pytest.raises(SketchartError, match=match) as info:
        convert_checkpoint(src, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_convert_missing_files(tmp_path: Path) -> None:
    from sketchart.hub.convert import ConvertError, convert_checkpoint

    src = copy_checkpoint(tmp_path)
    (src / "model_config.json").unlink()
    with pytest.raises(ConvertError, match="model_config.json: missing"):
        convert_checkpoint(src, tmp_path / "out")
    with pytest.raises(ConvertError, match="not a checkpoint directory or prefix"):
        convert_checkpoint(
            tmp_path / "nothing",
            tmp_path / "out",
            config=checkpoint_dir() / "model_config.json",
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConvertError, match="no TF checkpoint here"):
        convert_checkpoint(
            empty, tmp_path / "out", config=checkpoint_dir() / "model_config.json"
        )


def test_cli_convert(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sketchart.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(checkpoint_dir()), str(tmp_path / "m")])
    assert result.exit_code == 0, repr(result.exception)
    assert "wrote" in result.output
    again = runner.invoke(app, ["convert", str(checkpoint_dir()), str(tmp_path / "m")])
    assert again.exit_code != 0 and "use --force" in str(again.exception)
    forced = runner.invoke(
        app, ["convert", str(checkpoint_dir()), str(tmp_path / "m"), "--force"]
    )
    assert forced.exit_code == 0, repr(forced.exception)
