"""Ship a finished training run as a model directory in ``models/`` (``models ship``).

:func:`ship` turns a training log root (``best/``, ``last/``, TensorBoard events) into
``<models_root>/<name>/``::

    model_config.json   the hparams (magenta's names)
    sketchart.json      ModelMeta: scale factor, steps, valid and test r_cost/kl_cost
    model.weights.h5    float16 weights (upcast to float32 on load)
    README.md           what it draws, the data's source and licence (first), the training
                        command, steps, wall time, hardware, losses, float16 check
    sample.png          16 sketches sampled at T=0.4 with a fixed seed
    curves.png          train/valid r_cost and kl_cost against steps, test points
    shipped.json        the same facts, machine-readable (for the gallery)

Everything is written into a hidden folder beside the target and renamed into place at the
end: a failure never leaves a half-shipped model, and ``force=True`` replaces an existing one
only once the new one is complete. The log root is only read (a live run may still write it):
``best/`` is copied first, and copied again if the trainer swapped it meanwhile.

TensorBoard events are read without TensorFlow: TFRecord framing (length, CRC, data, CRC)
around tensorboardX's ``Event`` protobufs. Charts and sample grids are drawn with Pillow.
Importing this module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import shlex
import shutil
import struct
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError

__all__ = [
    "DATASETS",
    "MODELS_SIZE_LIMIT",
    "DatasetInfo",
    "RunEvents",
    "ShipError",
    "ShipResult",
    "dataset_info",
    "hardware_description",
    "read_events",
    "render_curves",
    "render_sketches",
    "ship",
]

#: ``models/`` as a whole must stay under this many bytes (the wheel carries it).
MODELS_SIZE_LIMIT = 40_000_000
#: the README's sample image: temperature, seed, count
SAMPLE_TEMPERATURE = 0.4
SAMPLE_SEED = 1
SAMPLE_COUNT = 16
#: float16 storage is refused when it moves the deterministic test r_cost more than this
FLOAT16_TOLERANCE = 0.005
_STAGING = ".ship-"


class ShipError(SketchartError):
    """A log root that cannot be shipped (no best model, unknown licence, target exists)."""


# ------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class DatasetInfo:
    """Where a training set comes from and under which licence.

    Attributes:
        key: the ``data_set`` stem it matches (``aaron_sheep``).
        draws: what a model trained on it draws (``sheep``).
        title: the data's name and origin, one line.
        source: where to get it (URLs).
        licence: the licence's short name (``CC BY-NC 4.0``).
        licence_url: the licence text.
        copyright: the copyright line.
        terms: what the licence asks of users of a model trained on it (one sentence).
        non_commercial: the licence forbids commercial use (said prominently).
    """

    key: str
    draws: str
    title: str
    source: str
    licence: str
    licence_url: str = ""
    copyright: str = ""
    terms: str = ""
    non_commercial: bool = False


_SKETCH_RNN_DATASETS = "https://github.com/hardmaru/sketch-rnn-datasets"
_KANJI = DatasetInfo(
    key="short_kanji", draws="kanji (Japanese characters, drawn stroke by stroke)",
    title="KanjiVG kanji as stroke-3 polylines (sketch-rnn-datasets' kanji set)",
    source=f"{_SKETCH_RNN_DATASETS}/tree/master/kanji, derived from KanjiVG "
           "(http://kanjivg.tagaini.net/)",
    licence="CC BY-SA 3.0", licence_url="https://creativecommons.org/licenses/by-sa/3.0/",
    copyright="KanjiVG is Copyright (c) 2009-2015 Ulrich Apel",
    terms="credit KanjiVG (Ulrich Apel); share adaptations under the same licence "
          "(ShareAlike).")

#: The datasets whose licence is known, by ``data_set`` stem (see ``../shared/README.md``
#: and each dataset's own README in hardmaru/sketch-rnn-datasets).
DATASETS: dict[str, DatasetInfo] = {
    "aaron_sheep": DatasetInfo(
        key="aaron_sheep", draws="sheep",
        title="Aaron Koblin's The Sheep Market: 8,000 crowd-sourced sheep drawings "
              "(sketch-rnn-datasets' aaron_sheep)",
        source=f"{_SKETCH_RNN_DATASETS}/tree/master/aaron_sheep "
               "(original project: http://www.aaronkoblin.com/work/thesheepmarket/)",
        licence="CC BY-NC 4.0", licence_url="https://creativecommons.org/licenses/by-nc/4.0/",
        copyright="Copyright (c) 2006 Aaron Koblin",
        terms="this model and the drawings it makes inherit the data's NonCommercial "
              "restriction; credit Aaron Koblin.",
        non_commercial=True),
    "omniglot": DatasetInfo(
        key="omniglot", draws="handwritten characters from 50 alphabets (Omniglot)",
        title="Omniglot (Lake et al.) as stroke-3 polylines (sketch-rnn-datasets' omniglot)",
        source=f"{_SKETCH_RNN_DATASETS}/tree/master/omniglot, derived from "
               "https://github.com/brendenlake/omniglot",
        licence="MIT",
        licence_url="https://github.com/brendenlake/omniglot/blob/master/LICENSE",
        copyright="Copyright (c) 2015 Brenden Lake",
        terms="keep the copyright and permission notice (MIT); cite Lake et al. (2015)."),
    "short_kanji": _KANJI,
    "kanji": _KANJI,  # kanji.rdp100.npz / kanji.rdp200.npz: the same KanjiVG source
}

_QUICKDRAW = DatasetInfo(
    key="quickdraw", draws="",
    title="Google's Quick, Draw! dataset (sketch-rnn .npz)",
    source="https://github.com/googlecreativelab/quickdraw-dataset",
    licence="CC BY 4.0", licence_url="https://creativecommons.org/licenses/by/4.0/",
    copyright="Google LLC", terms="credit Google's Quick, Draw! dataset.")


def _stem(name: str) -> str:
    # "aaron_sheep.npz" -> "aaron_sheep", "kanji.rdp100.npz" -> "kanji"
    return Path(name).name.split(".")[0].lower()


def dataset_info(data_set: Sequence[str], licence: str | None = None) -> list[DatasetInfo]:
    """The source and licence of each training file (in ``data_set`` order).

    Args:
        data_set: the model's ``data_set`` hparam (file names or paths).
        licence: the licence text to use for every file (overrides what is known; required
            when a file is not one of :data:`DATASETS` or a Quick, Draw! category).

    Raises:
        ShipError: a file whose licence is unknown and no ``licence`` was given.
    """
    from sketchart.download import category_name

    out = []
    for name in data_set:
        stem = _stem(name)
        known = DATASETS.get(stem)
        if known is None and category_name(name) is not None:
            category = category_name(name).split(".")[0]  # type: ignore[union-attr]
            known = DatasetInfo(**{**_QUICKDRAW.__dict__, "key": stem,
                                   "draws": f"{category} (Quick, Draw!)"})
        if licence:
            base = known or DatasetInfo(key=stem, draws=stem.replace("_", " "),
                                        title=Path(name).name, source="(not recorded)",
                                        licence=licence)
            known = DatasetInfo(**{**base.__dict__, "licence": licence,
                                   "licence_url": "" if licence != base.licence
                                   else base.licence_url,
                                   "non_commercial": _says_non_commercial(licence)})
        if known is None:
            raise ShipError(
                f"data_set {Path(name).name}: unknown source and licence; pass --licence "
                "TEXT (e.g. --licence 'CC BY 4.0, https://...') to state them")
        out.append(known)
    return out


def _says_non_commercial(licence: str) -> bool:
    text = licence.upper().replace("-", " ")
    return " NC " in f" {text} " or "NONCOMMERCIAL" in text.replace(" ", "") \
        or "NON COMMERCIAL" in text


# ------------------------------------------------------------------ TensorBoard events
@dataclass
class RunEvents:
    """The scalars of a run's TensorBoard files, with restarts (purges) applied.

    Attributes:
        scalars: tag -> sorted ``[(step, value)]`` (``train/r_cost``, ``valid/kl_cost`` ...).
        sessions: one ``[(wall_time, step), ...]`` list per event file (a file per start or
            resume of the trainer), in the order written.
        files: the event files read.
    """

    scalars: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    sessions: list[list[tuple[float, int]]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def series(self, tag: str) -> list[tuple[int, float]]:
        """``[(step, value)]`` of one tag (empty when it was never logged)."""
        return self.scalars.get(tag, [])

    def last_step(self) -> int | None:
        """The largest step of any event (None without events)."""
        steps = [s for session in self.sessions for _, s in session]
        return max(steps) if steps else None

    def active_seconds(self, pause_gap_s: float = 900.0, until_step: int | None = None
                       ) -> float:
        """Training wall time: the summed spans of activity, not first-to-last clock time.

        Each event file is one run of the trainer; within it, a silence longer than
        ``pause_gap_s`` (the process was suspended, e.g. during a benchmark) does not
        count. Trainers log every ``log_every`` steps and evaluate every ``save_every``,
        so a live run is never silent that long.

        Args:
            pause_gap_s: the longest silence counted as work.
            until_step: stop counting at the first event at or past this step.
        """
        total = 0.0
        for session in self.sessions:
            prev: float | None = None
            for wall, step in session:
                if prev is not None and 0 < wall - prev <= pause_gap_s:
                    total += wall - prev
                prev = wall
                if until_step is not None and step >= until_step:
                    return total
        return total


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path: Path) -> list[bytes]:
    """The TFRecord payloads of one file; stops quietly at a torn or corrupt tail (a run
    that is still writing, or was killed mid-record)."""
    data = path.read_bytes()
    out = []
    pos = 0
    while pos + 12 <= len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        end = pos + 12 + length
        if header_crc != _masked_crc(header) or end + 4 > len(data):
            break
        (data_crc,) = struct.unpack("<I", data[end:end + 4])
        payload = data[pos + 12:end]
        if data_crc != _masked_crc(payload):
            break
        out.append(payload)
        pos = end + 4
    return out


def read_events(log_root: str | os.PathLike[str]) -> RunEvents:
    """Read every ``events.out.tfevents.*`` file of a log root (no TensorFlow needed).

    A resumed trainer writes a new file that starts with a "session start" at the step it
    resumed from (tensorboardX's ``purge_step``); points of earlier files at or after that
    step were lost with the killed run and are dropped, as TensorBoard does.

    Raises:
        ShipError: an event file that is not a TensorBoard event file.
    """
    from google.protobuf.message import DecodeError
    from tensorboardX.proto import event_pb2

    root = Path(log_root)
    files = sorted(root.glob("events.out.tfevents.*"))
    parsed: list[tuple[float, Path, list[Any]]] = []
    for path in files:
        try:
            events = [event_pb2.Event.FromString(r) for r in _records(path)]
        except DecodeError:
            raise ShipError(f"{path}: not a TensorBoard event file") from None
        if events:
            parsed.append((events[0].wall_time, path, events))
    run = RunEvents(files=[p for _, p, _ in sorted(parsed, key=lambda t: t[0])])
    start = event_pb2.SessionLog.START
    for _, _, events in sorted(parsed, key=lambda t: t[0]):
        session: list[tuple[float, int]] = []
        for event in events:
            if event.HasField("session_log") and event.session_log.status == start:
                for tag, points in run.scalars.items():
                    run.scalars[tag] = [(s, v) for s, v in points if s < event.step]
            session.append((event.wall_time, int(event.step)))
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    run.scalars.setdefault(value.tag, []).append(
                        (int(event.step), float(value.simple_value)))
        run.sessions.append(session)
    for tag, points in run.scalars.items():
        run.scalars[tag] = sorted(points)
    return run


# --------------------------------------------------------------------------- drawing
_BLUE = (31, 119, 180)
_LIGHT_BLUE = (174, 199, 232)
_ORANGE = (230, 110, 20)
_GREEN = (44, 160, 44)
_GREY = (120, 120, 120)
_GRID = (228, 228, 228)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 x 10^k) covering
    ``[lo, hi]``."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _step_label(step: float, span: float) -> str:
    if span >= 2000:
        return f"{step / 1000:g}k"
    return f"{step:g}"


def _value_label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    scaled = step * 10 ** digits
    extra = 1 if abs(scaled - round(scaled)) > 1e-6 else 0  # steps of 2.5 x 10^k
    return f"{value:.{min(digits + extra, 4)}f}"


def _ema(values: Sequence[float], weight: float) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else weight * acc + (1 - weight) * v
        out.append(acc)
    return out


def _panel(draw: Any, image: Any, box: tuple[int, int, int, int], title: str,
           series: dict[str, list[tuple[int, float]]], x_max: int, s: int,
           floor: float | None) -> None:
    """One chart: axes, ticks, grid, train/valid/test series, legend; ``s`` is the
    supersampling factor (every size below is multiplied by it)."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = box
    title_font, tick_font = _font(17 * s), _font(13 * s)
    pad_l, pad_b, pad_t = 62 * s, 40 * s, 30 * s
    x0, y0, x1, y1 = left + pad_l, top + pad_t, right - 12 * s, bottom - pad_b
    draw.text(((x0 + x1) / 2, top + 2 * s), title, fill="black", font=title_font, anchor="mt")

    train = series.get("train", [])
    evals = series.get("valid", []) + series.get("test", [])
    values = [v for _, v in evals]
    if train:
        tv = np.array([v for _, v in train])
        # the first steps' train loss is far above the rest: keep the scale on what matters
        values += [float(np.quantile(tv, 0.03)), float(np.quantile(tv, 0.9 if evals else 1))]
    if floor is not None:
        values.append(floor)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    # a flat series (kl_cost held at its floor) still gets a readable range around it
    margin = max((hi - lo) * 0.08, abs(hi) * 0.05, 1e-3)
    yticks = _nice_ticks(lo - margin, hi + margin)
    y_lo, y_hi = yticks[0], yticks[-1]
    xticks = _nice_ticks(0, max(x_max, 1), 5)
    x_hi = xticks[-1]

    inset = 10 * s  # the first and last steps sit inside the frame, their markers whole

    def px(step: float, value: float) -> tuple[float, float]:
        return (x0 + inset + (x1 - x0 - 2 * inset) * step / x_hi,
                y1 - (y1 - y0) * (value - y_lo) / (y_hi - y_lo))

    ystep = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0
    for v in yticks:
        _, y = px(0, v)
        draw.line([(x0, y), (x1, y)], fill=_GRID, width=s)
        draw.text((x0 - 8 * s, y), _value_label(v, ystep), fill="black", font=tick_font,
                  anchor="rm")
    for t in xticks:
        x, _ = px(t, y_lo)
        draw.line([(x, y0), (x, y1)], fill=_GRID, width=s)
        draw.line([(x, y1), (x, y1 + 5 * s)], fill="black", width=s)
        draw.text((x, y1 + 8 * s), _step_label(t, x_hi), fill="black", font=tick_font,
                  anchor="mt")
    draw.text(((x0 + x1) / 2, bottom - 4 * s), "training step", fill="black", font=tick_font,
              anchor="mb")

    # series drawn on a layer the size of the plot area: Pillow clips what falls outside
    layer = Image.new("RGBA", (int(x1 - x0), int(y1 - y0)), (255, 255, 255, 0))
    ld = ImageDraw.Draw(layer)

    def local(step: float, value: float) -> tuple[float, float]:
        x, y = px(step, value)
        return (x - x0, y - y0)

    if floor is not None:
        y = local(0, floor)[1]
        for xs in range(0, layer.width, 14 * s):
            ld.line([(xs, y), (min(xs + 7 * s, layer.width), y)], fill=_GREY, width=s)
    if len(train) == 1:
        x, y = local(*train[0])
        ld.ellipse([x - 2 * s, y - 2 * s, x + 2 * s, y + 2 * s], fill=_BLUE + (255,))
    if len(train) > 1:
        ld.line([local(*p) for p in train], fill=_LIGHT_BLUE + (255,), width=s, joint="curve")
        # smoothing grows with the number of points: none for a handful, at most 0.9
        smooth = _ema([v for _, v in train], min(0.9, max(0.0, 1 - 8 / len(train))))
        ld.line([local(st, v) for (st, _), v in zip(train, smooth, strict=True)],
                fill=_BLUE + (255,), width=2 * s, joint="curve")
    valid = series.get("valid", [])
    if len(valid) > 1:
        ld.line([local(*p) for p in valid], fill=_ORANGE + (255,), width=2 * s, joint="curve")
    r = 4 * s
    for p in valid:
        x, y = local(*p)
        ld.ellipse([x - r, y - r, x + r, y + r], fill=_ORANGE + (255,))
    for p in series.get("test", []):
        x, y = local(*p)
        ld.polygon([(x, y - r - s), (x + r + s, y), (x, y + r + s), (x - r - s, y)],
                   fill=_GREEN + (255,), outline="white")
    image.paste(layer, (int(x0), int(y0)), layer)
    draw.rectangle([x0, y0, x1, y1], outline="black", width=s)

    # the legend goes in the corner of the plot that hides the fewest drawn points
    entries = [("train", _BLUE, "line"), ("valid", _ORANGE, "dot"),
               ("test", _GREEN, "diamond")]
    if floor is not None:
        entries.append(("kl_tolerance", _GREY, "dash"))
    entries = [e for e in entries if series.get(e[0]) or e[0] == "kl_tolerance"]
    if not entries:
        return
    row = 20 * s
    width = 120 * s
    height = row * len(entries) + 6 * s
    drawn = []
    for split in ("train", "valid", "test"):
        pts = [px(*p) for p in series.get(split, [])]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            drawn += [(ax + (bx - ax) * t / 8, ay + (by - ay) * t / 8) for t in range(8)]
        drawn += pts[-1:]
    if floor is not None:
        fy = px(0, floor)[1]
        drawn += [(x0 + (x1 - x0) * t / 40, fy) for t in range(41)]
    corners = [(x1 - width - 8 * s, y0 + 8 * s), (x1 - width - 8 * s, y1 - height - 8 * s),
               (x0 + 8 * s, y0 + 8 * s), (x0 + 8 * s, y1 - height - 8 * s)]

    def hidden(corner: tuple[float, float]) -> int:
        cx, cy = corner
        return sum(cx <= x <= cx + width and cy <= y <= cy + height for x, y in drawn)

    lx0, ly0 = min(corners, key=hidden)  # first of the least covered: top right on ties
    draw.rectangle([lx0, ly0, lx0 + width, ly0 + height], fill="white",
                   outline=(190, 190, 190), width=s)
    for i, (label, colour, mark) in enumerate(entries):
        cy = ly0 + 3 * s + row * i + row / 2
        sx = lx0 + 10 * s
        if mark == "line":
            draw.line([(sx, cy), (sx + 24 * s, cy)], fill=colour, width=2 * s)
        elif mark == "dash":
            draw.line([(sx, cy), (sx + 9 * s, cy)], fill=colour, width=s)
            draw.line([(sx + 15 * s, cy), (sx + 24 * s, cy)], fill=colour, width=s)
        elif mark == "dot":
            draw.line([(sx, cy), (sx + 24 * s, cy)], fill=colour, width=2 * s)
            draw.ellipse([sx + 12 * s - r, cy - r, sx + 12 * s + r, cy + r], fill=colour)
        else:
            c = sx + 12 * s
            draw.polygon([(c, cy - r - s), (c + r + s, cy), (c, cy + r + s), (c - r - s, cy)],
                         fill=colour)
        draw.text((sx + 32 * s, cy), label, fill="black", font=tick_font, anchor="lm")


def render_curves(events: RunEvents, path: str | os.PathLike[str], *, title: str = "",
                  kl_floor: float | None = None, size: tuple[int, int] = (1200, 480)) -> Path:
    """Draw the training curves as a PNG: r_cost and kl_cost against steps.

    Train values are drawn raw (light) and smoothed (dark); valid values as a line with
    dots; test values (evaluated when ``best/`` improved) as diamonds. The kl_cost panel is
    left out when the model has no KL term (decoder-only: every kl_cost is 0).

    Args:
        events: the run's events (:func:`read_events`).
        path: the PNG to write.
        title: a line above the charts.
        kl_floor: draw the KL floor (``kl_tolerance``) as a dashed line.
        size: ``(width, height)`` in pixels.

    Returns:
        ``path``.
    """
    from PIL import Image, ImageDraw

    s = 2  # drawn at twice the size and scaled down: Pillow's lines are not antialiased
    width, height = size
    image = Image.new("RGB", (width * s, height * s), "white")
    draw = ImageDraw.Draw(image)
    head = 34 * s if title else 0
    if title:
        draw.text((width * s / 2, 8 * s), title, fill="black", font=_font(19 * s), anchor="mt")
    kl_values = [v for split in ("train", "valid", "test")
                 for _, v in events.series(f"{split}/kl_cost")]
    metrics = [("r_cost", "reconstruction loss (r_cost)")]
    if any(v != 0 for v in kl_values):
        metrics.append(("kl_cost", "KL loss (kl_cost)"))
    x_max = events.last_step() or 1
    panel_w = width * s // len(metrics)
    for i, (metric, label) in enumerate(metrics):
        series = {split: events.series(f"{split}/{metric}")
                  for split in ("train", "valid", "test")}
        box = (i * panel_w + 6 * s, head, (i + 1) * panel_w - 6 * s, height * s - 4 * s)
        _panel(draw, image, box, label, series, x_max, s,
               kl_floor if metric == "kl_cost" else None)
    out = image.resize(size, Image.Resampling.LANCZOS)
    path = Path(path)
    out.save(path, format="PNG", optimize=True)
    return path


def render_sketches(drawings: Sequence[np.ndarray], path: str | os.PathLike[str], *,
                    cols: int = 4, cell: int = 200, caption: str = "") -> Path:
    """Draw stroke-3 sketches as a grid PNG (each fitted into its cell), with a caption.

    Args:
        drawings: stroke-3 arrays (any units).
        path: the PNG to write.
        cols: columns of the grid.
        cell: side of each cell in pixels.
        caption: a line of text under the grid.

    Returns:
        ``path``.
    """
    from PIL import Image, ImageDraw

    from sketchart.strokes import strokes3_to_lines

    s = 3  # supersampling, for smooth lines
    rows = max(1, math.ceil(len(drawings) / cols))
    foot = 30 if caption else 0
    image = Image.new("RGB", (cols * cell * s, (rows * cell + foot) * s), "white")
    draw = ImageDraw.Draw(image)
    margin = 14 * s
    for k, strokes3 in enumerate(drawings):
        r, c = divmod(k, cols)
        ox, oy = c * cell * s, r * cell * s
        draw.rectangle([ox, oy, ox + cell * s - 1, oy + cell * s - 1], outline=_GRID, width=s)
        lines = strokes3_to_lines(np.asarray(strokes3, dtype=np.float64)) if len(strokes3) \
            else []
        if not lines:
            continue
        points = np.concatenate(lines)
        lo, hi = points.min(axis=0), points.max(axis=0)
        scale = (cell * s - 2 * margin) / float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-9))
        centre = (lo + hi) / 2
        for line in lines:
            xy = (line - centre) * scale + np.array([ox, oy]) + cell * s / 2
            coords = [(float(x), float(y)) for x, y in xy]
            if len(coords) == 1:
                x, y = coords[0]
                draw.ellipse([x - s, y - s, x + s, y + s], fill="black")
            else:
                draw.line(coords, fill="black", width=2 * s, joint="curve")
    if caption:
        draw.text((cols * cell * s / 2, (rows * cell + foot / 2) * s), caption, fill=_GREY,
                  font=_font(14 * s), anchor="mm")
    out = image.resize((cols * cell, rows * cell + foot), Image.Resampling.LANCZOS)
    path = Path(path)
    out.save(path, format="PNG", optimize=True)
    return path


