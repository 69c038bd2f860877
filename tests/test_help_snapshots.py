"""The help of the plugin's vpype commands, compared with plain-text snapshots.

A change to an option (its name, default or help) changes a snapshot, so it is made on
purpose: run ``SKETCHART_UPDATE_SNAPSHOTS=1 pytest tests/test_help_snapshots.py`` and
commit the files under ``tests/snapshots/`` with the change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import vpype_cli
from click.testing import CliRunner

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("SKETCHART_UPDATE_SNAPSHOTS") == "1"
COMMANDS = (
    "sketchrnn-sample",
    "sketchrnn-interpolate",
    "sketchrnn-reconstruct",
    "sketchrnn-complete",
    "sketchart-plot",
)


def _help(name: str) -> str:
    from vpype_sketchart import commands, plot_command

    command = getattr(commands, name.replace("-", "_"), None) or plot_command.sketchart_plot
    if name not in vpype_cli.cli.commands:
        vpype_cli.cli.add_command(command, name)
    # a fixed width: click wraps help to the terminal's
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        vpype_cli.cli, [name, "--help"], prog_name="vpype"
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_help_matches_its_snapshot(name: str) -> None:
    path = SNAPSHOTS / f"vpype-{name}.txt"
    text = _help(name)
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} was missing: written, check it and commit it")
    assert text == path.read_text(encoding="utf-8"), (
        f"the help of {name} changed; if on purpose, rerun with SKETCHART_UPDATE_SNAPSHOTS=1"
    )
