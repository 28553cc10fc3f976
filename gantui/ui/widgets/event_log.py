"""The event log: interventions, notices and failures (with their traceback), newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from gantui.protocol import Failure, Intervention, Notice

__all__ = ["EventLog"]


class EventLog(RichLog):
    """A bounded log; each line starts with the trainer's step, never a wall-clock time."""

    DEFAULT_CSS = """
    EventLog { border: round $primary-darken-2; height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=1000, wrap=True, markup=False, highlight=False, **kwargs)
        self.border_title = "events"

    def _line(self, step: int, body: Text) -> None:
        self.write(Text.assemble((f"{step:>7,} ", "dim"), body))

    def intervention(self, event: Intervention) -> None:
        # The runner's details often name the kind already ("k = 3"): then the detail alone says it.
        if event.kind.lower() in event.detail.lower():
            self._line(event.step, Text(event.detail, style="cyan"))
        else:
            self._line(event.step, Text.assemble((event.kind, "bold cyan"), " ", event.detail))

    def notice(self, event: Notice) -> None:
        style = "yellow" if event.level == "warning" else ""
        self._line(event.step, Text(event.message, style=style))

    def failure(self, event: Failure) -> None:
        self._line(event.step, Text(f"FAILED: {event.message}", style="bold red"))
        if event.checkpoint:
            self.write(Text(f"        last good checkpoint: {event.checkpoint} (u: roll back)", style="red"))
        if event.detail:
            self.write(Text(event.detail.rstrip(), style="dim red"))

    def note(self, text: str) -> None:
        """A line from the dashboard itself (e.g. 'saving final checkpoint…')."""
        self.write(Text(text, style="italic"))
