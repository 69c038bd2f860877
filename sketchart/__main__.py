"""``python -m sketchart`` runs the command-line interface."""

from __future__ import annotations

from sketchart.cli import main

if __name__ == "__main__":
    main()
