"""``sketchart dataset``: build, inspect and preview sketch-rnn ``.npz`` datasets.

- ``build SOURCES... -o out.npz``: QuickDraw ndjson, SVG and npz sources (files or
  folders) to stratified train/valid/test splits of int16 stroke-3;
- ``info FILE``: counts, lengths, scale factor, classes;
- ``show FILE -n N -o grid.svg``: a grid of examples as SVG (through vpype).

Bodies stay thin over :mod:`sketchart.data.importers` and :mod:`sketchart.data.datasets`;
errors are :class:`~sketchart.errors.SketchartError`, printed on one line by the hub's
``main()``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["dataset_app", "register"]

dataset_app = typer.Typer(
    help="Build, inspect and preview sketch-rnn .npz datasets.", no_args_is_help=True
)

_SOURCE_SUFFIXES = (".ndjson", ".npz", ".svg")


def register(app: typer.Typer) -> None:
    """Add the ``dataset`` command group to the main CLI."""
    app.add_typer(dataset_app, name="dataset")


def _count_files(sources: list[Path]) -> int:
    count = 0
    for source in sources:
        if source.is_dir():
            count += sum(1 for p in source.rglob("*") if p.suffix.lower() in _SOURCE_SUFFIXES)
        else:
            count += 1
    return count


def _read_sources(sources: list[Path], *, rdp_epsilon: float, skip_bad: bool,
                  svg_size: float, keep_first_point: bool = False) -> dict[str, Any]:
    """Every source read into its class, with a progress bar on stderr."""
    from sketchart.data.importers import collect_sources

    with typer.progressbar(
        length=_count_files(sources), label="reading", file=sys.stderr,
        item_show_func=lambda x: x,
    ) as bar:

        def step(name: str) -> None:
            bar.current_item = name
            bar.update(1)

        return collect_sources(
            sources,
            rdp_epsilon=rdp_epsilon or None,
            skip_bad=skip_bad,
            svg_size=svg_size,
            progress=step,
            keep_first_point=keep_first_point,
        )


@dataset_app.command("build")
def build(
    sources: Annotated[
        list[Path], typer.Argument(help="ndjson, npz or svg files, or folders of them.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .npz to write.")],
    rdp_epsilon: Annotated[
        float, typer.Option(help="RDP tolerance in data units (0: no extra simplification).")
    ] = 0.0,
    max_seq_len: Annotated[
        int, typer.Option(help="Drop sketches with more points than this.")
    ] = 250,
    valid_fraction: Annotated[float, typer.Option(help="Share of sketches for valid.")] = 0.05,
    test_fraction: Annotated[float, typer.Option(help="Share of sketches for test.")] = 0.05,
    multiple: Annotated[
        int, typer.Option(help="Split sizes are multiples of this (magenta uses 100).")
    ] = 100,
    svg_size: Annotated[
        float, typer.Option(help="SVG drawings are scaled so their larger side is this.")
    ] = 255.0,
    seed: Annotated[int, typer.Option(help="Seed of the split shuffle.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip and count bad records instead of failing.")
    ] = False,
    shard_size: Annotated[
        int | None, typer.Option(
            "--shard-size", help="Write shards of at most N training sketches "
            "(OUTPUT-00000-of-000NN.npz, memory-mapped when training) instead of one .npz.",
            show_default=False)
    ] = None,
    keep_first_point: Annotated[
        bool, typer.Option(
            "--keep-first-point",
            help="Keep each ndjson/SVG drawing's absolute first point as its first row "
                 "(magenta's Python convention); by default sketches start with their first "
                 "move, as Google's datasets and models do.")
    ] = False,
) -> None:
    """Build a sketch-rnn dataset: one class per ndjson file or per folder of SVGs."""
    if shard_size is not None and len(sources) == 1 and any(sources[0].glob("*.ndjson")):
        _stream_ndjson(sources[0], output, shard_size, max_seq_len, valid_fraction,
                       rdp_epsilon, skip_bad, seed, keep_first_point)
        return
    classes = _read_sources(sources, rdp_epsilon=rdp_epsilon, skip_bad=skip_bad,
                            svg_size=svg_size, keep_first_point=keep_first_point)
    names = sorted(classes)
    splits, too_long, left_out = _split_classes(
        [classes[name].sketches for name in names], max_seq_len,
        valid_fraction=valid_fraction, test_fraction=test_fraction, multiple=multiple,
        seed=seed)
    _write_splits(output, splits, names, shard_size)
    counts = ", ".join(f"{s} {len(splits[s][0])}" for s in ("train", "valid", "test"))
    typer.echo(f"wrote {output}: {counts}; {len(names)} class(es)")
    skipped = sum(classes[n].skipped for n in names)
    typer.echo(
        f"dropped {too_long} longer than {max_seq_len} points, {left_out} left out to keep "
        f"split sizes multiples of {multiple}, {skipped} bad record(s) skipped"
    )
    for problem in [p for n in names for p in classes[n].problems][:5]:
        typer.echo(f"  skipped: {problem}")


def _split_classes(per_class: list[list[Any]], max_seq_len: int, **split: Any,
                   ) -> tuple[dict[str, Any], int, int]:
    """Each class's sketches of at most ``max_seq_len`` points, split stratified by
    :func:`~sketchart.data.datasets.stratified_split` (``split``: its options); returns
    the splits, the count dropped as too long and the count left out of the splits."""
    from sketchart.data.datasets import filter_by_length, stratified_split

    kept_per_class = []
    too_long = 0
    for sketches in per_class:
        kept, _, dropped = filter_by_length(sketches, [0] * len(sketches), max_seq_len)
        too_long += dropped
        kept_per_class.append(kept)
    splits, left_out = stratified_split(kept_per_class, **split)
    return splits, too_long, left_out


def _write_splits(output: Path, splits: dict[str, Any], names: list[str],
                  shard_size: int | None) -> None:
    """Write the splits as one ``.npz`` (labels and class names beside), or as shards."""
    if shard_size is not None:
        from sketchart.data.shards import write_shards

        shards = write_shards(output, splits, names, shard_size)
        typer.echo(f"wrote {len(shards)} shard(s): {shards[0]} ... {shards[-1].name}")
        return
    import numpy as np

    from sketchart.data.npzsafe import write_npz

    write_npz(
        output,
        {split: sketches for split, (sketches, _) in splits.items()},
        {
            **{f"{split}_labels": labels for split, (_, labels) in splits.items()},
            "class_names": np.array(names),
        },
    )


def _stream_ndjson(folder: Path, output: Path, shard_size: int, max_seq_len: int,
                   holdout: float, rdp_epsilon: float, skip_bad: bool, seed: int,
                   keep_first_point: bool = False) -> None:
    """A folder of QuickDraw ndjson files to shards, one shard in memory at a time."""
    from sketchart.data.shards import ndjson_to_shards

    shards, counts = ndjson_to_shards(folder, output, shard_size=shard_size,
                                      max_seq_len=max_seq_len, holdout=holdout,
                                      rdp_epsilon=rdp_epsilon or None, skip_bad=skip_bad,
                                      seed=seed, keep_first_point=keep_first_point)
    typer.echo(f"wrote {len(shards)} shard(s) {shards[0].name} ...: train "
               f"{counts['train']}, valid {counts['valid']}, test {counts['test']}")
    typer.echo(f"dropped {counts['too_long']} longer than {max_seq_len} points, "
               f"{counts['skipped']} bad record(s) skipped")


@dataset_app.command("info")
def info(file: Annotated[Path, typer.Argument(help="A sketch-rnn .npz file.")]) -> None:
    """Counts, lengths, scale factor and classes of a dataset."""
    import numpy as np

    from sketchart.data.datasets import SPLITS, load_npz

    data = load_npz(file)
    typer.echo(f"{file}")
    typer.echo(f"{'split':<6} {'sketches':>9} {'min len':>8} {'mean len':>9} {'max len':>8}")
    for split in SPLITS:
        sketches, _ = data.split(split)
        lengths = np.array([len(s) for s in sketches]) if sketches else np.zeros(1)
        typer.echo(
            f"{split:<6} {len(sketches):>9} {int(lengths.min()):>8} "
            f"{lengths.mean():>9.1f} {int(lengths.max()):>8}"
        )
    if data.train:
        typer.echo(f"scale factor (train): {data.scale_factor():.4f}")
    typer.echo(f"classes: {len(data.class_names)}")
    for label, name in enumerate(data.class_names):
        counts = "/".join(str(int((data.split(s)[1] == label).sum())) for s in SPLITS)
        typer.echo(f"  {label}: {name} ({counts})")


@dataset_app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="A sketch-rnn .npz file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The SVG to write.")],
    count: Annotated[int, typer.Option("--count", "-n", help="Sketches to draw.")] = 16,
    split: Annotated[str, typer.Option(help="train, valid or test.")] = "test",
    seed: Annotated[
        int | None, typer.Option(help="Pick sketches at random with this seed.")
    ] = None,
    cell_size: Annotated[
        str, typer.Option("--cell", help="Cell size: a length (4cm, 1in) or SVG pixels.")
    ] = "96",
) -> None:
    """Draw a grid of N sketches of a dataset to an SVG file."""
    import numpy as np
    import vpype

    from sketchart.data.datasets import load_npz
    from sketchart.errors import SketchartError
    from sketchart.page.options import parse_length
    from sketchart.strokes import fit_to_box, strokes3_to_lines

    cell = parse_length(cell_size, "'--cell'")

    if count < 1:
        raise SketchartError(f"--count must be at least 1, got {count}")
    from sketchart.util.outputs import check_output

    check_output(output, (".svg",))
    sketches, _ = load_npz(file).split(split)
    if not sketches:
        raise SketchartError(f"{file}: split {split!r} is empty")
    if seed is None:
        picked = list(range(min(count, len(sketches))))
    else:
        rng = np.random.default_rng(seed)
        picked = list(rng.choice(len(sketches), min(count, len(sketches)), replace=False))
    cols = math.ceil(math.sqrt(len(picked)))
    rows = math.ceil(len(picked) / cols)
    margin = cell * 0.1
    lc = vpype.LineCollection()
    for k, i in enumerate(picked):
        fitted = fit_to_box(sketches[i], cell - 2 * margin, cell - 2 * margin)
        x0 = (k % cols) * cell + margin
        y0 = (k // cols) * cell + margin
        for line in strokes3_to_lines(fitted, start=(x0, y0)):
            lc.append(line[:, 0] + 1j * line[:, 1])
    doc = vpype.Document(lc, page_size=(cols * cell, rows * cell))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as fh:
        vpype.write_svg(fh, doc, source_string=f"sketchart dataset show {file.name}")
    typer.echo(f"wrote {output}: {len(picked)} sketch(es) from {split}")
