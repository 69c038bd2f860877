"""HParams: magenta's names, meanings and defaults; parsing, JSON, legacy configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sketchart.errors import SketchartError
from sketchart.hparams import CELL_TYPES, HParams, HParamsError

#: magenta's get_default_hparams (model.py), without the legacy is_training
MAGENTA_DEFAULTS = {
    "data_set": ["aaron_sheep.npz"],
    "num_steps": 10000000,
    "save_every": 500,
    "max_seq_len": 250,
    "dec_rnn_size": 512,
    "dec_model": "lstm",
    "enc_rnn_size": 256,
    "enc_model": "lstm",
    "z_size": 128,
    "kl_weight": 0.5,
    "kl_weight_start": 0.01,
    "kl_tolerance": 0.2,
    "batch_size": 100,
    "grad_clip": 1.0,
    "num_mixture": 20,
    "learning_rate": 0.001,
    "decay_rate": 0.9999,
    "kl_decay_rate": 0.99995,
    "min_learning_rate": 0.00001,
    "use_recurrent_dropout": True,
    "recurrent_dropout_prob": 0.90,
    "use_input_dropout": False,
    "input_dropout_prob": 0.90,
    "use_output_dropout": False,
    "output_dropout_prob": 0.90,
    "random_scale_factor": 0.15,
    "augment_stroke_prob": 0.10,
    "conditional": True,
}


def test_defaults_and_order_are_magentas() -> None:
    assert HParams().to_dict() == MAGENTA_DEFAULTS
    assert HParams.names() == list(MAGENTA_DEFAULTS)
    assert CELL_TYPES == ("lstm", "layer_norm", "hyper")


def test_parse_magenta_syntax() -> None:
    hps = HParams().parse(
        "z_size=64, dec_model=layer_norm,kl_weight=1,"
        "use_recurrent_dropout=false,data_set=[cat.npz,dog.npz]"
    )
    assert hps.z_size == 64 and hps.dec_model == "layer_norm"
    assert hps.kl_weight == 1.0 and isinstance(hps.kl_weight, float)
    assert hps.use_recurrent_dropout is False
    assert hps.data_set == ["cat.npz", "dog.npz"]
    assert HParams().parse('{"z_size": 32}').z_size == 32
    assert HParams().parse("") == HParams()


@pytest.mark.parametrize(
    "text, match",
    [
        ("z_size=0.5", "z_size expects an integer"),
        (
            "z_sise=3",
            "unknown hparam 'z_sise' \\(did you mean z_size\\?\\); valid names: data_set",
        ),
        ("conditional=maybe", "conditional expects a boolean"),
        ("dec_model=gru", "unknown cell dec_model='gru'"),
        ("recurrent_dropout_prob=0", "keep probability"),
        ("kl_tolerance=-1", "kl_tolerance must be >= 0"),
        ("decay_rate=1.5", "decay_rate must be in"),
        ("z_size", "expected name=value"),
    ],
)
def test_bad_values_are_one_line_errors(text: str, match: str) -> None:
    with pytest.raises(HParamsError, match=match) as info:
        HParams().parse(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, SketchartError)


def test_magenta_2017_config(tmp_path: Path) -> None:
    """Google's pretrained configs: a dict, booleans as 0/1, the legacy is_training key."""
    legacy = {
        **MAGENTA_DEFAULTS,
        "use_recurrent_dropout": 1,
        "use_input_dropout": 0,
        "use_output_dropout": 0,
        "conditional": 0,
        "is_training": 1,
        "z_size": 32,
    }
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps(legacy))
    hps = HParams.from_json(path)
    assert hps.conditional is False and hps.use_recurrent_dropout is True
    assert hps.z_size == 32


def test_real_checkpoint_config(shared_dir: Path) -> None:
    path = (
        shared_dir
        / "fixtures"
        / "reference"
        / "magenta_checkpoint_small"
        / "model_config.json"
    )
    hps = HParams.from_json(path)
    assert (hps.dec_model, hps.enc_model, hps.dec_rnn_size, hps.num_mixture) == (
        "layer_norm",
        "lstm",
        64,
        5,
    )


def test_names_only_list_is_refused(tmp_path: Path) -> None:
    """magenta's trainer has written the hparam names without values since 2020."""
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps(list(MAGENTA_DEFAULTS)))
    with pytest.raises(HParamsError, match="list of hparam names without values"):
        HParams.from_json(path)


def test_json_round_trip_writes_true_false(tmp_path: Path) -> None:
    hps = HParams(dec_model="hyper", conditional=False, data_set=["a.npz", "b.npz"])
    path = tmp_path / "model_config.json"
    hps.to_json(path)
    text = path.read_text()
    assert '"conditional": false' in text and '"use_recurrent_dropout": true' in text
    assert HParams.from_json(path) == hps


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(HParamsError, match="cannot read"):
        HParams.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(HParamsError, match="not valid JSON"):
        HParams.from_json(bad)


# ------------------------------------------------ absurd values and hostile JSON refused
@pytest.mark.parametrize("text, message", [
    ("learning_rate=nan", "learning_rate must be a finite number"),
    ("grad_clip=inf", "grad_clip must be"),
    ("batch_size=1e308", "batch_size expects an integer"),
    ('{"batch_size": 1e308}', "batch_size must be at most"),
    ("dec_rnn_size=100000000", "dec_rnn_size must be at most"),
    ("enc_rnn_size=99999999", "enc_rnn_size must be at most"),
    ('{"num_mixture": 1e308}', "num_mixture must be at most"),
    ('{"learning_rate": 1' + "0" * 400 + "}", "learning_rate expects a number"),
    ('{"z_size": 1' + "0" * 400 + "}", "z_size must be at most"),
    ("max_seq_len=" + "9" * 5000, "max_seq_len expects an integer"),
    ("{" + '"a": [' * 100_000, "nested too deeply|not valid JSON"),
])
def test_absurd_hparams_are_one_line_errors(text, message):
    from sketchart.errors import SketchartError

    with pytest.raises(SketchartError, match=message) as err:
        HParams().parse(text)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize("data, message", [
    (b'{"dec_rnn_size": 512, "name": "\xff"}', "not UTF-8"),
    (b'{"a": ' * 100_000, "nested too deeply|not valid JSON"),
    (b'{"num_mixture": 1e308}', "num_mixture must be at most"),
    (b'{"batch_size": ' + b"1" * 5000 + b"}", "not valid JSON|must be at most"),
])
def test_hostile_model_config_is_one_line(tmp_path, data, message):
    from sketchart.errors import SketchartError

    path = tmp_path / "model_config.json"
    path.write_bytes(data)
    with pytest.raises(SketchartError, match=message) as err:
        HParams.from_json(path)
    assert "\n" not in str(err.value)
