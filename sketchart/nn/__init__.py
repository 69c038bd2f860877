"""The network: LSTM cells, the SketchRNN model, its losses and the Keras-backend switches.

Importing this package imports nothing heavy; its modules import Keras."""
