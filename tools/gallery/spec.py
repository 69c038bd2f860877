"""The gallery's specification: a declarative table of outputs.

Each :class:`GalleryEntry` names one output (``gallery/<name>.svg``, ``.png``, ``.json``,
and ``.gcode`` for print sheets): what it shows (``kind``), which model draws it (a name the
store resolves: a model shipped in ``models/`` or one of Google's sketch-rnn-js models), the
seed, the temperatures and the kind's own parameters. :data:`GALLERY` is the table that
``sketchart gallery build`` builds; tests build smaller tables of the same entries.

Kinds (see :mod:`tools.gallery.kinds` for how each is drawn):

* ``temperatures``: one row per temperature, ``columns`` samples each; every row uses the
  same seed, so a column shows the same random draws (and latent z) at rising temperature;
* ``samples``: a ``rows x columns`` grid at one temperature;
* ``interpolation``: per row, a test drawing, the decodes of ``steps`` latent vectors on
  the slerp path between it and a second test drawing, and that drawing;
* ``corners``: a ``rows x columns`` grid, bilinear in z between four test drawings;
* ``reconstruction``: per row, a test drawing and ``count`` decodes of its latent vector;
* ``completion``: per row, the first ``strokes`` strokes of a test drawing and ``count``
  continuations (the given strokes in red);
* ``print``: a ``corners`` grid laid out on a paper size, one pen (layer) per row,
  optimised for plotting, with G-code for a ``gwrite`` profile and plot-time estimates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sketchart.errors import SketchartError
from sketchart.generate.sampling import TEMPERATURE_MODES

__all__ = [
    "DATA_FILES",
    "DATA_KINDS",
    "GALLERY",
    "KINDS",
    "SOURCES",
    "TEMPERATURE_SWEEP",
    "VAE_KINDS",
    "GalleryEntry",
    "GallerySpecError",
    "select_entries",
    "validate_spec",
]

#: Kinds of output and the parameters each accepts (with their defaults).
KINDS: dict[str, dict[str, Any]] = {
    "temperatures": {"columns": 8},
    "samples": {"rows": 3, "columns": 8},
    "interpolation": {"pairs": [[0, 1]], "steps": 8, "method": "slerp"},
    "corners": {"corners": [0, 1, 2, 3], "rows": 5, "columns": 5},
    "reconstruction": {"indices": [0, 1, 2], "count": 4},
    "completion": {"indices": [0, 1, 2], "strokes": 2, "count": 8},
    "print": {
        "corners": [0, 1, 2, 3],
        "rows": 6,
        "columns": 8,
        "page": "a3",
        "landscape": True,
        "margin_mm": 15.0,
        "gap_mm": 6.0,
        "profile": "grbl-servo",
    },
}

#: Kinds that read test drawings from a data set (``GalleryEntry.data``).
DATA_KINDS = frozenset({"interpolation", "corners", "reconstruction", "completion", "print"})
#: Kinds that need a conditional (VAE) model.
VAE_KINDS = frozenset({"interpolation", "corners", "reconstruction", "print"})

#: Where an entry's model must come from: ``shipped`` (``models/<name>``: a bare name must
#: not fall through to Google's model of the same name, e.g. ``sheep``) or ``google``.
SOURCES = ("shipped", "google")

#: The data sets of the shipped models (files in the data directory).
DATA_FILES = {
    "sheep": "aaron_sheep.npz",
    "omniglot": "omniglot.npz",
    "kanji": "short_kanji.npz",
}

#: Temperatures of the ``temperatures`` grids: 0.1 to 1.0.
TEMPERATURE_SWEEP: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class GallerySpecError(SketchartError):
    """A gallery entry that is malformed, or a name that no entry has."""


@dataclass(frozen=True)
class GalleryEntry:
    """One output of the gallery.

    Attributes:
        name: file stem of the output (lower case, digits, dashes).
        kind: one of :data:`KINDS`.
        model: a model name the store resolves (``sheep``, ``flamingo``).
        title: short heading for the index.
        caption: what the output shows (one or two sentences).
        seed: seed of every random draw of the entry.
        temperatures: sampling temperatures (``temperatures`` kind: one row each; others
            use the first).
        source: ``shipped`` or ``google`` (see :data:`SOURCES`).
        data: data set file (``aaron_sheep.npz``) whose test split gives the drawings of
            data kinds.
        params: the kind's parameters; missing ones take :data:`KINDS` defaults.
        temperature_mode: sampling convention (``js``, ``paper``, ``reference``).
    """

    name: str
    kind: str
    model: str
    title: str
    caption: str
    seed: int = 0
    temperatures: tuple[float, ...] = (0.4,)
    source: str = "shipped"
    data: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    temperature_mode: str = "js"

    def param(self, key: str) -> Any:
        """A parameter of the entry, or the kind's default."""
        if key in self.params:
            return self.params[key]
        return KINDS[self.kind][key]

    def all_params(self) -> dict[str, Any]:
        """Every parameter of the kind, defaults filled in (what the JSON records)."""
        return {key: self.param(key) for key in KINDS[self.kind]}

    @property
    def temperature(self) -> float:
        """The entry's (first) temperature."""
        return self.temperatures[0]


