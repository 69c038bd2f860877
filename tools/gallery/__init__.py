"""The gallery: a declarative table of drawings, built by ``sketchart gallery build``.

* :mod:`~tools.gallery.spec`: the table (:data:`GALLERY`) of :class:`GalleryEntry`;
* :mod:`~tools.gallery.kinds`: how each kind of entry is drawn (sampling calls);
* :mod:`~tools.gallery.sheet`: grid sheets, SVG (vpype) and PNG (pillow) output;
* :mod:`~tools.gallery.models`: the models a spec names (shipped, Google's, overrides);
* :mod:`~tools.gallery.folders`: temporary folders and the atomic swap;
* :mod:`~tools.gallery.build`: data, the build and the JSON records;
* :mod:`~tools.gallery.index`: ``index.html``;
* :mod:`~tools.gallery.browser`: a headless-Chromium check of the page.

Importing this package does not import Keras or TensorFlow; building does.
"""

from __future__ import annotations

from tools.gallery.build import (
    DEFAULT_DATA_DIR,
    BuildReport,
    GalleryError,
    build_gallery,
    default_data_dir,
    parse_model_overrides,
)
from tools.gallery.spec import GALLERY, KINDS, GalleryEntry, GallerySpecError

__all__ = [
    "DEFAULT_DATA_DIR",
    "GALLERY",
    "KINDS",
    "BuildReport",
    "GalleryEntry",
    "GalleryError",
    "GallerySpecError",
    "build_gallery",
    "default_data_dir",
    "parse_model_overrides",
]
