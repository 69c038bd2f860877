"""``sketchart models``: list, inspect, download and locate pretrained models.

- ``list``: shipped models, converted magenta models, Google's catalog (cached or not);
- ``info NAME``: where a model comes from and its shape;
- ``fetch NAME... | magenta``: download Google catalog models into the cache, or magenta's
  pretrained checkpoints (converted to model directories);
- ``path NAME``: the file or directory a name resolves to (where it would be cached);
- ``ship LOG_ROOT NAME``: a finished training run's best model into ``models/NAME``
  (:mod:`tools.ship`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["models_app", "register"]

models_app = typer.Typer(
    help="List, inspect, download and locate pretrained models.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to the main CLI."""
    app.add_typer(models_app, name="models")


@models_app.command("list")
def list_command(
    cached: Annotated[
        bool, typer.Option("--cached", help="Only models on disk (shipped or cached).")
    ] = False,
) -> None:
    """List the models that names resolve to."""
    from sketchart.hub.store import list_models

    for row in list_models():
        if cached and not row.available:
            continue
        status = "on disk" if row.available else "download on first use"
        size = f"{row.size / 1e6:.1f} MB" if row.size else ""
        typer.echo(f"{row.name:<36} {row.source:<8} {status:<22} {size}")


@models_app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(help="Model name or path.")],
) -> None:
    """Describe a model without downloading it."""
    from sketchart.hub.catalog import catalog_entry
    from sketchart.hub.store import resolve

    source = resolve(name)
    typer.echo(f"name:         {source.name}")
    typer.echo(f"kind:         {source.kind}")
    typer.echo(f"path:         {source.path if source.path else '(not downloaded)'}")
    if source.name.startswith("google/"):
        entry = catalog_entry(source.name.removeprefix("google/"))
        typer.echo(f"max_seq_len:  {entry.max_seq_len}")
        typer.echo(f"scale_factor: {entry.scale_factor}")
        typer.echo(f"bytes:        {entry.bytes}")
        typer.echo(f"sha256:       {entry.sha256}")
        typer.echo("model:        decoder-only LSTM 512, 20 mixtures (sketch-rnn-js)")
        return
    _describe_local(source)


def _describe_local(source: object) -> None:
    from sketchart.hparams import HParams
    from sketchart.jsformat import read_js_model

    path = source.path  # type: ignore[attr-defined]
    kind = source.kind  # type: ignore[attr-defined]
    if kind == "js":
        js = read_js_model(path)
        hps = HParams.from_dict(js.hparams_dict(), source=str(path))
        scale: float | None = js.scale_factor
    else:
        hps = HParams.from_json(path / "model_config.json")
        scale = _meta_scale(path)
    typer.echo(f"conditional:  {hps.conditional}")
    typer.echo(f"decoder:      {hps.dec_model} {hps.dec_rnn_size}, "
               f"{hps.num_mixture} mixtures")
    if hps.conditional:
        typer.echo(f"encoder:      {hps.enc_model} {hps.enc_rnn_size}, z {hps.z_size}")
    typer.echo(f"max_seq_len:  {hps.max_seq_len}")
    typer.echo(f"scale_factor: {scale if scale is not None else 'unknown'}")
    typer.echo(f"data_set:     {', '.join(hps.data_set)}")


def _meta_scale(path: object) -> float | None:
    import json
    from pathlib import Path

    meta = Path(str(path)) / "sketchart.json"
    if not meta.is_file():
        return None
    try:
        value = json.loads(meta.read_text(encoding="utf-8")).get("scale_factor")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int | float) else None


@models_app.command("fetch")
def fetch_command(
    names: Annotated[
        list[str], typer.Argument(help="Catalog names (flamingo, google/cat), or 'magenta'.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Download again.")] = False,
) -> None:
    """Download models into the cache; the name magenta fetches magenta's checkpoints."""
    from sketchart.hub.store import fetch_google, fetch_magenta

    for name in names:
        if name == "magenta":
            fetched = fetch_magenta(progress=True, force=force)
            for model in fetched:
                typer.echo(f"ready: {model}")
        else:
            path = fetch_google(name, force=force, progress=True)
            typer.echo(f"ready: {path}")


@models_app.command("path")
def path_command(
    name: Annotated[str, typer.Argument(help="Model name or path.")],
) -> None:
    """Print where a model is (or where it will be cached)."""
    from sketchart.hub.store import google_cache_path, resolve

    source = resolve(name)
    if source.path is not None:
        typer.echo(str(source.path))
    else:
        typer.echo(str(google_cache_path(source.name.removeprefix("google/"))))


@models_app.command("ship")
def ship_command(
    log_root: Annotated[Path, typer.Argument(help="A finished `sketchart train` log root.")],
    name: Annotated[str, typer.Argument(help="Model name: its folder and --category name.")],
    models_root: Annotated[Path, typer.Option(
        "--models-root", help="Folder of shipped models.")] = Path("models"),
    command: Annotated[str | None, typer.Option(
        "--command", help="The exact training command (default: recorded by the run, else "
                          "reconstructed from its hparams).")] = None,
    licence: Annotated[str | None, typer.Option(
        "--licence", help="The training data's licence (needed for data sketchart does not "
                          "know).")] = None,
    hardware: Annotated[str | None, typer.Option(
        "--hardware", help="What the run trained on (default: this machine).")] = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", help="Where the run's datasets are (default: where it recorded "
                           "them).")] = None,
    float32: Annotated[bool, typer.Option(
        "--float32", help="Store float32 weights (default float16, upcast on load).")]
    = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing model of that name.")] = False,
) -> None:
    """Ship a training run's best model into models/NAME with README, curves and samples."""
    from sketchart.cli._tools import import_tool

    ship = import_tool("ship", "models ship").ship
    result = ship(log_root, name, models_root, command=command, licence=licence,
                  hardware=hardware, data_dir=data_dir, float16=not float32, force=force)
    typer.echo(result.summary())
    for note in result.warnings:
        typer.echo(f"Warning: {note}", err=True)
