"""Import drawings to stroke-3: QuickDraw ndjson (raw or simplified), SVG, sketch-rnn npz.

- :func:`read_ndjson` reads one QuickDraw ``.ndjson`` file. Raw drawings (strokes with
  timestamps) go through Google's simplification first (:func:`~sketchart.data.simplify.
  quickdraw_simplify`) so they land on the same 0-255 grid as the simplified files.
- :func:`read_svg` reads the geometry of one SVG that renders (:mod:`~sketchart.data.
  svgimport`), aligned to the top-left and scaled so the larger side is ``size``.
- :func:`collect_sources` turns files and folders into named classes of sketches, the
  first step of ``sketchart dataset build``.

Coordinates are rounded to integers *in absolute space* before taking offsets, so
rounding errors do not accumulate along a sketch. Sketches start with their first move, as
Google's (``keep_first_point`` keeps magenta's absolute first row). An optional RDP pass
(``rdp_epsilon``, data units, shapely) follows. Bad records raise a one-line
:class:`~sketchart.errors.SketchartError` naming the file and line or index, or with
``skip_bad`` are counted in :attr:`ImportResult.skipped` and described in ``problems``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.data.simplify import quickdraw_simplify, rdp_lines
from sketchart.errors import SketchartError
from sketchart.strokes import lines_to_strokes3, strokes3_to_lines

__all__ = [
    "MAX_COORD",
    "MAX_POINTS",
    "ImportResult",
    "collect_sources",
    "drawing_to_lines",
    "lines_to_int_strokes3",
    "parse_ndjson_line",
    "read_ndjson",
    "read_svg",
    "read_svg_folder",
]


#: largest absolute coordinate (or timestamp) read from a drawing
MAX_COORD = 1e9
#: most points in one drawing read
MAX_POINTS = 100_000
#: largest offset of an imported sketch: the datasets store int16
MAX_OFFSET = 32767


@dataclass
class ImportResult:
    """Sketches read from one source.

    Attributes:
        sketches: ``float32 [n, 3]`` stroke-3 sketches (integer-valued).
        ids: one identifier per sketch (``key_id``, file name or ``file:index``).
        skipped: bad records skipped (only with ``skip_bad``).
        problems: the one-line message of each skipped record.
    """

    sketches: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def extend(self, other: ImportResult) -> None:
        """Append another result's sketches and problems."""
        self.sketches.extend(other.sketches)
        self.ids.extend(other.ids)
        self.skipped += other.skipped
        self.problems.extend(other.problems)


def lines_to_int_strokes3(
    lines: Sequence[np.ndarray], rdp_epsilon: float | None = None, *,
    keep_first_point: bool = False,
) -> np.ndarray:
    """Polylines to integer-valued stroke-3: RDP (optional), round absolute points, diff.

    By default the result follows Google's convention (``sketch_rnn.js``'s
    ``lines_to_strokes``, and Google's published datasets): lines of a single point are
    dropped and the first row, the first point's absolute position, is left out, so the
    sketch starts with its first move. Google's models were trained on that form and predict
    an ordinary move at step 0. ``keep_first_point`` keeps magenta's Python convention
    instead: every line, and the absolute first point as the first (pen-down) row.

    Raises:
        SketchartError: nothing left to draw.
    """
    if rdp_epsilon:
        lines = rdp_lines(lines, rdp_epsilon)
    rounded = [np.rint(np.asarray(line, dtype=np.float64)).reshape(-1, 2) for line in lines]
    if not keep_first_point:
        rounded = [line for line in rounded if len(line) > 1]
    strokes3 = lines_to_strokes3(rounded)
    if not keep_first_point:
        strokes3 = strokes3[1:]
    if len(strokes3) == 0:
        raise SketchartError("empty drawing")
    if np.abs(strokes3[:, 0:2]).max() > MAX_OFFSET:
        raise SketchartError(f"offsets beyond ±{MAX_OFFSET} (coordinates out of range)")
    return strokes3


