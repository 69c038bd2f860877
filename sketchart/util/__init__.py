"""Small jobs shared by several layers (atomic writes, downloads, rasterising, durations).

Standard library and NumPy only; nothing here imports another ``sketchart`` module except
:mod:`sketchart.errors`."""
