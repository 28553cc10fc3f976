"""Cadences for costly periodic measurements: every N iterations, but never more than a share of the time.

Counting in iterations alone makes a measurement's cost grow with the training speed: at CUDA-graph
speed a probe every 2 000 iterations would run every second. A :class:`Cadence` keeps the user's
"every N iterations" and adds a budget: a measurement that is due waits while the measurements so far
(plus the next one, priced at the last one's cost) would take more than ``budget`` of the run's time.
The first measurement is always due once its step is reached.
"""

from __future__ import annotations

__all__ = ["Cadence"]

EVAL_BUDGET_DEFAULT = 0.05


class Cadence:
    """When a periodic measurement is next due: ``every`` iterations apart, within ``budget`` of the time.

    ``now`` is the run's own clock. A measurement is due once ``every`` iterations have passed since
    the last one started, and only if, counting the last one's cost again, all measurements so far
    would stay within ``budget`` of the run's time: after one that took c seconds, at 5 % the next
    waits until the run is c / 0.05 seconds older per measurement done. On-demand ones count too (call
    :meth:`finished` for them as well), so asking for one never lets the periodic ones exceed the
    budget. (For image-quality evaluations, one-off preparation is not counted: it is cached.)
    """

    def __init__(self, every: int, *, budget: float = EVAL_BUDGET_DEFAULT) -> None:
        if every < 0 or not 0 < budget <= 1:
            raise ValueError(f"every = {every}, budget = {budget}: expected every >= 0 and 0 < budget <= 1")
        self.every, self.budget = every, budget
        self.next_step = every
        self.spent = 0.0  # seconds spent measuring so far
        self.last = 0.0  # what the last measurement cost: the estimate for the next

    def start_at(self, step: int) -> None:
        """The run (re)starts at ``step``: the next measurement is at the next multiple of ``every``."""
        self.next_step = (step // self.every + 1) * self.every if self.every else 0

    def due(self, step: int, now: float) -> bool:
        """Whether a periodic measurement should start now (never when ``every`` is 0)."""
        return self.every > 0 and step >= self.next_step and self.spent + self.last <= self.budget * now

    def finished(self, *, step: int, seconds: float) -> None:
        """Record a measurement started at ``step`` whose own work took ``seconds``."""
        if self.every:
            self.next_step = step + self.every
        self.spent += seconds
        self.last = seconds