# --------------------------------------------------------------------------- hardware
def hardware_description() -> str:
    """This machine: CPU model and logical cores, and NVIDIA GPUs when ``nvidia-smi`` sees
    any (e.g. ``"AMD EPYC, 2 CPU cores"``)."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine() or "unknown CPU"
    text = f"{cpu}, {os.cpu_count() or '?'} CPU cores"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False)
            gpus = [g.strip() for g in out.stdout.splitlines() if g.strip()]
        except (OSError, subprocess.SubprocessError):
            gpus = []
        if gpus:
            names = sorted(set(gpus))
            text += "; " + ", ".join(f"{gpus.count(n)}x {n}" for n in names)
    return text


# --------------------------------------------------------------------------- results
@dataclass
class ShipResult:
    """What :func:`ship` wrote and measured.

    Attributes:
        path: the shipped model directory.
        bytes: its size on disk.
        models_bytes: the whole models root's size after shipping.
        steps: the shipped model's step (best on validation).
        steps_trained: the run's last step.
        wall_time_s: training wall time (summed active spans of the event files).
        sessions: how many times the trainer was started or resumed.
        valid: valid ``r_cost``/``kl_cost``.
        test: test ``r_cost``/``kl_cost``.
        test_evaluated: the test costs were computed here (the run had not recorded them).
        command: the training command in the README.
        command_source: ``given``, ``recorded`` or ``reconstructed``.
        float16: measurements of float16 against float32 weights.
        datasets: source and licence of each training file.
        warnings: things a person should look at (size limit, missing data).
    """

    path: Path
    bytes: int
    models_bytes: int
    steps: int | None
    steps_trained: int | None
    wall_time_s: float | None
    sessions: int
    valid: dict[str, float] | None
    test: dict[str, float] | None
    test_evaluated: bool
    command: str
    command_source: str
    float16: dict[str, Any]
    datasets: list[DatasetInfo]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        parts = [(f"shipped {self.path} ({self.bytes / 1e6:.2f} MB; models/ now "
                 f"{self.models_bytes / 1e6:.2f} MB of {MODELS_SIZE_LIMIT / 1e6:.0f} MB)")]
        if self.steps is not None:
            parts.append(f"step {self.steps}")
        if self.test:
            parts.append(f"test r_cost {self.test['r_cost']:.4f} kl_cost "
                         f"{self.test['kl_cost']:.4f}")
        return "; ".join(parts)


# ------------------------------------------------------------------------- shipping
def _dir_bytes(path: Path, skip_hidden: bool = False) -> int:
    total = 0
    for p in path.rglob("*"):
        rel = p.relative_to(path)
        if skip_hidden and any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            total += p.stat().st_size
    return total


def _copy_best(best: Path, dest: Path) -> None:
    """Copy ``best/`` while a live trainer may swap it: copy again if it changed."""
    for _ in range(5):
        try:
            before = best.stat().st_ino
            shutil.copytree(best, dest)
            if best.stat().st_ino == before:
                return
        except FileNotFoundError:  # mid-swap (two-rename fallback): try again
            pass
        shutil.rmtree(dest, ignore_errors=True)
    raise ShipError(f"{best}: changed during every copy (the run keeps saving); try again")


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ShipError(
            f"model name {name!r}: use lowercase letters, digits, '-' and '_' (it is the "
            "folder name under models/ and the --category name)")


def _train_state(log_root: Path) -> dict[str, Any]:
    path = log_root / "last" / "train_state.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _data_files(log_root: Path, data_set: Sequence[str], state: dict[str, Any],
                data_dir: str | os.PathLike[str] | None) -> list[Path] | None:
    """The run's dataset files: ``data_dir`` when given, else where the run recorded them
    (relative to the log root). None when they cannot be found."""
    if data_dir is not None:
        from sketchart.download import resolve_data_set

        try:
            return [resolve_data_set(n, data_dir, download=False, progress=False)
                    for n in data_set]
        except SketchartError:
            return None
    paths = state.get("options", {}).get("data_paths", [])
    recorded = [(log_root / p).resolve() for p in paths]
    if recorded and len(recorded) == len(data_set) and all(p.is_file() for p in recorded):
        return recorded
    return None


def _format_hparam(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return value[0] if len(value) == 1 else "[" + ",".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _reconstruct_command(log_root: Path, hps: Any, state: dict[str, Any],
                         data_files: list[Path] | None) -> str:
    """A ``sketchart train`` line equivalent to the run, from what the log root records:
    the non-default hparams, the data folder, ``--bucketed`` and the seed."""
    from sketchart.hparams import HParams

    defaults = HParams().to_dict()
    values = hps.to_dict()
    if data_files is not None:
        from sketchart.data import load_datasets

        if values["max_seq_len"] == max(load_datasets(data_files).max_len(), 1):
            values["max_seq_len"] = defaults["max_seq_len"]  # derived from the data
    values["data_set"] = [Path(n).name for n in values["data_set"]]
    items = [f"{k}={_format_hparam(v)}" for k, v in values.items() if v != defaults[k]
             or k == "data_set"]
    cwd = Path.cwd()

    def rel(p: Path) -> str:
        r = os.path.relpath(p.resolve(), cwd)
        return r if not r.startswith("../../") else str(p)

    args = ["sketchart", "train", "--log-root", rel(log_root)]
    if data_files:
        args += ["--data-dir", rel(data_files[0].parent)]
    args += ["--hparams", ",".join(items)]
    options = state.get("options", {})
    if options.get("bucketed"):
        args.append("--bucketed")
    if "seed" in state:
        args += ["--seed", str(state["seed"])]
    return shlex.join(args)


def _hms(seconds: float) -> str:
    minutes = round(seconds / 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min" if m else f"{seconds:.0f} s"


def _forward_costs(model: Any, batch: Any) -> tuple[float, list[np.ndarray], Any]:
    """``(r_cost, mixture parameters, mu or None)`` of one deterministic forward pass
    (z = mu)."""
    import keras

    inputs = {"strokes5": batch.strokes5, "lengths": batch.lengths}
    eps = np.zeros((len(batch.lengths), model.hps.z_size), np.float32) \
        if model.hps.conditional else None
    out = model.losses_for(inputs, model.hps.kl_weight, eps=eps)
    params = [keras.ops.convert_to_numpy(p) for p in out["outputs"]["params"]]
    mu = out["outputs"].get("mu")
    return (float(keras.ops.convert_to_numpy(out["r_cost"])), params,
            None if mu is None else keras.ops.convert_to_numpy(mu))


def _float16_check(model32: Any, model16: Any, data_files: list[Path] | None
                   ) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Compare float16-stored weights (loaded as ``model16``) with the float32 originals:
    the weights, one deterministic forward pass over up to 100 test sketches (r_cost and
    mixture parameters, z = mu), and samples drawn with one seed.

    Returns:
        ``(measurements, the float16 model's samples)`` (the samples become sample.png).
    """
    from sketchart.sampling import sample

    w32 = [np.asarray(v.value) for v in model32.weights]
    w16 = [np.asarray(v.value) for v in model16.weights]
    pairs = [(a, b) for a, b in zip(w32, w16, strict=True) if a.size]
    out: dict[str, Any] = {
        "stored": "float16",
        "loaded_dtypes": sorted({str(v.dtype) for v in model16.weights}),
        "max_abs_weight_error": max(float(np.max(np.abs(a - b))) for a, b in pairs),
        "max_rel_weight_error": max(float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-3)))
                                    for a, b in pairs)}
    n, seed = SAMPLE_COUNT, SAMPLE_SEED
    drawn16 = sample(model16, n, SAMPLE_TEMPERATURE, seed=seed)
    drawn32 = sample(model32, n, SAMPLE_TEMPERATURE, seed=seed)
    same, prefix_err, fractions = 0, 0.0, []
    for x, y in zip(drawn32, drawn16, strict=True):
        longest = max(len(x), len(y))
        k = min(len(x), len(y))
        # leading points where both agree on the pen and stay within 1% of a typical step
        tol = max(0.01 * float(np.mean(np.abs(x[:, :2]))) if len(x) else 0.0, 1e-6)
        agree = 0
        while agree < k and x[agree, 2] == y[agree, 2] \
                and np.max(np.abs(x[agree, :2] - y[agree, :2])) <= tol:
            agree += 1
        fractions.append(agree / longest if longest else 1.0)
        if agree:
            prefix_err = max(prefix_err, float(np.max(np.abs(x[:agree, :2] - y[:agree, :2]))))
        same += int(len(x) == len(y) and agree == len(x))
    out.update({"samples": n, "temperature": SAMPLE_TEMPERATURE, "seed": seed,
                "samples_identical_in_tolerance": same,
                "mean_agreeing_fraction": float(np.mean(fractions)),
                "max_abs_offset_error_in_agreeing_prefix": prefix_err})
    if data_files:
        from sketchart.data import BatchLoader, load_npz

        sketches, labels = load_npz(data_files[0]).split("test")
        limit = model32.hps.max_seq_len
        keep = [i for i, s in enumerate(sketches) if len(s) <= limit][:100]
        if keep:
            loader = BatchLoader([sketches[i] for i in keep], np.asarray(labels)[keep],
                                 batch_size=len(keep), max_seq_len=limit,
                                 scale_factor=model32.meta.scale_factor or 1.0)
            batch = next(iter(loader.eval_batches()))
            r32, p32, mu32 = _forward_costs(model32, batch)
            r16, p16, mu16 = _forward_costs(model16, batch)
            # the steps that predict real points (and the end), relative to each
            # parameter's largest magnitude; the max and the 99.9th percentile, since a
            # layer-norm RNN can amplify rounding for the odd sketch
            real = np.arange(p32[0].shape[1])[None, :] <= batch.lengths[:, None]
            errors = np.concatenate([
                (np.abs(a - b)[real] / max(float(np.max(np.abs(a))), 1e-6)).ravel()
                for a, b in zip(p32, p16, strict=True)])
            out.update({"test_sketches": len(keep), "test_r_cost_mu_float32": r32,
                        "test_r_cost_mu_float16": r16,
                        "max_rel_mixture_param_error": float(errors.max()),
                        "p999_rel_mixture_param_error": float(np.quantile(errors, 0.999))})
            if mu32 is not None:
                moved = np.max(np.abs(mu32 - mu16), axis=1)
                out.update({"max_mu_error": float(moved.max()),
                            "median_mu_error": float(np.median(moved)),
                            "sketches_mu_moved_over_0.05": int(np.sum(moved > 0.05))})
    return out, drawn16


