"""How each kind of gallery entry is drawn: small functions over
:mod:`sketchart.generate.sampling`.

Every builder takes the entry, the loaded model and the test drawings of the entry's data
set (or None), and returns a :class:`KindResult`: the vpype document, what the JSON should
record beyond the entry itself, and extra files (G-code). Sampling is batched: one call per
row at most, every sketch of a call advancing together in the compiled loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import vpype as vp

from sketchart.page.layout import DEFAULT_PALETTE
from sketchart.strokes import strokes3_to_lines
from tools.gallery.sheet import Sheet, mm
from tools.gallery.spec import GalleryEntry, GallerySpecError

__all__ = ["BUILDERS", "KindResult", "partial_drawing", "split_completion"]

_BLACK = "black"
_GREY = "#8c8c8c"  # originals: visibly not the model's
_RED = "#d62728"  # given strokes of a completion


@dataclass
class KindResult:
    """What a builder made.

    Attributes:
        document: the drawing (CSS px, page set).
        info: extra JSON fields (data indices used, plot-time estimates ...).
        files: extra outputs by suffix (``{"gcode": text}``), written beside the SVG.
        png_width: width of the PNG preview in pixels.
    """

    document: vp.Document
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    png_width: int = 1000


def _lines(strokes3: np.ndarray) -> list[np.ndarray]:
    return strokes3_to_lines(np.asarray(strokes3, dtype=np.float32))


def _pick(
    entry: GalleryEntry,
    test: Sequence[np.ndarray] | None,
    index: int,
    max_len: int | None = None,
) -> np.ndarray:
    """Test drawing ``index`` of the entry's data set, checked."""
    assert test is not None
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(test):
        raise GallerySpecError(
            f"gallery entry {entry.name!r}: test index {index!r} out of range ({entry.data} "
            f"has {len(test)} test drawings)"
        )
    drawing = test[index]
    if max_len is not None and len(drawing) > max_len:
        raise GallerySpecError(
            f"gallery entry {entry.name!r}: test drawing {index} of {entry.data} has "
            f"{len(drawing)} points, more than the model's max_seq_len={max_len}; pick another"
        )
    return drawing


def _max_len(model: Any) -> int:
    meta = getattr(model, "meta", None)
    return int(getattr(meta, "max_seq_len", None) or model.hps.max_seq_len)


def _common(entry: GalleryEntry) -> dict[str, Any]:
    return {"temperature_mode": entry.temperature_mode}


