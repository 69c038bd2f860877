"""Lazy access to the release tools (``tools/`` in a source checkout; not in the wheel)."""

from __future__ import annotations

import importlib
from types import ModuleType

from sketchart.errors import SketchartError

__all__ = ["import_tool"]


def import_tool(name: str, command: str) -> ModuleType:
    """Import ``tools.<name>``, or fail in one line when the tools are not there (a wheel)."""
    module = f"tools.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == "tools" or (exc.name or "").startswith("tools."):
            raise SketchartError(
                f"'sketchart {command}' runs from a source checkout of sketchart only: "
                "the release tools (tools/) are not installed with the package"
            ) from None
        raise
