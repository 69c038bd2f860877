"""Training: the trainer, the compiled training step, checkpoints and the TensorBoard log.

(Named ``training`` rather than ``train`` so that ``sketchart.train``, the public training
function, is never shadowed by a subpackage of the same name.)"""

from sketchart.util import quiet as _quiet

# TensorFlow's start-up chatter filtered for the Python API too (the CLI does the same)
_quiet.install()
