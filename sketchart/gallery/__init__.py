"""The gallery: a declarative table of drawings, built by ``sketchart gallery build``.

* :mod:`~sketchart.gallery.spec`: the table (:data:`GALLERY`) of :class:`GalleryEntry`;
* :mod:`~sketchart.gallery.kinds`: how each kind of entry is drawn (sampling calls);
* :mod:`~sketchart.gallery.sheet`: grid sheets, SVG (vpype) and PNG (pillow) output;
* :mod:`~sketchart.gallery.models`: the models a spec names (shipped, Google's, overrides);
* :mod:`~sketchart.gallery.folders`: temporary folders and the atomic swap;
* :mod:`~sketchart.gallery.build`: data, the build and the JSON records;
* :mod:`~sketchart.gallery.index`: ``index.html``;
* :mod:`~sketchart.gallery.browser`: a headless-Chromium check of the page.

Importing this package does not import Keras or TensorFlow; building does.
"""

from __future__ import annotations

from sketchart.gallery.build import (
    DEFAULT_DATA_DIR,
    BuildReport,
    GalleryError,
    build_gallery,
    default_data_dir,
    parse_model_overrides,
)
from sketchart.gallery.spec import GALLERY, KINDS, GalleryEntry, GallerySpecError

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
