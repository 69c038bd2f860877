"""The plugin's commands through a table of edge-case inputs, as vpype tests its own.

Every command runs on an empty document, one line, a degenerate (zero-length) line, random
lines and two layers; it must exit with the code the table says, with at most one
``Error:`` line and never a traceback, return a document, keep the page size, leave the
layers it did not create as they were, and point vpype's target layer at what it wrote.
The shipped sheep models (``models/``) keep it fast and offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import vpype as vp
import vpype_cli
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DECODER = ROOT / "models" / "sheep-uncond"
VAE = ROOT / "models" / "sheep"
FAST = "--max-len 20 --seed 1"


@dataclass(frozen=True)
class Command:
    """A command line and what it must do; exit codes per input, as vpype's table has."""

    command: str
    exit_code_no_layer: int = 0
    exit_code_one_layer: int = 0
    exit_code_degenerate: int = 0

    def __str__(self) -> str:
        return self.command.split(" -m ")[0].split(" --")[0]


MINIMAL_COMMANDS = [
    Command(f"sketchrnn-sample -m {DECODER} {FAST}"),
    Command(f"sketchrnn-sample -m {DECODER} -n 3 --layers per-sketch --size 1cm {FAST}"),
    Command(f"sketchrnn-sample -m {DECODER} -n 2 --layers per-stroke -l new {FAST}"),
    Command(f"sketchrnn-sample -m {DECODER} --layout cell --size 1cm {FAST}"),
    Command(f"sketchrnn-interpolate -m {VAE} --steps 2 {FAST}"),
    Command(f"sketchrnn-interpolate -m {VAE} --grid 2x2 --layers per-cell {FAST}"),
    Command(f"sketchrnn-reconstruct -m {VAE} {FAST}", 1, 0, 1),
    Command(f"sketchrnn-reconstruct -m {VAE} -n 2 --whole-layer {FAST}", 1, 0, 1),
    Command(f"sketchrnn-complete -m {DECODER} {FAST}", 1, 0, 1),
    Command("sketchart-plot --device grbl --dry-run", 1),
    Command("sketchart-plot --device grbl --profile grbl-z-pause --dry-run -d feed 1000", 1),
    Command("sketchart-plot --device axidraw --dry-run", 1),
]
IDS = [f"{k}-{c}" for k, c in enumerate(MINIMAL_COMMANDS)]
INPUTS = {
    "empty": ("", "exit_code_no_layer"),
    "single": ("line 0 0 10 10 ", "exit_code_one_layer"),
    "degenerate": ("line 0 0 0 0 ", "exit_code_degenerate"),
    "random": ("random -n 100 ", "exit_code_one_layer"),
}

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    """The commands, whether or not the entry points are installed."""
    from vpype_sketchart import commands, plot_command

    for command in (
        commands.sketchrnn_sample,
        commands.sketchrnn_interpolate,
        commands.sketchrnn_reconstruct,
        commands.sketchrnn_complete,
        plot_command.sketchart_plot,
    ):
        if command.name not in vpype_cli.cli.commands:
            vpype_cli.cli.add_command(command, command.name)


def _invoke(args: str) -> tuple[int, str]:
    result = runner.invoke(vpype_cli.cli, args)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert sum(line.startswith("Error") for line in result.output.splitlines()) <= 1
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("cmd", MINIMAL_COMMANDS, ids=IDS)
def test_edge_case_inputs(cmd: Command, kind: str) -> None:
    prefix, expected = INPUTS[kind]
    code, output = _invoke(prefix + cmd.command)
    assert code == getattr(cmd, expected), output


@pytest.mark.parametrize("cmd", MINIMAL_COMMANDS, ids=IDS)
def test_returns_a_document(cmd: Command) -> None:
    seen: list[object] = []

    @click.command("sketchart-assertdoc")
    @vpype_cli.global_processor
    def assertdoc(document: vp.Document) -> vp.Document:
        seen.append(document)
        return document

    vpype_cli.cli.add_command(assertdoc)
    code, output = _invoke(f"line 0 0 10 10 {cmd.command} sketchart-assertdoc")
    assert code == 0, output
    assert len(seen) == 1 and type(seen[0]) is vp.Document


