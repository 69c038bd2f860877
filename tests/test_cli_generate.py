"""``sketchart sample``, ``sketchart export`` and ``sketchart models ...`` end to end, with
Google's models served from a local HTTP server."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import shared_path
from http_fixture import serve_directory
from typer.testing import CliRunner

from sketchart.cli import app, main

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty model cache and Google's models served on 127.0.0.1."""
    home = tmp_path / "cache"
    monkeypatch.setenv("SKETCHART_HOME", str(home))
    with serve_directory(shared_path("models", "sketch-rnn-js")) as url:
        monkeypatch.setenv("SKETCHART_MODEL_URL", url)
        yield home


def _undated(svg: str) -> str:
    return re.sub(r"<dc:date>[^<]*</dc:date>", "", svg)


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "\n" not in err
    return err


def test_sample_by_category_writes_svg(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.svg"
    result = runner.invoke(app, ["sample", "--category", "flamingo", "-n", "4", "-t", "0.4",
                                 "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (env / "google" / "flamingo.gen.json").is_file()  # downloaded on first use
    svg = out.read_text()
    assert svg.count("<polyline") + svg.count("<path") >= 4
    assert "4 sketch(es)" in result.output
    again = tmp_path / "again.svg"
    runner.invoke(app, ["sample", "-c", "flamingo", "-n", "4", "-t", "0.4", "--seed", "1",
                        "-o", str(again)])
    # the seed makes the run reproducible (the SVG's date line aside)
    assert _undated(again.read_text()) == _undated(svg)


def test_sample_by_model_path(tmp_path: Path) -> None:
    out = tmp_path / "owls.svg"
    model = shared_path("models", "sketch-rnn-js", "owl.gen.json")
    result = runner.invoke(app, ["sample", "--model", str(model), "-n", "2", "--greedy",
                                 "--max-len", "30", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_sample_errors_are_one_line(env: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.svg"
    err = _error_line(capsys, ["sample", "--category", "flamingoo", "-o", str(out)])
    assert "did you mean flamingo" in err
    err = _error_line(capsys, ["sample", "-c", "flamingo", "-t", "0", "-o", str(out)])
    assert "temperature must be > 0" in err
    err = _error_line(capsys, ["sample", "-o", str(out)])
    assert "--category" in err and "--model" in err
    assert not out.exists()


def test_export_gen_round_trip(tmp_path: Path) -> None:
    src = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    out = tmp_path / "web" / "flamingo.gen.json"
    result = runner.invoke(app, ["export", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_bytes())[2] == json.loads(src.read_bytes())[2]


def test_export_wrong_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = shared_path("models", "sketch-rnn-js", "owl.gen.json")
    err = _error_line(capsys, ["export", str(src), "-o", str(tmp_path / "owl.vae.json")])
    assert "*.gen.json" in err


def test_models_list_info_path_fetch(env: Path) -> None:
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0
    assert "google/flamingo" in listing.output and "download on first use" in listing.output
    info = runner.invoke(app, ["models", "info", "The Mona Lisa"])
    assert info.exit_code == 0 and "google/the_mona_lisa" in info.output
    assert "not downloaded" in info.output
    path = runner.invoke(app, ["models", "path", "flamingo"])
    assert path.output.strip() == str(env / "google" / "flamingo.gen.json")
    fetched = runner.invoke(app, ["models", "fetch", "flamingo", "google/owl"])
    assert fetched.exit_code == 0, fetched.output
    assert (env / "google" / "owl.gen.json").is_file()
    cached = runner.invoke(app, ["models", "list", "--cached"])
    assert "google/flamingo" in cached.output and "google/cat" not in cached.output
    info = runner.invoke(app, ["models", "info", "owl"])
    assert "max_seq_len" in info.output and "not downloaded" not in info.output


def test_models_fetch_magenta(env: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    src = shared_path("fixtures", "reference", "magenta_checkpoint_small")
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "sketch_rnn.zip", "w") as zf:
        for f in src.iterdir():
            if f.name.startswith("vector-12."):
                zf.write(f, f"owl/layer_norm/vector{f.name[len('vector-12'):]}")
        zf.write(src / "model_config.json", "owl/layer_norm/model_config.json")
        zf.writestr("owl/layer_norm/checkpoint", 'model_checkpoint_path: "vector"\n')
    with serve_directory(served) as url:
        monkeypatch.setenv("SKETCHART_MAGENTA_URL", f"{url}/sketch_rnn.zip")
        result = runner.invoke(app, ["models", "fetch", "magenta"])
    assert result.exit_code == 0, result.output
    assert "magenta/owl/layer_norm" in result.output
    out = tmp_path / "owl.svg"
    sampled = runner.invoke(app, ["sample", "-m", "magenta/owl/layer_norm", "-n", "2",
                                  "--max-len", "20", "--seed", "0", "-o", str(out)])
    assert sampled.exit_code == 0, sampled.output
    assert out.is_file()


def test_models_unknown_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error_line(capsys, ["models", "info", "zebra crossing"])
    assert "unknown model" in err


def test_cell_takes_a_length_or_pixels(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``--cell 4cm`` in ``sketchart sample`` and ``sketchart dataset show``; ``--cell 96``
    is still pixels."""
    import vpype as vp

    model = Path(__file__).resolve().parents[1] / "models" / "sheep-uncond"
    npz = shared_path("data", "sketchrnn", "aaron_sheep.npz")
    for command in (["sample", "-m", str(model), "--max-len", "20", "--seed", "1"],
                    ["dataset", "show", str(npz)]):
        widths = []
        for cell in ("4cm", "96"):
            out = tmp_path / f"{command[0]}-{cell}.svg"
            result = runner.invoke(app, [*command, "-n", "4", "--cell", cell, "-o", str(out)])
            assert result.exit_code == 0, result.output
            widths.append(vp.read_multilayer_svg(str(out), quantization=1.0).page_size[0])
        # the page scales with the cell: 4 cm against 96 px
        assert widths[0] / widths[1] == pytest.approx(vp.convert_length("4cm") / 96, rel=1e-3)
    err = _error_line(capsys, ["dataset", "show", str(npz), "--cell", "4parsecs", "-o",
                               str(tmp_path / "x.svg")])
    assert "not a length: '4parsecs'" in err
