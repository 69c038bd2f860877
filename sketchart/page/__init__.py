"""The page: fitting drawings into grids and layers of a vpype ``Document``. No TensorFlow."""