@pytest.mark.parametrize("cmd", MINIMAL_COMMANDS, ids=IDS)
def test_keeps_the_page_size(cmd: Command) -> None:
    doc = vpype_cli.execute(f"random random -l2 pagesize --landscape 5432x4321 {cmd.command}")
    assert doc.page_size == (5432, 4321)


@pytest.mark.parametrize("cmd", MINIMAL_COMMANDS, ids=IDS)
def test_leaves_the_users_layers_alone(cmd: Command) -> None:
    """Two named layers go in; their properties come out as they were (a one-layer
    output joins the target layer, 2, as a vpype generator's does; layer 1 keeps its line)."""
    doc = vpype_cli.execute(
        "line -l1 0 0 10 10 name -l1 hello color -l1 red line -l2 20 20 30 30 "
        f"penwidth -l2 0.15 {cmd.command}"
    )
    assert doc.layers[1].metadata == {
        vp.METADATA_FIELD_NAME: "hello",
        vp.METADATA_FIELD_COLOR: vp.Color("red"),
    }
    assert doc.layers[2].metadata == {vp.METADATA_FIELD_PEN_WIDTH: 0.15}
    assert len(doc.layers[1]) == 1


@pytest.mark.parametrize(
    "cmd,first",
    [
        (f"sketchrnn-sample -m {DECODER} -l new {FAST}", 3),
        (f"sketchrnn-sample -m {DECODER} -n 2 --layers per-sketch {FAST}", 3),
        (f"sketchrnn-interpolate -m {VAE} --steps 2 {FAST}", 3),
        (f"sketchrnn-reconstruct -m {VAE} -l 1 {FAST}", 3),
        (f"sketchrnn-complete -m {DECODER} -l 2 {FAST}", 3),
    ],
)
def test_the_target_layer_follows(cmd: str, first: int) -> None:
    """A generator without ``-l`` after the command draws on the command's first layer."""
    doc = vpype_cli.execute(f"line -l1 0 0 10 10 line -l2 20 20 30 30 {cmd} rect 0 0 1 1")
    assert len(doc.layers[first]) >= 2  # the sketch and the rect
    assert len(doc.layers[1]) == 1 or "-l 1" in cmd


def test_svg_inputs_are_recorded_in_vp_sources(tmp_path: Path) -> None:
    svg = tmp_path / "partial.svg"
    vpype_cli.execute(f"line 0 0 10 10 line 10 10 20 0 write {svg}")
    doc = vpype_cli.execute(
        f"read {svg} sketchrnn-complete -m {DECODER} --svg {svg} {FAST} "
        f"sketchrnn-interpolate -m {VAE} -e {svg} -e seed:2 --steps 2 {FAST}"
    )
    assert svg.absolute() in doc.sources
    assert doc.property(vp.METADATA_FIELD_SOURCE) == svg.absolute()


def test_a_drawn_seed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        doc = vpype_cli.execute(
            f"sketchrnn-sample -m {DECODER} --max-len 20", global_opt="-v -s 3"
        )
    seed = doc.property("sketchart_seed")
    assert f"sketchrnn-sample: no --seed given, drawn seed {seed}" in caplog.text


def test_every_option_has_a_vpype_type() -> None:
    """vpype's types substitute ``%expr%`` and ``{prop}`` and read units."""
    from vpype_sketchart import commands, plot_command

    for command in (
        commands.sketchrnn_sample,
        commands.sketchrnn_interpolate,
        commands.sketchrnn_reconstruct,
        commands.sketchrnn_complete,
        plot_command.sketchart_plot,
        plot_command.plot,
    ):
        for param in command.params:
            if isinstance(param, click.Option) and (param.is_flag or param.name == "help"):
                continue
            module = type(param.type).__module__
            assert module == "vpype_cli.types", (command.name, param.name, param.type)


def test_substitution_and_units_reach_the_commands() -> None:
    doc = vpype_cli.execute(
        f"propset -g -t int myseed 11 sketchrnn-sample -m {DECODER} --max-len 20 "
        "--seed {myseed} --size %2*2%cm --layout cell"
    )
    assert doc.property("sketchart_seed") == 11
    width = doc.bounds()[2] - doc.bounds()[0]
    height = doc.bounds()[3] - doc.bounds()[1]
    assert max(width, height) == pytest.approx(vp.convert_length("4cm"), rel=1e-3)
