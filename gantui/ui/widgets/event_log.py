"""The event log: interventions, notices and failures (with their traceback), newest at the bottom."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from gantui.protocol import Failure, Intervention, Notice

__all__ = ["EventLog"]

_MAX_ENTRIES = 1000


class EventLog(RichLog):
    """A bounded log; each line starts with the trainer's step, never a wall-clock time."""

    DEFAULT_CSS = """
    EventLog { border: round $primary-darken-2; height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs) -> None:
        # min_width=1: RichLog renders every line at least 78 cells wide by default, which in a side
        # panel put the end of each long line behind a horizontal scrollbar instead of wrapping it.
        super().__init__(max_lines=_MAX_ENTRIES * 4, min_width=1, wrap=True, markup=False, highlight=False,
                         **kwargs)
        self.border_title = "events"
        # What was logged, kept to wrap again when the width changes (RichLog wraps once, on write).
        self._entries: deque[tuple[int | None, Text]] = deque(maxlen=_MAX_ENTRIES)
        self._wrapped_at = 0  # the width the written lines were wrapped to (0: none written yet)

    def _text_width(self) -> int:
        # One column spare for the vertical scrollbar, which appears once the log fills the panel.
        return self.scrollable_content_region.width - 1

    def _add(self, step: int | None, body: Text) -> None:
        """Log ``body`` after ``step`` (None: a line of its own, from the left edge)."""
        self._entries.append((step, body))
        if self._wrapped_at and self._wrapped_at == self._text_width():
            self._write(step, body, self._wrapped_at)
        else:
            self._rewrap()

    def _write(self, step: int | None, body: Text, width: int) -> None:
        if step is None:
            self.write(body, width=width)
            return
        prefix = Text(f"{step:>7,} ", style="dim")  # wider past 999,999: the indent follows it
        indent = " " * prefix.cell_len
        for i, line in enumerate(body.wrap(self.app.console, max(width - prefix.cell_len, 8))):
            self.write(Text.assemble(prefix if i == 0 else indent, line), width=width)

    def _rewrap(self) -> None:
        width = self._text_width()
        if width < 20:  # not laid out yet (or hidden as too small): wrap when there is room
            return
        self.clear()
        self._wrapped_at = width
        for step, body in self._entries:
            self._write(step, body, width)

    def on_resize(self, event: Resize) -> None:  # RichLog's own handler runs as well (Textual walks the MRO)
        if self._text_width() != self._wrapped_at:
            self._rewrap()

    def intervention(self, event: Intervention) -> None:
        # The runner's details often name the kind already ("k = 3"): then the detail alone says it.
        if event.kind.lower() in event.detail.lower():
            self._add(event.step, Text(event.detail, style="cyan"))
        else:
            self._add(event.step, Text.assemble((event.kind, "bold cyan"), " ", event.detail))

    def notice(self, event: Notice) -> None:
        style = "yellow" if event.level == "warning" else ""
        self._add(event.step, Text(event.message, style=style))

    def failure(self, event: Failure) -> None:
        self._add(event.step, Text(f"FAILED: {event.message}", style="bold red"))
        if event.checkpoint:
            self._add(None, Text(f"        last good checkpoint: {event.checkpoint} (u: roll back)",
                                 style="red"))
        if event.detail:
            self._add(None, Text(event.detail.rstrip(), style="dim red"))

    def note(self, text: str) -> None:
        """A line from the dashboard itself (e.g. 'saving final checkpoint…')."""
        self._add(None, Text(text, style="italic"))
