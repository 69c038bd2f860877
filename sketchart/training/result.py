"""What a training run reports: :class:`TrainResult`, and :class:`TrainError` when it cannot
start or has to stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.util.durations import format_clock

__all__ = ["TrainError", "TrainInterrupted", "TrainResult"]


class TrainError(SketchartError):
    """Training cannot start or had to stop (bad setup, non-finite loss, full disk)."""


class TrainInterrupted(TrainError):
    """The user stopped the run (Ctrl-C); ``last/`` holds where it stopped.

    Attributes:
        step: the step reached.
        saved: whether ``last/`` holds that step (else an earlier one, or none).
    """

    #: a user's interrupt, as a shell reports one
    exit_code = 130

    def __init__(self, message: str, step: int, saved: bool) -> None:
        super().__init__(message)
        self.step, self.saved = step, saved


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        log_root: the run's folder (``best/``, ``last/``, TensorBoard events).
        steps: updates done in total (including those before a resume).
        wall_time_s: seconds spent in this call.
        total_time_s: training seconds over the whole run (earlier sessions included).
        best_valid: valid ``cost``/``r_cost``/``kl_cost`` of ``best/`` (None if none yet).
        best_step: the step ``best/`` was saved at.
        test: test losses of ``best/`` (None if not evaluated).
        history: one dict per evaluation (step, split, losses, kl_weight).
    """

    log_root: Path
    steps: int
    wall_time_s: float
    best_valid: dict[str, float] | None = None
    best_step: int | None = None
    test: dict[str, float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    total_time_s: float = 0.0

    def summary(self) -> str:
        """One line: steps, wall time, best valid cost, test cost."""
        parts = [f"{self.steps} steps in {format_clock(self.wall_time_s)}"]
        if self.best_valid is not None:
            parts.append(
                f"best valid cost {self.best_valid['cost']:.4f} "
                f"(r {self.best_valid['r_cost']:.4f}, kl {self.best_valid['kl_cost']:.4f}) "
                f"at step {self.best_step}")
        if self.test is not None:
            parts.append(f"test cost {self.test['cost']:.4f} (r {self.test['r_cost']:.4f}, "
                         f"kl {self.test['kl_cost']:.4f})")
        return "trained " + "; ".join(parts) + f"; saved in {self.log_root}"
