"""``sketchart sample``'s cheap checks, all made before a model is loaded: a bad option
or an unwritable output is refused in a moment, not after a download and a sampling."""

from __future__ import annotations

import sys
from pathlib import Path

from sketchart.errors import SketchartError

__all__ = ["HIGH_TEMPERATURE", "OUTPUT_TYPES", "check_sample_request"]

#: what ``sample -o`` writes, by ending
OUTPUT_TYPES = (".svg", ".png")
#: above this, every convention flattens the model's mixture beyond its own distribution
HIGH_TEMPERATURE = 1.0


def _positive(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        raise SketchartError(f"{option} must be at least 1, got {value}")


def check_sample_request(output: Path, *, count: int, temperature: float,
                         temperature_mode: str, max_len: int | None,
                         columns: int | None) -> None:
    """Refuse bad options and an unwritable ``output``; warn about a high temperature.

    Raises:
        SketchartError: the first problem found, on one line.
    """
    from sketchart.generate.common import temperature_factors
    from sketchart.util.outputs import check_output

    check_output(output, OUTPUT_TYPES)
    _positive(count, "--count")
    _positive(max_len, "--max-len")
    _positive(columns, "--columns")
    try:
        temperature_factors(temperature, temperature_mode)
    except SketchartError as exc:
        raise SketchartError(f"--temperature / --temperature-mode: {exc}") from None
    if temperature > HIGH_TEMPERATURE:
        print(f"Warning: temperature {temperature:g} is above {HIGH_TEMPERATURE:g}: the "
              "model's own spread is widened further and sketches turn into scribbles; "
              "0.1-1.0 is the useful range", file=sys.stderr, flush=True)
