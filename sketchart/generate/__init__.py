"""Drawing from a trained model: the sampling API, its compiled loops and latent operations.

Importing this package imports nothing heavy; :mod:`sketchart.generate.sampling` imports
Keras."""
