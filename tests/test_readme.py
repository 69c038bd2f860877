"""README's first command draws from a model shipped in ``models/``, with no network."""

from __future__ import annotations

import re
import shlex
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def _first_command() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no bash block"
    parts = [p.strip() for p in block.group(1).strip().split("&&")]
    runs = [p for p in parts if p.startswith("sketchart ")]
    assert runs, "README's first command runs no `sketchart` command"
    return shlex.split(runs[-1])[1:]


def test_readme_first_command_uses_a_shipped_model_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sketchart.hub.store import shipped_models

    args = _first_command()
    assert "--category" in args, args
    name = args[args.index("--category") + 1]
    assert name in shipped_models(), f"README's first command samples {name!r}, not shipped"

    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("README's first command reached for the network")

    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.chdir(tmp_path)
    from sketchart.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = tmp_path / args[args.index("-o") + 1]
    svg = out.read_text()
    assert svg.count("<path") + svg.count("<polyline") >= 16
