"""``sketchart gallery``: build the gallery of drawings, list its entries, check its page.

- ``gallery build [--out gallery] [--only NAME ...] [--data-dir DIR] [--model NAME=PATH ...]
  [--google-dir DIR] [--download]``: draw every entry of the table (or those named) from
  the shipped models and Google's, into a temporary folder swapped into place at the end;
- ``gallery list``: the entries, their kind and model;
- ``gallery check [--out gallery]``: open ``index.html`` in headless Chromium and report
  images that did not load and console messages.

Bodies stay thin over :mod:`tools.gallery`; Keras is imported only when a build runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

gallery_app = typer.Typer(
    name="gallery",
    help="Build the gallery of drawings (gallery/) and check its index page.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``gallery`` group to the main CLI."""
    app.add_typer(gallery_app, name="gallery")


@gallery_app.command("build")
def build_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The gallery folder.")] = Path(
        "gallery"
    ),
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", metavar="NAME", help="Rebuild only this entry (repeat for more)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder of the sketch-rnn .npz data sets whose test drawings are "
            "encoded, reconstructed and completed (default "
            "$SKETCHART_DATA_DIR, else ../shared/data/sketchrnn).",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME=PATH",
            help="NAME=PATH: draw the spec's model NAME with another model "
            "(directory, training log root, .gen.json); repeatable.",
        ),
    ] = None,
    google_dir: Annotated[
        Path | None,
        typer.Option(
            "--google-dir",
            help="Folder of Google's <name>.gen.json files to use when a model "
            "is not in the user cache (default $SKETCHART_GOOGLE_DIR, else "
            "../shared/models/sketch-rnn-js).",
        ),
    ] = None,
    download: Annotated[
        bool, typer.Option("--download", help="Download Google's models that are not cached.")
    ] = False,
    skip_missing: Annotated[
        bool,
        typer.Option(
            "--skip-missing",
            help="Leave out entries whose model is missing (they keep their old files).",
        ),
    ] = False,
) -> None:
    """Build the gallery from the shipped models and Google's (fixed seeds)."""
    from sketchart.cli._tools import import_tool

    gallery = import_tool("gallery", "gallery build")
    report = gallery.build_gallery(
        out,
        only=only or None,
        data_dir=data_dir,
        models=gallery.parse_model_overrides(model or []),
        google_dir=google_dir,
        download=download,
        skip_missing=skip_missing,
        echo=typer.echo,
    )
    typer.echo(
        f"built {len(report.built)} entr{'y' if len(report.built) == 1 else 'ies'} "
        f"into {out} in {report.total_seconds:.0f} s"
    )


@gallery_app.command("list")
def list_command() -> None:
    """List the gallery's entries: name, kind, model, temperatures, seed."""
    from sketchart.cli._tools import import_tool

    for e in import_tool("gallery", "gallery list").GALLERY:
        temps = ",".join(f"{t:g}" for t in e.temperatures)
        typer.echo(f"{e.name:30s} {e.kind:15s} {e.model:14s} T={temps} seed={e.seed}")


@gallery_app.command("check")
def check_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The gallery folder.")] = Path(
        "gallery"
    ),
    browser: Annotated[
        str | None, typer.Option(help="Chromium binary (default: chromium on PATH).")
    ] = None,
) -> None:
    """Open index.html in headless Chromium: every image must load, the console stay quiet."""
    from sketchart.cli._tools import import_tool
    from sketchart.errors import SketchartError

    browser_mod = import_tool("gallery.browser", "gallery check")
    binary = browser or browser_mod.find_chromium()
    if binary is None:
        raise SketchartError("no chromium binary found (install Debian's chromium package)")
    result = browser_mod.check_page(out / "index.html", binary)
    typer.echo(
        f"{len(result.images)} image(s), {len(result.broken)} broken, "
        f"{len(result.console)} console message(s)"
    )
    for src in result.broken:
        typer.echo(f"  broken image: {src}")
    for line in result.console:
        typer.echo(f"  console: {line}")
    if not result.ok:
        raise SketchartError(
            f"{out / 'index.html'}: the page has broken images or console messages"
        )