def drawing_to_lines(drawing: Any, *, simplify_raw: bool = True) -> list[np.ndarray]:
    """A QuickDraw ``drawing`` value as polylines.

    Simplified drawings are ``[[x...], [y...]]`` per stroke; raw ones add ``[t...]`` and
    are simplified Google's way unless ``simplify_raw`` is false.

    Raises:
        SketchartError: the value is not a list of strokes of equal-length number lists.
    """
    if not isinstance(drawing, list) or not drawing:
        raise SketchartError("'drawing' must be a non-empty list of strokes")
    raw = False
    points = 0
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise SketchartError(f"stroke {i}: expected [[x...], [y...]] or [[x], [y], [t]]")
        if not all(isinstance(c, list) for c in stroke):
            raise SketchartError(f"stroke {i}: coordinates must be lists")
        if len(stroke[0]) != len(stroke[1]) or not stroke[0]:
            raise SketchartError(f"stroke {i}: x and y must be non-empty and equally long")
        for c in stroke:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c):
                raise SketchartError(f"stroke {i}: coordinates must be numbers")
            if not all(-MAX_COORD <= v <= MAX_COORD for v in c):
                raise SketchartError(
                    f"stroke {i}: a value beyond ±{MAX_COORD:g} or not finite")
        if len(stroke) == 3 and len(stroke[2]) != len(stroke[0]):
            raise SketchartError(f"stroke {i}: x, y and t must be equally long")
        raw = raw or len(stroke) == 3
        points += len(stroke[0])
    if points > MAX_POINTS:
        raise SketchartError(f"more than {MAX_POINTS} points in one drawing")
    if raw and simplify_raw:
        return [line.astype(np.float64) for line in quickdraw_simplify(drawing)]
    lines = [np.column_stack([s[0], s[1]]).astype(np.float64) for s in drawing]
    if not all(np.isfinite(line).all() for line in lines):
        raise SketchartError("non-finite coordinates")
    return lines


