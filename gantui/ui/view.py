"""How the user looks at the history: which steps, how smoothed, which scale. Pure state, no Textual.

The plots and the compact view read one :class:`ViewState`; keys and the mouse change it. By default
the view shows the whole run and follows the newest row; zooming shows the last 1 k / 10 k / 100 k
iterations; scrolling moves the window back and forward by half its width (and leaves "follow"
until it reaches the newest row again); reset returns to the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["SMOOTHING", "WINDOWS", "Frame", "ViewState", "format_steps"]

WINDOWS = (0, 100_000, 10_000, 1_000)  # iterations shown, widest first; 0 = the whole run
SMOOTHING = (0.0, 0.6, 0.9, 0.99)  # TensorBoard's EMA weights: 0 is raw


def format_steps(steps: float) -> str:
    """``1k``, ``10k``, ``1.5M``: a count of iterations in a few characters."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(steps) >= size:
            value = steps / size
            return f"{value:.0f}{suffix}" if value == round(value) or value >= 100 else f"{value:.1f}{suffix}"
    return f"{steps:.0f}"


class Frame(NamedTuple):
    """What one redraw of the plots shows: the steps, the loss they are read under, smoothing, scale."""

    range: tuple[float, float] | None  # (first, last) step shown; None before the first row
    loss: str
    critic: bool
    smoothing: float
    log: bool


@dataclass
class ViewState:
    """Window (iterations, 0 = all), right edge (None = follow the newest), smoothing, log scale."""

    window: int = 0
    end: float | None = None
    smoothing: float = 0.0
    log: bool = False
    version: int = field(default=0, compare=False)

    def _changed(self) -> None:
        self.version += 1

    @property
    def following(self) -> bool:
        return self.end is None

    def range(self, logged: tuple[float, float] | None) -> tuple[float, float] | None:
        """The steps shown, given the (first, last) step kept; None before the first row."""
        if logged is None:
            return None
        first, last = logged
        hi = last if self.end is None else min(max(self.end, first), last)
        lo = max(first, hi - self.window) if self.window else first
        if self.window and hi - lo < self.window:  # near the start: show a full window from it
            hi = min(last, lo + self.window)
        return lo, hi

    # --- zoom -----------------------------------------------------------------------------------
    def zoom(self, window: int, logged: tuple[float, float] | None = None) -> None:
        """Show the last ``window`` iterations of the current view (0: the whole run, following)."""
        if window == 0:
            self.window, self.end = 0, None
        else:
            shown = self.range(logged)
            if self.end is not None and shown is not None:  # keep the middle of what is shown
                middle = (shown[0] + shown[1]) / 2
                self.end = middle + window / 2
                if logged is not None and self.end >= logged[1]:
                    self.end = None
            self.window = window
        self._changed()

    def zoom_in(self, logged: tuple[float, float] | None = None) -> None:
        i = WINDOWS.index(self.window) if self.window in WINDOWS else 0
        self.zoom(WINDOWS[min(i + 1, len(WINDOWS) - 1)], logged)

    def zoom_out(self, logged: tuple[float, float] | None = None) -> None:
        i = WINDOWS.index(self.window) if self.window in WINDOWS else len(WINDOWS) - 1
        self.zoom(WINDOWS[max(i - 1, 0)], logged)

    # --- scroll ---------------------------------------------------------------------------------
    def scroll(self, direction: int, logged: tuple[float, float] | None) -> bool:
        """Move half a window back (-1) or forward (+1); False when there is nowhere to go."""
        shown = self.range(logged)
        if not self.window or shown is None or logged is None:
            return False
        first, last = logged
        end = shown[1] + direction * self.window / 2
        end = max(end, min(first + self.window, last))
        if end >= last:
            moved = self.end is not None
            self.end = None
        else:
            moved = end != shown[1]
            self.end = end
        if moved:
            self._changed()
        return moved

    def follow(self) -> None:
        self.end = None
        self._changed()

    def to_start(self, logged: tuple[float, float] | None) -> None:
        if logged is not None and self.window:
            self.end = min(logged[0] + self.window, logged[1])
            if self.end >= logged[1]:
                self.end = None
            self._changed()

    # --- smoothing and scale ----------------------------------------------------------------------
    def cycle_smoothing(self) -> float:
        i = SMOOTHING.index(self.smoothing) if self.smoothing in SMOOTHING else 0
        self.smoothing = SMOOTHING[(i + 1) % len(SMOOTHING)]
        self._changed()
        return self.smoothing

    def toggle_log(self) -> bool:
        self.log = not self.log
        self._changed()
        return self.log

    def reset(self) -> None:
        """The default view: the whole run, following the newest row, raw, linear."""
        self.window, self.end, self.smoothing, self.log = 0, None, 0.0, False
        self._changed()

    def describe(self, logged: tuple[float, float] | None = None) -> str:
        """One line for the screen: ``last 10k it · following · EMA 0.9 · log y``."""
        what = f"last {format_steps(self.window)} it" if self.window else "whole run"
        if self.end is not None:
            shown = self.range(logged)
            where = f"steps {shown[0]:,.0f}–{shown[1]:,.0f}" if shown else "scrolled back"
            what = f"{format_steps(self.window)} it, {where} (end: follow)"
        else:
            what += " · following"
        smooth = f"EMA {self.smoothing:g}" if self.smoothing else "raw"
        scale = "log y" if self.log else "linear y"
        return f"{what} · {smooth} · {scale}"

