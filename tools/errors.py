"""The release tools' error."""

from __future__ import annotations

from sketchart.errors import SketchartError

__all__ = ["ShipError"]


class ShipError(SketchartError):
    """A log root that cannot be shipped (no best model, unknown licence, target exists)."""