def parse_ndjson_line(data: bytes) -> Any:
    """One ndjson line as JSON, every failure a one-line :class:`SketchartError`."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SketchartError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SketchartError(f"malformed JSON ({exc.msg})") from None
    except RecursionError:
        raise SketchartError("JSON nested too deeply") from None
    except ValueError as exc:  # integers too long to convert
        raise SketchartError(f"malformed JSON ({exc})") from None


def read_ndjson(
    path: str | os.PathLike[str],
    *,
    rdp_epsilon: float | None = None,
    skip_bad: bool = False,
    simplify_raw: bool = True,
    limit: int | None = None,
    recognized_only: bool = False,
    keep_first_point: bool = False,
) -> ImportResult:
    """Read a QuickDraw ``.ndjson`` file (raw or simplified) as stroke-3 sketches.

    Args:
        path: one drawing per line, each a JSON object with a ``drawing`` key.
        rdp_epsilon: extra RDP simplification in the drawing's units (after Google's for
            raw drawings); ``None`` or 0 for none.
        skip_bad: count and skip malformed lines (not UTF-8, not JSON, bad values)
            instead of raising.
        simplify_raw: apply Google's simplification to raw drawings.
        limit: stop after this many sketches.
        recognized_only: keep only drawings the game recognised.
        keep_first_point: magenta's Python convention (see :func:`lines_to_int_strokes3`).

    Raises:
        SketchartError: the file cannot be read, or (without ``skip_bad``) a malformed
            line, named by file and line number.
    """
    path = Path(path)
    result = ImportResult()
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SketchartError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            if limit is not None and len(result.sketches) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = parse_ndjson_line(line)
                if not isinstance(record, dict) or "drawing" not in record:
                    raise SketchartError("no 'drawing' key")
                if recognized_only and not record.get("recognized", True):
                    continue
                lines = drawing_to_lines(record["drawing"], simplify_raw=simplify_raw)
                strokes3 = lines_to_int_strokes3(lines, rdp_epsilon,
                                                 keep_first_point=keep_first_point)
            except SketchartError as exc:
                message = f"{path}:{number}: {exc}"
                if not skip_bad:
                    raise SketchartError(message) from None
                result.skipped += 1
                result.problems.append(message)
                continue
            result.sketches.append(strokes3)
            result.ids.append(str(record.get("key_id", f"{path.name}:{number}"))[:200])
    return result


def read_svg(
    path: str | os.PathLike[str],
    *,
    rdp_epsilon: float | None = None,
    size: float | None = 255.0,
    quantization: float = 0.5,
    keep_first_point: bool = False,
) -> np.ndarray:
    """One SVG file as one stroke-3 sketch: the geometry that renders, every layer.

    Stroked shapes are read (see :mod:`sketchart.data.svgimport` for what counts as
    rendered), curves flattened every ``quantization`` output units, the drawing aligned to
    the top-left and, when ``size`` is given, scaled so its larger side is ``size`` (255,
    as QuickDraw's grid), RDP-simplified and rounded to integers.

    Raises:
        SketchartError: the file is missing, not SVG, oversized, or has no visible lines.
    """
    from sketchart.data.svgimport import read_svg_polylines

    lines = read_svg_polylines(path, size=size, quantization=quantization)
    points = np.concatenate(lines)
    low = points.min(axis=0)
    extent = float((points - low).max())
    scale = size / extent if size and extent > 0 else 1.0
    lines = [(line - low) * scale for line in lines]
    try:
        return lines_to_int_strokes3(lines, rdp_epsilon, keep_first_point=keep_first_point)
    except SketchartError as exc:
        raise SketchartError(f"{path}: {exc}") from None


def read_svg_folder(
    paths: Iterable[str | os.PathLike[str]],
    *,
    rdp_epsilon: float | None = None,
    size: float | None = 255.0,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
    keep_first_point: bool = False,
) -> ImportResult:
    """Several SVG files, one sketch each (see :func:`read_svg`); ``skip_bad`` as above."""
    result = ImportResult()
    for path in paths:
        try:
            result.sketches.append(read_svg(path, rdp_epsilon=rdp_epsilon, size=size,
                                            keep_first_point=keep_first_point))
            result.ids.append(Path(path).name)
        except SketchartError as exc:
            if not skip_bad:
                raise
            result.skipped += 1
            result.problems.append(str(exc))
        if progress:
            progress(1)
    return result


def _round_absolute(strokes3: np.ndarray) -> np.ndarray:
    # the same as lines_to_int_strokes3(strokes3_to_lines(.)) without RDP, vectorised
    points = np.rint(np.cumsum(strokes3[:, 0:2].astype(np.float64), axis=0))
    out = np.empty((len(strokes3), 3), dtype=np.float32)
    out[:, 0:2] = np.diff(points, axis=0, prepend=0.0)
    out[:, 2] = strokes3[:, 2]
    return out


def _npz_classes(
    path: Path, rdp_epsilon: float | None, skip_bad: bool
) -> dict[str, ImportResult]:
    # deferred import: data imports strokes/npzsafe only, but keep importers light
    from sketchart.data.datasets import SPLITS, load_npz

    data = load_npz(path, skip_bad=skip_bad)
    out: dict[str, ImportResult] = {name: ImportResult() for name in data.class_names}
    if data.skipped:
        # bad sketches are counted against the file's first class
        out[data.class_names[0]].skipped += len(data.skipped)
        out[data.class_names[0]].problems.extend(data.skipped)
    for split in SPLITS:
        sketches, labels = data.split(split)
        for i, (strokes3, label) in enumerate(zip(sketches, labels)):
            target = out[data.class_names[label]]
            try:
                if rdp_epsilon:
                    # npz rows are kept as they are: only RDP and rounding apply
                    strokes3 = lines_to_int_strokes3(
                        strokes3_to_lines(strokes3), rdp_epsilon, keep_first_point=True)
                elif not np.array_equal(strokes3, np.rint(strokes3)):
                    # float datasets (kanji.rdp100) are rounded in absolute space
                    strokes3 = _round_absolute(strokes3)
                target.sketches.append(np.asarray(strokes3, dtype=np.float32))
                target.ids.append(f"{path.name}:{split}:{i}")
            except SketchartError as exc:
                message = f"{path}: split {split!r}, sketch {i}: {exc}"
                if not skip_bad:
                    raise SketchartError(message) from None
                target.skipped += 1
                target.problems.append(message)
    return out


@dataclass
class _Collector:
    """Sources read into named classes (the body of :func:`collect_sources`)."""

    rdp_epsilon: float | None
    skip_bad: bool
    svg_size: float | None
    progress: Callable[[str], None] | None
    keep_first_point: bool
    classes: dict[str, ImportResult] = field(default_factory=dict)

    def add(self, name: str, result: ImportResult) -> None:
        self.classes.setdefault(name, ImportResult()).extend(result)

    def svgs(self, name: str, paths: Sequence[Path]) -> None:
        self.add(name, read_svg_folder(
            paths, rdp_epsilon=self.rdp_epsilon, size=self.svg_size, skip_bad=self.skip_bad,
            keep_first_point=self.keep_first_point))

    def file(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if self.progress:
            self.progress(path.name)
        if suffix == ".ndjson":
            self.add(path.stem, read_ndjson(path, rdp_epsilon=self.rdp_epsilon,
                                            skip_bad=self.skip_bad,
                                            keep_first_point=self.keep_first_point))
        elif suffix == ".npz":
            for name, result in _npz_classes(path, self.rdp_epsilon, self.skip_bad).items():
                self.add(name, result)
        elif suffix == ".svg":
            self.svgs(path.resolve().parent.name or "svg", [path])
        else:
            raise SketchartError(f"{path}: unsupported source (ndjson, npz, svg or a folder)")

    def folder(self, folder: Path) -> None:
        entries = sorted(folder.iterdir())
        svgs = [p for p in entries if p.is_file() and p.suffix.lower() == ".svg"]
        for p in entries:
            if p.is_file() and p.suffix.lower() in (".ndjson", ".npz"):
                self.file(p)
        if svgs:
            if self.progress:
                self.progress(f"{folder.name}/ ({len(svgs)} SVG)")
            self.svgs(folder.name, svgs)
        for p in entries:
            if p.is_dir() and not p.name.startswith("."):
                self.folder(p)


def collect_sources(
    sources: Sequence[str | os.PathLike[str]],
    *,
    rdp_epsilon: float | None = None,
    skip_bad: bool = False,
    svg_size: float | None = 255.0,
    progress: Callable[[str], None] | None = None,
    keep_first_point: bool = False,
) -> dict[str, ImportResult]:
    """Read ``dataset build`` sources into named classes.

    - ``x.ndjson``: one class ``x``;
    - ``x.npz``: its classes (``class_names`` if it has them, else ``x``), all splits pooled;
    - ``x.svg``: a sketch of the class named after its folder;
    - a folder: its ndjson and npz files as above, its SVG files as one class named after
      the folder, and its sub-folders the same way, recursively.

    Classes of the same name from several sources are merged.

    Args:
        progress: called with each file's name as it is read (a progress bar hook).
        keep_first_point: ndjson and SVG drawings in magenta's Python convention instead
            of Google's (see :func:`lines_to_int_strokes3`); npz sketches are kept as stored.

    Raises:
        SketchartError: a missing source, an unsupported file, or a bad record (without
            ``skip_bad``).
    """
    collector = _Collector(rdp_epsilon, skip_bad, svg_size, progress, keep_first_point)
    for source in sources:
        path = Path(source)
        if path.is_dir():
            collector.folder(path)
        elif path.is_file():
            collector.file(path)
        else:
            raise SketchartError(f"{path}: no such file or folder")
    return collector.classes