def validate_spec(entries: Sequence[GalleryEntry]) -> None:
    """Check a table of entries: names, kinds, sources, parameters, data.

    Raises:
        GallerySpecError: one line naming the entry and the problem.
    """
    seen: set[str] = set()
    for e in entries:
        if not _NAME.match(e.name):
            raise GallerySpecError(
                f"gallery entry {e.name!r}: names are lower-case letters, digits and dashes"
            )
        if e.name in seen:
            raise GallerySpecError(f"gallery entry {e.name!r} appears twice")
        seen.add(e.name)
        if e.name == "index":
            raise GallerySpecError("gallery entry 'index' would overwrite index.html/json")
        if e.kind not in KINDS:
            raise GallerySpecError(
                f"gallery entry {e.name!r}: unknown kind {e.kind!r} (use {', '.join(KINDS)})"
            )
        if e.source not in SOURCES:
            raise GallerySpecError(
                f"gallery entry {e.name!r}: unknown source {e.source!r} (use shipped or "
                "google)"
            )
        unknown = sorted(set(e.params) - set(KINDS[e.kind]))
        if unknown:
            raise GallerySpecError(
                f"gallery entry {e.name!r}: unknown parameter {unknown[0]!r} for kind "
                f"{e.kind} (known: {', '.join(KINDS[e.kind])})"
            )
        if not e.temperatures or any(not t > 0 for t in e.temperatures):
            raise GallerySpecError(
                f"gallery entry {e.name!r}: temperatures must be positive, got "
                f"{list(e.temperatures)}"
            )
        if e.temperature_mode not in TEMPERATURE_MODES:
            raise GallerySpecError(
                f"gallery entry {e.name!r}: unknown temperature_mode {e.temperature_mode!r} "
                f"(use {', '.join(TEMPERATURE_MODES)})"
            )
        if e.kind in DATA_KINDS and not e.data:
            raise GallerySpecError(
                f"gallery entry {e.name!r}: kind {e.kind} draws from test drawings: set data"
            )


def select_entries(
    entries: Sequence[GalleryEntry], only: Iterable[str] | None
) -> list[GalleryEntry]:
    """The entries named in ``only`` (in table order), or all of them.

    Raises:
        GallerySpecError: a name that no entry has (the message lists the names).
    """
    if not only:
        return list(entries)
    wanted = list(dict.fromkeys(only))
    names = {e.name for e in entries}
    missing = [n for n in wanted if n not in names]
    if missing:
        raise GallerySpecError(
            f"no gallery entry named {missing[0]!r}; entries: "
            + ", ".join(e.name for e in entries)
        )
    return [e for e in entries if e.name in wanted]


# ------------------------------------------------------------------------- the table
_T_LOW = (0.1,)  # latent-space views decode near the mean, as the sketch-rnn notebook does