def _evaluate_test(model_dir: Path, data_files: list[Path]) -> dict[str, float]:
    """Test ``r_cost``/``kl_cost`` over all files, weighted by their sketches (the
    trainer's evaluation: sampled z, seed 0)."""
    from sketchart.train import evaluate_model

    totals = {"r_cost": 0.0, "kl_cost": 0.0}
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for path in data_files:
            result = evaluate_model(model_dir, path, "test")
            for k in totals:
                totals[k] += result[k] * result["sketches"]
            count += result["sketches"]
    return {k: v / max(count, 1) for k, v in totals.items()}


def ship(
    log_root: str | os.PathLike[str],
    name: str,
    models_root: str | os.PathLike[str] = "models",
    *,
    command: str | None = None,
    licence: str | None = None,
    hardware: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    float16: bool = True,
    force: bool = False,
    pause_gap_s: float = 900.0,
) -> ShipResult:
    """Ship a training run's best model as ``<models_root>/<name>/`` (module docstring).

    Args:
        log_root: a ``sketchart train`` log root (``best/``; ``last/`` and TensorBoard
            events for the run's history). Only read.
        name: the model's name (``sheep``, ``sheep-uncond``): its folder and the name
            ``--category`` resolves.
        models_root: the folder of shipped models.
        command: the exact training command for the README (default: recorded by the run,
            else reconstructed from its hparams and options, and marked so).
        licence: the training data's licence, for data this module does not know.
        hardware: what the run trained on (default: this machine, see
            :func:`hardware_description`).
        data_dir: where the run's dataset files are (default: where the run recorded
            them); needed only to evaluate missing test costs and for the float16 check.
        float16: store the weights as float16 (refused when that moves the deterministic
            test r_cost by more than ``FLOAT16_TOLERANCE``).
        force: replace an existing ``<models_root>/<name>`` (only once the new one is
            complete).
        pause_gap_s: silences in the event files longer than this are pauses, not work.

    Returns:
        A :class:`ShipResult`.

    Raises:
        ShipError: no ``best/`` model, an existing target without ``force``, a dataset of
            unknown licence without ``licence``, missing test costs and no dataset to
            evaluate them, float16 weights that change the results.
    """
    from sketchart.catalog import normalize_name
    from sketchart.hparams import HParams, HParamsError
    from sketchart.modeldir import (
        CONFIG_FILE,
        META_FILE,
        ModelDirError,
        is_model_dir,
        load_model_dir,
    )

    log_root = Path(log_root)
    _check_name(name)
    best = log_root / "best"
    if not log_root.is_dir():
        raise ShipError(f"{log_root}: no such training log root")
    if not is_model_dir(best):
        raise ShipError(f"{log_root}: no best/ model (a log root of `sketchart train` holds "
                        "best/ once the run has saved; train at least save_every steps)")
    try:  # the licence question first, before anything is loaded or written
        dataset_info(HParams.from_json(best / CONFIG_FILE).data_set, licence)
    except HParamsError as exc:
        raise ShipError(str(exc)) from None
    models_root = Path(models_root)
    target = models_root / name
    if target.exists() and not force:
        raise ShipError(f"{target} already exists; pass --force to replace it")
    if models_root.is_dir():
        # names resolve normalised (sheep-uncond == sheep_uncond): one folder per name
        key = normalize_name(name)
        twins = [p.name for p in models_root.iterdir() if p.name != name
                 and not p.name.startswith(".") and normalize_name(p.name) == key]
        if twins:
            raise ShipError(f"{models_root / twins[0]} already holds the model that "
                            f"--category {name} resolves to; remove it or ship as {twins[0]}")
    try:
        models_root.mkdir(parents=True, exist_ok=True)
        # a killed ship leaves its hidden staging folder: never packaged, removed here
        for leftover in models_root.glob(f"{_STAGING}{name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{name}.", dir=models_root))
    except OSError as exc:
        raise ShipError(f"models root {models_root} is not writable: "
                        f"{exc.strerror or exc}") from None
    try:
        best_copy = staging / "best"
        _copy_best(best, best_copy)
        try:
            model = load_model_dir(best_copy)
        except ModelDirError as exc:
            raise ShipError(f"{log_root}/best: {exc}") from None
        hps, meta = model.hps, model.meta
        datasets = dataset_info(hps.data_set, licence)
        state = _train_state(log_root)
        data_files = _data_files(log_root, hps.data_set, state, data_dir)
        notes: list[str] = []

        test_evaluated = False
        if not meta.test:
            if data_files is None:
                raise ShipError(
                    f"{log_root}/best/{META_FILE} records no test costs and the run's data "
                    "files are not where it recorded them; pass --data-dir to evaluate them")
            meta.test = _evaluate_test(best_copy, data_files)
            test_evaluated = True

        out_dir = staging / name
        from sketchart.modeldir import save_model_dir

        save_model_dir(model, out_dir, meta, float16=float16)
        shipped = load_model_dir(out_dir)
        if float16:
            check, drawings = _float16_check(model, shipped, data_files)
            if "test_r_cost_mu_float16" in check:
                delta = abs(check["test_r_cost_mu_float16"] - check["test_r_cost_mu_float32"])
                if delta > FLOAT16_TOLERANCE:
                    raise ShipError(
                        f"float16 weights change the test r_cost by {delta:.4f} (more than "
                        f"{FLOAT16_TOLERANCE}); ship with --float32")
            else:
                notes.append("float16 check without test data: samples only")
        else:
            from sketchart.sampling import sample

            check = {"loaded_dtypes": sorted({str(v.dtype) for v in model.weights}),
                     "stored": "float32"}
            drawings = sample(shipped, SAMPLE_COUNT, SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)

        events = read_events(log_root)
        known = [s for s in (state.get("step"), events.last_step()) if s is not None]
        steps_trained = max(known) if known else None
        sessions = sum(1 for s in events.sessions if len(s) > 1)
        wall = events.active_seconds(pause_gap_s) if events.sessions else None
        wall_to_best = (events.active_seconds(pause_gap_s, until_step=meta.steps)
                        if events.sessions and meta.steps is not None else None)
        if wall is None and "elapsed_s" in state:
            wall = float(state["elapsed_s"])
            notes.append("wall time from train_state.json (no TensorBoard events)")

        if command:
            command_source = "given"
        elif state.get("options", {}).get("command"):
            command, command_source = str(state["options"]["command"]), "recorded"
        else:
            command = _reconstruct_command(log_root, hps, state, data_files)
            command_source = "reconstructed"
            if any(os.path.isabs(arg) for arg in shlex.split(command)):
                notes.append("the reconstructed training command names absolute paths of "
                             "this machine; pass --command with the command as run")

        recorded_hw = state.get("options", {}).get("hardware")
        if hardware:
            hw, hw_source = hardware, "given"
        elif recorded_hw:
            hw, hw_source = str(recorded_hw), "recorded"
        else:
            hw, hw_source = hardware_description(), "detected when shipping"
        what = _what(hps, datasets)
        if events.scalars:
            render_curves(events, out_dir / "curves.png",
                          title=f"{name}: {what}, best at step {meta.steps}",
                          kl_floor=hps.kl_tolerance if hps.conditional else None)
        else:
            notes.append("no TensorBoard scalars in the log root: no curves.png")
        render_sketches(drawings, out_dir / "sample.png",
                        caption=f"{name}: {SAMPLE_COUNT} samples, T={SAMPLE_TEMPERATURE}, "
                                f"seed {SAMPLE_SEED}")

        facts = {
            "name": name, "draws": what, "conditional": bool(hps.conditional),
            "data": [d.__dict__ for d in datasets],
            "command": command, "command_source": command_source,
            "steps": meta.steps, "steps_trained": steps_trained,
            "wall_time_s": wall, "wall_time_to_best_s": wall_to_best, "sessions": sessions,
            "hardware": hw,
            "hardware_source": hw_source,
            "backend": state.get("options", {}).get("backend"),
            "bucketed": state.get("options", {}).get("bucketed"),
            "valid": meta.valid, "test": meta.test, "test_evaluated_when_shipping":
            test_evaluated, "float16": check,
            "sample": {"file": "sample.png", "count": SAMPLE_COUNT,
                       "temperature": SAMPLE_TEMPERATURE, "seed": SAMPLE_SEED},
            "sketchart_version": meta.sketchart_version, "keras_version": meta.keras_version,
        }
        (out_dir / "shipped.json").write_text(json.dumps(facts, indent=2) + "\n",
                                              encoding="utf-8")
        (out_dir / "README.md").write_text(_readme(facts, hps, meta, out_dir),
                                           encoding="utf-8")
        size = _dir_bytes(out_dir)

        # the usual permissions (mkdtemp made it private), then into place: swapped with
        # the old model (if any) in one atomic exchange where the system has one
        from sketchart.checkpoint import swap_dir

        umask = os.umask(0)
        os.umask(umask)
        os.chmod(out_dir, 0o777 & ~umask)
        swap_dir(out_dir, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    total = _dir_bytes(models_root, skip_hidden=True)
    if total > MODELS_SIZE_LIMIT:
        notes.append(f"{models_root} holds {total / 1e6:.1f} MB, over the "
                     f"{MODELS_SIZE_LIMIT / 1e6:.0f} MB limit")
    return ShipResult(path=target, bytes=size, models_bytes=total, steps=meta.steps,
                      steps_trained=steps_trained, wall_time_s=wall, sessions=sessions,
                      valid=meta.valid, test=meta.test, test_evaluated=test_evaluated,
                      command=command, command_source=command_source, float16=check,
                      datasets=datasets, warnings=notes)


# --------------------------------------------------------------------------- README
def _what(hps: Any, datasets: list[DatasetInfo]) -> str:
    kind = "conditional VAE" if hps.conditional else "decoder-only model"
    draws = " and ".join(dict.fromkeys(d.draws for d in datasets))
    return f"{kind} of {draws}"


def _cost(d: dict[str, float] | None, key: str) -> str:
    return f"{d[key]:.4f}" if d and key in d else "n/a"


def _readme(facts: dict[str, Any], hps: Any, meta: Any, out_dir: Path) -> str:
    name = facts["name"]
    lines = [f"# {name}: a Sketch-RNN {facts['draws']}", ""]
    for d in {d["key"]: d for d in facts["data"]}.values():
        lic = f"[{d['licence']}]({d['licence_url']})" if d["licence_url"] else d["licence"]
        if d["non_commercial"]:
            lines.append(f"> **Licence: {lic} - non-commercial use only.** Trained on "
                         f"{d['title']}; {d['terms']}")
        else:
            lines.append(f"> **Licence of the training data: {lic}.** Trained on "
                         f"{d['title']}" + (f"; {d['terms']}" if d["terms"] else "."))
        lines.append("")
    lines += ["![16 samples at temperature 0.4](sample.png)", "",
              (f"Samples at T={SAMPLE_TEMPERATURE} (seed {SAMPLE_SEED}, sketch-rnn-js "
               f"temperature convention), drawn from the shipped "
               f"{facts['float16'].get('stored', 'float16')} weights."),
              "", "## Use", "", "```sh",
              f"sketchart sample --category {name} -n 16 -t 0.4 -o {name}.svg",
              f"vpype sketchrnn-sample --category {name} -t 0.4 write {name}.svg",
              "```", "", "## Data", ""]
    for d in {d["key"]: d for d in facts["data"]}.values():
        lines.append(f"- **{d['title']}**")
        lines.append(f"  - source: {d['source']}")
        lic = f"{d['licence']} ({d['licence_url']})" if d["licence_url"] else d["licence"]
        lines.append(f"  - licence: {lic}" + (f"; {d['copyright']}" if d["copyright"] else ""))
    lines += ["", "## Model", ""]
    if hps.conditional:
        lines.append(f"- conditional VAE: encoder {hps.enc_model} {hps.enc_rnn_size} "
                     f"(bidirectional), z {hps.z_size}")
    else:
        lines.append("- decoder-only (unconditional)")
    lines += [f"- decoder {hps.dec_model} {hps.dec_rnn_size}, {hps.num_mixture} mixtures",
              f"- max_seq_len {meta.max_seq_len}, scale_factor "
              + (f"{meta.scale_factor:.4f}" if meta.scale_factor else "unknown"),
              f"- weights stored as float16 ({_weights_mb(out_dir)}), upcast to float32 "
              "on load" if facts["float16"].get("stored") != "float32"
              else f"- weights stored as float32 ({_weights_mb(out_dir)})", ""]
    lines += ["## Training", "", "```sh", facts["command"], "```", ""]
    if facts["command_source"] == "reconstructed":
        lines += [("(Reconstructed from the run's recorded hparams and options; the run did "
                  "not record its command line.)"), ""]
    steps = facts["steps"]
    trained = facts["steps_trained"]
    lines.append(f"- steps: {steps}" + (f" (best on validation, of {trained} trained)"
                                       if trained and trained != steps else ""))
    if facts["wall_time_s"] is not None:
        wall = f"- wall time: {_hms(facts['wall_time_s'])}"
        if facts["sessions"] > 1:
            wall += f" over {facts['sessions']} sessions (stopped and resumed)"
        if facts["wall_time_to_best_s"] is not None and trained != steps:
            wall += f"; {_hms(facts['wall_time_to_best_s'])} to step {steps}"
        lines.append(wall)
    lines.append(f"- hardware: {facts['hardware']}"
                 + (f"; Keras backend {facts['backend']}" if facts["backend"] else "")
                 + ("; length-bucketed batches" if facts["bucketed"] else ""))
    lines.append(f"- sketchart {facts['sketchart_version']}, Keras {facts['keras_version']}")
    how = (f"z sampled as the reference's evaluation does; kl_cost after the kl_tolerance "
           f"floor ({hps.kl_tolerance})" if hps.conditional
           else "decoder-only: no latent, so no KL term")
    lines += ["", "## Losses", "", f"At step {steps} ({how}).", "",
              "| split | r_cost | kl_cost |", "|---|---|---|",
              (f"| valid | {_cost(facts['valid'], 'r_cost')} | "
              f"{_cost(facts['valid'], 'kl_cost')} |"),
              (f"| test | {_cost(facts['test'], 'r_cost')} | "
              f"{_cost(facts['test'], 'kl_cost')} |"), ""]
    if facts["test_evaluated_when_shipping"]:
        lines += ["(Test costs evaluated when shipping; the run had not recorded them.)", ""]
    if (out_dir / "curves.png").exists():
        lines += ["![training curves](curves.png)", ""]
    f16 = facts["float16"]
    if "max_rel_weight_error" in f16:
        check = (f"Weights stored as float16 differ from the float32 originals by at most "
                 f"{f16['max_rel_weight_error']:.1e} (relative)")
        if "test_r_cost_mu_float16" in f16:
            mu = " with z = mu" if hps.conditional else ""
            check += (f"; on {f16['test_sketches']} test sketches{mu}, r_cost is "
                      f"{f16['test_r_cost_mu_float32']:.5f} (float32) and "
                      f"{f16['test_r_cost_mu_float16']:.5f} (float16); 99.9% of the mixture "
                      f"parameters of real points move by less than "
                      f"{f16['p999_rel_mixture_param_error']:.1e} of their largest magnitude "
                      f"(at most {f16['max_rel_mixture_param_error']:.1e})")
            if "max_mu_error" in f16:
                check += (f"; the encoding mu moves by {f16['median_mu_error']:.1e} (median), "
                          f"by more than 0.05 for {f16['sketches_mu_moved_over_0.05']} "
                          f"sketch(es), at most {f16['max_mu_error']:.2f}")
        check += (f"; {f16['samples']} samples at T={f16['temperature']} with one seed: "
                  f"{f16['mean_agreeing_fraction'] * 100:.0f}% of points agree")
        if f16["mean_agreeing_fraction"] < 1:
            check += (" (the rest follow a different random branch once rounding flips a "
                      "discrete choice)")
        check += "."
        lines += ["## float16 storage", "", check, ""]
    return "\n".join(lines)


def _weights_mb(out_dir: Path) -> str:
    from sketchart.modeldir import WEIGHTS_FILE

    path = out_dir / WEIGHTS_FILE
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.exists() else "?"
