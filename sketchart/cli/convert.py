"""``sketchart convert``: a magenta sketch_rnn checkpoint to a sketchart model directory.

The body is thin over :func:`sketchart.hub.convert.convert_checkpoint`; errors are
:class:`~sketchart.errors.SketchartError`, printed on one line by the hub's ``main()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["convert", "register"]


def register(app: typer.Typer) -> None:
    """Add the ``convert`` command to the main CLI."""
    app.command("convert")(convert)


def convert(
    checkpoint_dir: Annotated[
        Path,
        typer.Argument(
            help="magenta checkpoint directory (checkpoint, vector-N.*, model_config.json) "
            "or a checkpoint prefix such as runs/vector-12."
        ),
    ],
    out_dir: Annotated[Path, typer.Argument(help="The sketchart model directory to write.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="model_config.json to use (default: beside the checkpoint)."
        ),
    ] = None,
    scale_factor: Annotated[
        float | None,
        typer.Option(
            "--scale-factor",
            help="The training data's normalising scale factor (magenta does "
            "not save it; sampling needs it to return data units).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace OUT_DIR if it already holds files.")
    ] = False,
) -> None:
    """Convert a magenta sketch_rnn TF1 checkpoint into a sketchart model directory."""
    from sketchart.hub.convert import ConvertError, convert_checkpoint

    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ConvertError(f"{out_dir}: exists and is not empty (use --force to replace it)")
    path = convert_checkpoint(
        checkpoint_dir, out_dir, config=config, scale_factor=scale_factor
    )
    typer.echo(f"wrote {path}")