GALLERY: tuple[GalleryEntry, ...] = (
    # -- sample grids across temperatures, shipped models
    GalleryEntry(
        "sheep-temperatures",
        "temperatures",
        "sheep",
        "Sheep across temperatures",
        "Samples of the sheep VAE (random z) at temperatures 0.1 to 1.0, one row each; a "
        "column keeps the same z and random draws.",
        seed=1,
        temperatures=TEMPERATURE_SWEEP,
    ),
    GalleryEntry(
        "sheep-uncond-temperatures",
        "temperatures",
        "sheep-uncond",
        "Unconditional sheep across temperatures",
        "Samples of the decoder-only sheep model at temperatures 0.1 to 1.0, one row each.",
        seed=1,
        temperatures=TEMPERATURE_SWEEP,
    ),
    GalleryEntry(
        "omniglot-temperatures",
        "temperatures",
        "omniglot",
        "Omniglot across temperatures",
        "Invented characters from the omniglot VAE at temperatures 0.1 to 1.0.",
        seed=1,
        temperatures=TEMPERATURE_SWEEP,
    ),
    GalleryEntry(
        "kanji-temperatures",
        "temperatures",
        "kanji",
        "Kanji across temperatures",
        "Invented kanji from the short_kanji VAE at temperatures 0.1 to 1.0.",
        seed=1,
        temperatures=TEMPERATURE_SWEEP,
    ),
    # -- latent space
    GalleryEntry(
        "sheep-interpolation",
        "interpolation",
        "sheep",
        "Sheep interpolation",
        "Each row: a held-out test sheep (grey), 8 decodes along the slerp path between its "
        "latent vector and another's, and the other sheep (grey).",
        seed=2,
        temperatures=_T_LOW,
        data=DATA_FILES["sheep"],
        params={"pairs": [[1, 8], [9, 26], [17, 25]]},
    ),
    GalleryEntry(
        "omniglot-interpolation",
        "interpolation",
        "omniglot",
        "Omniglot interpolation",
        "Slerp between the latent vectors of held-out omniglot characters (grey, at the "
        "ends).",
        seed=2,
        temperatures=_T_LOW,
        data=DATA_FILES["omniglot"],
        params={"pairs": [[0, 2], [12, 28], [7, 29]]},
    ),
    GalleryEntry(
        "kanji-interpolation",
        "interpolation",
        "kanji",
        "Kanji interpolation",
        "Slerp between the latent vectors of held-out kanji (grey, at the ends).",
        seed=2,
        temperatures=_T_LOW,
        data=DATA_FILES["kanji"],
        params={"pairs": [[1, 9], [21, 27], [5, 31]]},
    ),
    GalleryEntry(
        "sheep-corners",
        "corners",
        "sheep",
        "Sheep latent grid",
        "A 5x5 grid bilinear in z between the latent vectors of four held-out test sheep "
        "(decoded at the corners).",
        seed=3,
        temperatures=_T_LOW,
        data=DATA_FILES["sheep"],
        params={"corners": [1, 8, 26, 27], "rows": 5, "columns": 5},
    ),
    GalleryEntry(
        "kanji-corners",
        "corners",
        "kanji",
        "Kanji latent grid",
        "A 5x5 grid bilinear in z between four held-out kanji.",
        seed=3,
        temperatures=_T_LOW,
        data=DATA_FILES["kanji"],
        params={"corners": [1, 9, 27, 31], "rows": 5, "columns": 5},
    ),
    # -- reconstructions of held-out test drawings
    GalleryEntry(
        "sheep-reconstructions",
        "reconstruction",
        "sheep",
        "Sheep reconstructions",
        "Each row: a held-out test sheep (grey) and 4 decodes of its latent vector (mu).",
        seed=4,
        temperatures=(0.2,),
        data=DATA_FILES["sheep"],
        params={"indices": [1, 7, 9, 15, 25, 27], "count": 4},
    ),
    GalleryEntry(
        "omniglot-reconstructions",
        "reconstruction",
        "omniglot",
        "Omniglot reconstructions",
        "Held-out omniglot characters (grey) and 4 decodes of each one's latent vector.",
        seed=4,
        temperatures=(0.2,),
        data=DATA_FILES["omniglot"],
        params={"indices": [0, 2, 7, 12, 28, 36], "count": 4},
    ),
    GalleryEntry(
        "kanji-reconstructions",
        "reconstruction",
        "kanji",
        "Kanji reconstructions",
        "Held-out kanji (grey) and 4 decodes of each one's latent vector.",
        seed=4,
        temperatures=(0.2,),
        data=DATA_FILES["kanji"],
        params={"indices": [1, 5, 9, 21, 27, 34], "count": 4},
    ),
    # -- completions of partial drawings
    GalleryEntry(
        "sheep-uncond-completions",
        "completion",
        "sheep-uncond",
        "Completing sheep",
        "Each row: the first 2 strokes of a held-out test sheep (red) and 8 continuations "
        "by the decoder-only sheep model.",
        seed=5,
        temperatures=(0.4,),
        data=DATA_FILES["sheep"],
        params={"indices": [1, 8, 26, 32], "strokes": 2, "count": 8},
    ),
    GalleryEntry(
        "sheep-completions",
        "completion",
        "sheep",
        "Completing sheep (VAE)",
        "The same partial sheep (red) continued by the sheep VAE, with z the partial "
        "drawing's own latent vector.",
        seed=5,
        temperatures=(0.4,),
        data=DATA_FILES["sheep"],
        params={"indices": [1, 8, 26, 32], "strokes": 2, "count": 8},
    ),
    GalleryEntry(
        "kanji-completions",
        "completion",
        "kanji",
        "Completing kanji",
        "The first 3 strokes of held-out kanji (red) and 8 continuations each.",
        seed=5,
        temperatures=(0.3,),
        data=DATA_FILES["kanji"],
        params={"indices": [1, 9, 21, 27], "strokes": 3, "count": 8},
    ),
    # -- Google's pretrained sketch-rnn-js models
    GalleryEntry(
        "google-flamingo-temperatures",
        "temperatures",
        "flamingo",
        "Google's flamingo across temperatures",
        "Google's pretrained flamingo (sketch-rnn-js) at temperatures 0.1 to 1.0.",
        seed=1,
        temperatures=TEMPERATURE_SWEEP,
        source="google",
    ),
    GalleryEntry(
        "google-owl",
        "samples",
        "owl",
        "Google's owl",
        "Google's pretrained owl at temperature 0.4.",
        seed=6,
        temperatures=(0.4,),
        source="google",
        params={"rows": 3, "columns": 8},
    ),
    GalleryEntry(
        "google-cat",
        "samples",
        "cat",
        "Google's cat",
        "Google's pretrained cat at temperature 0.4.",
        seed=6,
        temperatures=(0.4,),
        source="google",
        params={"rows": 3, "columns": 8},
    ),
    GalleryEntry(
        "google-bicycle",
        "samples",
        "bicycle",
        "Google's bicycle",
        "Google's pretrained bicycle at temperature 0.3.",
        seed=6,
        temperatures=(0.3,),
        source="google",
        params={"rows": 3, "columns": 8},
    ),
    GalleryEntry(
        "google-yoga",
        "samples",
        "yoga",
        "Google's yoga poses",
        "Google's pretrained yoga model at temperature 0.4.",
        seed=6,
        temperatures=(0.4,),
        source="google",
        params={"rows": 3, "columns": 8},
    ),
    # -- a print-ready sheet
    GalleryEntry(
        "sheep-print-a3",
        "print",
        "sheep",
        "A3 sheep grid for a pen plotter",
        "A 6x8 latent grid between four held-out sheep on A3 landscape, one pen colour "
        "(layer) per row, path order optimised; G-code for a GRBL servo plotter.",
        seed=7,
        temperatures=_T_LOW,
        data=DATA_FILES["sheep"],
        params={"corners": [7, 26, 15, 32], "rows": 6, "columns": 8},
    ),
)