# ------------------------------------------------------------------------ builders
def temperatures(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> KindResult:
    """One row per temperature, the same seed in every row."""
    from sketchart.generate.sampling import sample

    columns = int(entry.param("columns"))
    sheet = Sheet(len(entry.temperatures), columns)
    sheet.layer("samples", f"{entry.model} samples", _BLACK)
    for row, t in enumerate(entry.temperatures):
        drawings = sample(
            model, columns, t, seed=entry.seed, temperature_mode=entry.temperature_mode
        )
        for column, d in enumerate(drawings):
            sheet.put(row, column, "samples", _lines(d))
        sheet.label_row(row, f"T={t:g}")
    return KindResult(sheet.document(), _common(entry))


def samples(entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None) -> KindResult:
    """A grid at one temperature, one batch."""
    from sketchart.generate.sampling import sample

    rows, columns = int(entry.param("rows")), int(entry.param("columns"))
    sheet = Sheet(rows, columns)
    sheet.layer("samples", f"{entry.model} samples", _BLACK)
    drawings = sample(
        model,
        rows * columns,
        entry.temperature,
        seed=entry.seed,
        temperature_mode=entry.temperature_mode,
    )
    for i, d in enumerate(drawings):
        sheet.put(i // columns, i % columns, "samples", _lines(d))
    return KindResult(sheet.document(), _common(entry))


def interpolation(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> KindResult:
    """Per pair of test drawings: the first, the decodes along the path, the second."""
    from sketchart.generate.sampling import interpolate

    pairs = [list(p) for p in entry.param("pairs")]
    steps = int(entry.param("steps"))
    limit = _max_len(model)
    sheet = Sheet(len(pairs), steps + 2)
    sheet.layer("originals", "test drawings", _GREY)
    sheet.layer("decodes", f"{entry.model} decodes", _BLACK)
    for row, (a, b) in enumerate(pairs):
        da, db = _pick(entry, test, a, limit), _pick(entry, test, b, limit)
        path = interpolate(
            model,
            da,
            db,
            steps=steps,
            method=entry.param("method"),
            temperature=entry.temperature,
            seed=entry.seed,
            temperature_mode=entry.temperature_mode,
        )
        sheet.put(row, 0, "originals", _lines(da))
        for column, d in enumerate(path, start=1):
            sheet.put(row, column, "decodes", _lines(d))
        sheet.put(row, steps + 1, "originals", _lines(db))
    return KindResult(sheet.document(), {**_common(entry), "test_indices": pairs})


def _corner_grid(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> tuple[list[list[np.ndarray]], list[int]]:
    from sketchart.generate.sampling import grid

    corners = [int(i) for i in entry.param("corners")]
    if len(corners) != 4:
        raise GallerySpecError(
            f"gallery entry {entry.name!r}: corners needs 4 test indices, got {len(corners)}"
        )
    limit = _max_len(model)
    drawings = [_pick(entry, test, i, limit) for i in corners]
    rows = grid(
        model,
        drawings,
        rows=int(entry.param("rows")),
        cols=int(entry.param("columns")),
        temperature=entry.temperature,
        seed=entry.seed,
        temperature_mode=entry.temperature_mode,
    )
    return rows, corners


def corners(entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None) -> KindResult:
    """A grid bilinear in z between four test drawings."""
    rows, used = _corner_grid(entry, model, test)
    sheet = Sheet(len(rows), len(rows[0]))
    sheet.layer("decodes", f"{entry.model} decodes", _BLACK)
    for r, row in enumerate(rows):
        for c, d in enumerate(row):
            sheet.put(r, c, "decodes", _lines(d))
    return KindResult(sheet.document(), {**_common(entry), "test_indices": used})


def reconstruction(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> KindResult:
    """Per test drawing: the original and ``count`` decodes of its mu (one batch)."""
    from sketchart.generate.sampling import reconstruct

    indices = [int(i) for i in entry.param("indices")]
    count = int(entry.param("count"))
    limit = _max_len(model)
    originals = [_pick(entry, test, i, limit) for i in indices]
    repeated = [d for d in originals for _ in range(count)]
    decoded = reconstruct(
        model,
        repeated,
        temperature=entry.temperature,
        seed=entry.seed,
        temperature_mode=entry.temperature_mode,
    )
    sheet = Sheet(len(indices), count + 1)
    sheet.layer("originals", "test drawings", _GREY)
    sheet.layer("decodes", f"{entry.model} reconstructions", _BLACK)
    for row, (index, original) in enumerate(zip(indices, originals, strict=True)):
        sheet.put(row, 0, "originals", _lines(original))
        for k in range(count):
            sheet.put(row, k + 1, "decodes", _lines(decoded[row * count + k]))
        sheet.label_row(row, f"#{index}")
    return KindResult(sheet.document(), {**_common(entry), "test_indices": indices})


def partial_drawing(strokes3: np.ndarray, strokes: int) -> np.ndarray:
    """The first ``strokes`` strokes of a drawing, leaving at least one stroke out.

    A one-stroke drawing gives its first half (at least one point).
    """
    arr = np.asarray(strokes3, dtype=np.float32)
    ends = np.flatnonzero(arr[:, 2] > 0.5) + 1
    ends = ends[ends < len(arr)]  # stroke ends before the last point
    if len(ends):
        keep = int(ends[min(max(strokes, 1), len(ends)) - 1])
    else:
        keep = max(1, len(arr) // 2)
    return arr[:keep].copy()


def split_completion(
    full: np.ndarray, given: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Polylines of a completed drawing: ``(given part, continuation)``.

    ``full`` is the partial drawing's ``given`` points followed by the model's. When the
    given part ends with the pen down, the continuation's first line starts at its last
    point, so the drawing stays connected.
    """
    arr = np.asarray(full, dtype=np.float32)
    points = np.cumsum(arr[:, 0:2].astype(np.float64), axis=0)
    lifts = arr[:, 2] > 0.5
    start = given - 1 if given > 0 and not lifts[given - 1] else given
    tail_points, tail_lifts = points[start:], lifts[start:]
    continuation = [p for p in np.split(tail_points, np.flatnonzero(tail_lifts) + 1) if len(p)]
    return _lines(arr[:given]), continuation


def completion(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> KindResult:
    """Per test drawing: its first strokes, then ``count`` continuations (one batch each)."""
    from sketchart.generate.sampling import complete

    indices = [int(i) for i in entry.param("indices")]
    count = int(entry.param("count"))
    strokes = int(entry.param("strokes"))
    limit = _max_len(model)
    sheet = Sheet(len(indices), count + 1)
    sheet.layer("given", "given strokes", _RED)
    sheet.layer("continuations", f"{entry.model} continuations", _BLACK)
    given_points = []
    for row, index in enumerate(indices):
        partial = partial_drawing(_pick(entry, test, index, limit), strokes)
        given_points.append(len(partial))
        done = complete(
            model,
            partial,
            n=count,
            temperature=entry.temperature,
            seed=entry.seed,
            temperature_mode=entry.temperature_mode,
        )
        sheet.put(row, 0, "given", _lines(partial))
        for k, full in enumerate(done):
            given, continuation = split_completion(full, len(partial))
            sheet.put(row, k + 1, "given", given)
            sheet.put(row, k + 1, "continuations", continuation)
        sheet.label_row(row, f"#{index}")
    return KindResult(
        sheet.document(),
        {**_common(entry), "test_indices": indices, "given_points": given_points},
    )


def print_sheet(
    entry: GalleryEntry, model: Any, test: Sequence[np.ndarray] | None
) -> KindResult:
    """A corner grid on paper: one pen per row, optimised, with G-code and plot times."""
    from sketchart.page.layout import optimize_document
    from sketchart.plot import grbl
    from sketchart.plot.ebb import AXIDRAW_MODELS, AxiDrawSettings, estimate_ebb
    from sketchart.plot.paths import document_from_vpype
    from sketchart.plot.profiles import get_profile, render_program
    from sketchart.plot.run import DRY_RUN_GRBL_SETTINGS

    page_name = str(entry.param("page")).lower()
    if page_name not in vp.PAGE_SIZES:
        raise GallerySpecError(
            f"gallery entry {entry.name!r}: unknown page {page_name!r} (use "
            f"{', '.join(vp.PAGE_SIZES)})"
        )
    w, h = vp.PAGE_SIZES[page_name]
    landscape = bool(entry.param("landscape"))
    page = (max(w, h), min(w, h)) if landscape else (min(w, h), max(w, h))
    rows, used = _corner_grid(entry, model, test)
    sheet = Sheet(
        len(rows),
        len(rows[0]),
        gap=mm(float(entry.param("gap_mm"))),
        margin=mm(float(entry.param("margin_mm"))),
        page_size=page,
    )
    for r in range(len(rows)):
        sheet.layer(f"row{r}", f"row {r + 1}", DEFAULT_PALETTE[r % len(DEFAULT_PALETTE)])
    for r, row in enumerate(rows):
        for c, d in enumerate(row):
            sheet.put(r, c, f"row{r}", _lines(d))
    doc = sheet.document()
    optimize_document(doc, seed=entry.seed)

    profile = str(entry.param("profile"))
    plot_doc = document_from_vpype(doc, source=entry.name)
    program = render_program(plot_doc, get_profile(profile), filename=f"{entry.name}.gcode")
    grbl_s = grbl.estimate_program(
        program.all_lines(), grbl.MachineLimits.from_settings(DRY_RUN_GRBL_SETTINGS)
    )
    size_mm = (page[0] / mm(1.0), page[1] / mm(1.0))
    axidraw_model = next(
        name
        for name, travel in AXIDRAW_MODELS.items()
        if travel[0] >= size_mm[0] - 1 and travel[1] >= size_mm[1] - 1
    )
    ebb = estimate_ebb(plot_doc, AxiDrawSettings(model=axidraw_model))
    down = sum(
        float(np.sum(np.linalg.norm(np.diff(line, axis=0), axis=1)))
        for layer in plot_doc.layers
        for line in layer.lines
    )
    info = {
        **_common(entry),
        "test_indices": used,
        "page": {
            "name": page_name,
            "landscape": landscape,
            "width_mm": round(size_mm[0], 1),
            "height_mm": round(size_mm[1], 1),
        },
        "layers": [
            {
                "name": layer.name,
                "paths": len(layer.lines),
                "color": str(doc.layers[layer.layer_id].property(vp.METADATA_FIELD_COLOR)),
            }
            for layer in plot_doc.layers
        ],
        "paths": plot_doc.path_count,
        "pen_down_m": round(down / 1000.0, 2),
        "plot_commands": [
            f"sketchart plot {entry.name}.svg --model {axidraw_model}",
            f"sketchart plot {entry.name}.svg --device grbl --port PORT --profile {profile}",
            f"vpype read {entry.name}.svg gwrite -p {profile} {entry.name}.gcode",
        ],
        "plot_time": {
            profile: {
                "seconds": round(grbl_s, 1),
                "assumes": "GRBL $110/$111 = 6000 mm/min, $120/$121 = 800 mm/s^2, "
                "$11 = 0.01 mm; the profile's feed and pen dwells",
            },
            "axidraw": {
                "seconds": round(float(ebb["seconds"]), 1),
                "assumes": f"AxiDraw {axidraw_model}, sketchart's default speeds "
                "(55 mm/s drawing, 165 mm/s travel)",
            },
        },
    }
    return KindResult(doc, info, files={"gcode": program.text}, png_width=1400)


BUILDERS: dict[str, Callable[[GalleryEntry, Any, Sequence[np.ndarray] | None], KindResult]] = {
    "temperatures": temperatures,
    "samples": samples,
    "interpolation": interpolation,
    "corners": corners,
    "reconstruction": reconstruction,
    "completion": completion,
    "print": print_sheet,
}
