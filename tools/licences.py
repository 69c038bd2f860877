"""Where each training set comes from and under which licence (for a shipped model's README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ShipError

__all__ = ["DATASETS", "DatasetInfo", "dataset_info"]


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
    from sketchart.data.quickdraw import category_name

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
