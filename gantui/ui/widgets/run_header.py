"""The top line: what runs where, how far it got, how fast, and whether it is running, paused or failed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from gantui.protocol import RunState
from gantui.text import printable

__all__ = ["HeaderFigures", "RunHeader", "format_elapsed"]

_STATUS_STYLE = {"running": "bold green", "paused": "bold yellow", "failed": "bold white on red",
                 "finished": "bold cyan"}


def format_elapsed(seconds: float) -> str:
    """``h:mm:ss`` of the trainer's own clock (``-`` when there is none)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class HeaderFigures:
    """What the trainer last reported about progress (see ``ui.clock``); NaN / -1 where nothing yet."""

    step: int = -1
    elapsed: float = math.nan
    rate: float = math.nan
    memory: bool = True  # show RunState.memory (False once the host line shows the device's memory)


class RunHeader(Static):
    """One line; every figure comes from the trainer's reports, never from the UI's own guesses."""

    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; padding: 0 1; }
    """

    _shown: Text | None = None

    def show(self, state: RunState | None, figures: HeaderFigures, *, failure: str = "",
             note: str = "") -> None:
        """Redraw from the reported state and figures, and any failure or quit note."""
        line = self.line(state, figures, failure=failure, note=note)
        if self._shown is not None and line.plain == self._shown.plain and line.spans == self._shown.spans:
            return  # called at every plot tick and state report: most calls change nothing
        self._shown = line
        self.update(line, layout=False)  # one fixed-height line: no layout pass for the screen

    @staticmethod
    def line(state: RunState | None, f: HeaderFigures, *, failure: str = "", note: str = "") -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if state is None:
            line.append("gantui · starting the trainer…", style="dim")
            return line
        step = max(state.step, f.step)
        memory = state.memory if f.memory else ""
        parts = [state.preset, state.dataset, state.device + (f" {memory}" if memory else "")]
        line.append(printable(" · ".join(p for p in parts if p)), style="bold")
        total = state.total_steps
        line.append(f"  step {step:,}" + (f"/{total:,}" if total > 0 else ""))
        status = state.status
        if status == "running":
            if math.isfinite(f.rate) and f.rate > 0:
                line.append(f"  {f.rate:,.1f} it/s" if f.rate < 1000 else f"  {f.rate:,.0f} it/s")
                if total > step:
                    line.append(f"  ETA {format_elapsed((total - step) / f.rate)}", style="dim")
            else:
                line.append("  measuring it/s…", style="dim")
        if math.isfinite(f.elapsed):
            line.append(f"  {format_elapsed(f.elapsed)}")
        line.append("  ")
        if failure:
            line.append(f" failed: {printable(failure)} ", style=_STATUS_STYLE["failed"])
        else:
            line.append(f" {status} ", style=_STATUS_STYLE.get(status, "bold"))
        if note:
            line.append(f"  {printable(note)}", style="italic")
        return line
