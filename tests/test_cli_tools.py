"""``sketchart models ship`` and ``sketchart gallery`` need ``tools/`` (a source checkout):
from an installed wheel they fail in one line."""

from __future__ import annotations

import sys

import pytest

from sketchart.cli import main


@pytest.mark.parametrize(
    "argv",
    [["gallery", "list"], ["gallery", "check"], ["models", "ship", "runs/x", "x"]],
)
def test_missing_tools_is_a_one_line_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "tools" or m.startswith("tools.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tools", None)  # what a wheel without tools/ sees
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("Error: 'sketchart ") and "source checkout" in err


def test_tools_are_not_in_the_package() -> None:
    from importlib.util import find_spec

    assert find_spec("sketchart.gallery") is None and find_spec("sketchart.ship") is None
