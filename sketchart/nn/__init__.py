"""The network: LSTM cells, the SketchRNN model, its losses and the Keras-backend switches.

Importing this package imports nothing heavy; its modules import Keras."""

from sketchart.util import quiet as _quiet

# TensorFlow's start-up chatter filtered for the Python API too (the CLI does the same)
_quiet.install()
