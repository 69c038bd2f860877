"""Training data: safe ``.npz`` reading, datasets and batches, importers, simplification,
QuickDraw downloads. NumPy and the standard library only."""
