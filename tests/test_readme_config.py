"""README's "Configuration" section: every environment variable the package reads is in
its table, the offline mirror it describes works, and the tensorboard extra exists."""

from __future__ import annotations

import re
import shutil
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: variables kept for benchmarks and the distributed launcher, documented elsewhere
ELSEWHERE = {"SKETCHART_XLA_STEP", "SKETCHART_SCAN", "SKETCHART_TF_XLA", "SKETCHART_SHARED"}


def _section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no {title!r} section"
    return match.group(1)


def test_the_table_names_every_user_setting() -> None:
    table = _section("Configuration")
    rows = set(re.findall(r"^\| `(SKETCHART_[A-Z_]+)` \|", table, re.M))
    assert rows == {"SKETCHART_HOME", "SKETCHART_MODEL_URL", "SKETCHART_MODELS_DIR",
                    "SKETCHART_MAGENTA_URL", "SKETCHART_DATA_URL"}
    read = set()
    for module in ("sketchart/hub/cache.py", "sketchart/data/quickdraw.py"):
        read |= set(re.findall(r"environ\.get\(\"(SKETCHART_[A-Z_]+)\"",
                               (ROOT / module).read_text(encoding="utf-8")))
    assert read - ELSEWHERE <= rows


def test_tensorboard_is_an_extra_and_readme_says_how_to_look_at_a_run() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(req.startswith("tensorboard") for req in extras["tensorboard"])
    table = _section("Configuration")
    assert 'pip install "sketchart[tensorboard]"' in table
    assert "tensorboard --logdir runs/" in table


def test_a_local_mirror_serves_models_and_data_offline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sheep_npz: Path) -> None:
    """``file://`` URLs, as the section shows; the network is never reached."""
    from conftest import shared_path

    from sketchart.data.quickdraw import resolve_data_set
    from sketchart.hub.store import fetch_google

    google = shared_path("models", "sketch-rnn-js", "flamingo.gen.json").parent
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(sheep_npz, mirror / "sheep.npz")
    real = urllib.request.urlopen

    def offline(url: Any, *args: Any, **kwargs: Any) -> Any:
        text = url if isinstance(url, str) else url.full_url
        assert text.startswith("file:"), f"reached for the network: {text}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("SKETCHART_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SKETCHART_MODEL_URL", google.as_uri())
    monkeypatch.setenv("SKETCHART_DATA_URL", mirror.as_uri())
    assert fetch_google("google/flamingo", progress=False).is_file()
    got = resolve_data_set("sheep", tmp_path / "data", download=True, progress=False)
    assert got == tmp_path / "data" / "sheep.npz" and got.is_file()
