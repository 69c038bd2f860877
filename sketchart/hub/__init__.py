"""Models by name: the store (shipped, cached and downloaded models), Google's catalog and
the import of magenta checkpoints."""
