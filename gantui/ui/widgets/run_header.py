"""The top line: what runs where, how far it got and whether it is running, paused or failed."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from gantui.protocol import RunState

__all__ = ["RunHeader", "format_elapsed"]

_STATUS_STYLE = {"running": "bold green", "paused": "bold yellow", "failed": "bold white on red",
                 "finished": "bold cyan"}


def format_elapsed(seconds: float) -> str:
    """``h:mm:ss`` of the trainer's own clock (the metrics' ``t``), or ``-`` before the first row."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class RunHeader(Static):
    """One line; every figure comes from the trainer's reports, never from the UI's clock."""

    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; padding: 0 1; }
    """

    _shown: Text | None = None

    def show(self, state: RunState | None, *, step: float, t: float, steps_per_sec: float,
             failure: str = "", note: str = "") -> None:
        """Redraw from the reported state, the latest metric row and any failure or quit note."""
        line = self._line(state, step=step, t=t, steps_per_sec=steps_per_sec, failure=failure, note=note)
        if self._shown is not None and line.plain == self._shown.plain and line.spans == self._shown.spans:
            return  # called at every plot tick and state report: most calls change nothing
        self._shown = line
        self.update(line, layout=False)  # one fixed-height line: no layout pass for the screen

    @staticmethod
    def _line(state: RunState | None, *, step: float, t: float, steps_per_sec: float, failure: str,
              note: str) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if state is None:
            line.append("gantui · waiting for the trainer…", style="dim")
            return line
        shown_step = max(state.step, int(step)) if math.isfinite(step) else state.step
        parts = [state.preset, state.dataset, state.device + (f" {state.memory}" if state.memory else "")]
        line.append(" · ".join(p for p in parts if p), style="bold")
        line.append(f"  step {shown_step:,}")
        if math.isfinite(steps_per_sec):
            line.append(f"  {steps_per_sec:,.1f} it/s")
        line.append(f"  {format_elapsed(t)}  ")
        status = state.status
        if failure:
            line.append(f" failed: {failure} ", style=_STATUS_STYLE["failed"])
        else:
            line.append(f" {status} ", style=_STATUS_STYLE.get(status, "bold"))
        if note:
            line.append(f"  {note}", style="italic")
        return line
