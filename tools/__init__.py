"""Release tooling, not installed with the package: shipping a trained model, building and
checking the gallery, charts and the TensorBoard event reader.

The ``sketchart models ship`` and ``sketchart gallery`` commands import these modules
lazily and work from a source checkout only."""
