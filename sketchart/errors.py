"""The project's error type: a one-line message meant for the user.

Library functions raise :class:`SketchartError` (or a subclass) for bad input: a corrupt
file, a wrong hparam, an unplugged plotter. The CLI and the vpype plugin print its message
on one line, with no traceback.
"""

from __future__ import annotations

__all__ = ["SketchartError"]


class SketchartError(Exception):
    """A user-facing error with a one-line message naming the problem."""
