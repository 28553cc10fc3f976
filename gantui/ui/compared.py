"""Other runs drawn over this run's plots (``gantui view A B …``): their rows, names and colours.

A comparison is what the controller sends (:class:`~gantui.protocol.ComparedRows`), kept in bounded
histories of their own, like this run's. While there is one, every plot draws each run in one colour
(its series told apart by shade, the legend naming the run), and the time axis spans the longest run.
Markers, the log and the samples stay this run's.
"""

from __future__ import annotations

from dataclasses import dataclass

from gantui.protocol import ComparedRows
from gantui.ui.history import MetricsHistory
from gantui.ui.plot_specs import BLUE, CYAN, GREEN, MAGENTA, ORANGE, RED, RGB, YELLOW

__all__ = ["RUN_COLORS", "ComparedRun", "Comparison", "series_shade"]

RUN_COLORS: tuple[RGB, ...] = (BLUE, ORANGE, GREEN, MAGENTA, YELLOW, CYAN, RED)
_SHADES = (1.0, 0.62, 0.42)  # the j-th series of a plot keeps this much of its run's colour


def series_shade(color: RGB, j: int) -> RGB:
    """A run's colour for the ``j``-th series of a plot: darker for each further series."""
    keep = _SHADES[min(j, len(_SHADES) - 1)]
    return tuple(round(c * keep) for c in color)  # type: ignore[return-value]


@dataclass
class ComparedRun:
    label: str
    color: RGB
    history: MetricsHistory


class Comparison:
    """The other runs by index (1, 2, …), and what the legend calls this run (index 0)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.this_label = ""
        self.runs: dict[int, ComparedRun] = {}
        self.version = 0

    def __bool__(self) -> bool:
        return bool(self.runs)

    def add(self, event: ComparedRows) -> None:
        run = self.runs.get(event.index)
        if run is None:
            color = RUN_COLORS[event.index % len(RUN_COLORS)]
            run = self.runs[event.index] = ComparedRun(event.label, color, MetricsHistory(self.capacity))
        run.label = event.label
        self.this_label = event.this
        if len(event.values):
            run.history.extend(event.batch())
        self.version += 1

    @property
    def this_color(self) -> RGB:
        return RUN_COLORS[0]

    def ordered(self) -> list[ComparedRun]:
        return [self.runs[i] for i in sorted(self.runs)]

    def step_range(self) -> tuple[float, float] | None:
        """(first, last) step over the other runs, None while none has a row."""
        spans = [span for run in self.runs.values() if (span := run.history.step_range()) is not None]
        if not spans:
            return None
        return min(lo for lo, _hi in spans), max(hi for _lo, hi in spans)
