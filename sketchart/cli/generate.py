"""``sketchart sample`` and ``sketchart export``: draw with a model, or export it for browsers.

- ``sample --category flamingo -n 16 -t 0.4 -o grid.svg``: a grid of sampled sketches as SVG
  (``--model`` takes any name or path :func:`sketchart.hub.store.load_model` accepts);
- ``export MODEL -o name.gen.json|name.vae.json``: an LSTM model in the sketch-rnn-js format
  for p5.js / magenta-js / ml5 sketches.

Bodies stay thin over :mod:`sketchart.hub.store` and :mod:`sketchart.generate.sampling`;
``sample`` draws with the NumPy engine (``--engine numpy``, no Keras imported) unless
``--engine tensorflow|jax`` asks for the compiled sampler; ``export`` imports Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "write_svg_file"]


def register(app: typer.Typer) -> None:
    """Add ``sample`` and ``export`` to the main CLI."""
    app.command("sample")(sample_command)
    app.command("export")(export_command)


def write_svg_file(doc: object, output: Path, source: str) -> None:
    """Write a vpype document as SVG, atomically (a failed run leaves no half file)."""
    import vpype

    from sketchart.util.atomic import atomic_file

    with atomic_file(output, "w", encoding="utf-8") as fh:
        vpype.write_svg(fh, doc, source_string=source)


#: ``--engine`` (as ``sketchart.cli.pages``' and the vpype commands')
Engine = Annotated[
    str, typer.Option("--engine", help="What draws: numpy (default; no TensorFlow loaded), "
                      "tensorflow or jax (the compiled sampler: thousands of sketches, a "
                      "GPU). A seed draws the same on each.")
]


def sample_command(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The file to write: .svg (a vpype grid) or .png.")],
    category: Annotated[
        str | None,
        typer.Option("--category", "-c",
                     help="Category name: a shipped model, else Google's (e.g. flamingo)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m",
                     help="Model name (google/cat, magenta/owl/lstm) or path (model "
                          "directory, log root, .gen.json/.vae.json, magenta checkpoint)."),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="Sketches to draw.")] = 16,
    temperature: Annotated[
        float, typer.Option("--temperature", "-t", help="Sampling temperature (> 0).")
    ] = 0.65,
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible run.")] = None,
    greedy: Annotated[
        bool, typer.Option("--greedy", help="Most likely component and pen state, no noise.")
    ] = False,
    max_len: Annotated[
        int | None, typer.Option("--max-len", help="Most points per sketch.")
    ] = None,
    temperature_mode: Annotated[
        str, typer.Option(help="Temperature convention: js (default), paper or reference.")
    ] = "js",
    cell: Annotated[
        str, typer.Option(help="Grid cell size: a length (4cm, 40mm, 1in) or SVG pixels.")
    ] = "96",
    columns: Annotated[
        int | None, typer.Option(help="Grid columns (default ~square).")
    ] = None,
    keep_empty: Annotated[
        bool, typer.Option("--keep-empty",
                           help="Keep sketches that end before drawing a line (by default "
                                "they are drawn again with a fresh z).")
    ] = False,
    engine: Engine = "numpy",
) -> None:
    """Sample sketches from a model and write them as an SVG (or PNG) grid."""
    from sketchart.cli.samplecheck import check_sample_request
    from sketchart.errors import SketchartError
    from sketchart.generate.sampling import REDRAW_ROUNDS, sample
    from sketchart.page.layout import layout_document
    from sketchart.page.models import load_sketch_model
    from sketchart.page.options import draw_seed, parse_length

    if (category is None) == (model is None):
        raise SketchartError("give exactly one of --category and --model")
    check_sample_request(output, count=count, temperature=temperature,
                         temperature_mode=temperature_mode, max_len=max_len,
                         columns=columns)
    side = parse_length(cell, "'--cell'")
    seed = draw_seed(seed, "sketchart sample")
    name = category if category is not None else model
    assert name is not None
    loaded = load_sketch_model(name, engine, progress=True)
    drawings = sample(loaded, count, temperature, greedy=greedy, seed=seed, max_len=max_len,
                      temperature_mode=temperature_mode,
                      redraw_empty=0 if keep_empty else REDRAW_ROUNDS)
    doc = layout_document(drawings, size=side, gap=side * 0.1, columns=columns,
                          name=Path(str(name)).name)
    source = (f"sketchart sample {'--category' if category else '--model'} {name} "
              f"-n {count} -t {temperature} --seed {seed}"
              + (" --greedy" if greedy else "") + (" --keep-empty" if keep_empty else ""))
    if output.suffix.lower() == ".png":
        from sketchart.cli.rasters import write_png_grid

        write_png_grid(drawings, output, side, columns)
    else:
        write_svg_file(doc, output, source)
    lengths = [len(d) for d in drawings]
    typer.echo(f"wrote {output}: {count} sketch(es), {min(lengths)}-{max(lengths)} points, "
               f"seed {seed}")


def export_command(
    model: Annotated[str, typer.Argument(help="Model name or path.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="name.gen.json (decoder-only) or "
                                                  "name.vae.json (conditional).")
    ],
    name: Annotated[
        str | None, typer.Option(help="Name stored in the file's info (default: the class).")
    ] = None,
) -> None:
    """Export an LSTM model to the sketch-rnn-js format (p5.js, magenta-js, ml5)."""
    from sketchart.hub.store import export_js, load_model
    from sketchart.util.outputs import check_output

    check_output(output, (".gen.json", ".vae.json"))
    loaded = load_model(model, engine="keras", progress=True)
    path, clipped = export_js(loaded, output, name=name)
    typer.echo(f"wrote {path}")
    if clipped:
        typer.echo(f"warning: {clipped} weight(s) beyond +-10 were clipped by the format's "
                   "int16 quantisation", err=True)
