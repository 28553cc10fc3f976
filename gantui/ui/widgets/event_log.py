"""The event log: interventions, notices and failures (with their traceback), newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from gantui.protocol import Failure, Intervention, Notice

__all__ = ["EventLog"]

_INDENT = " " * 8  # the width of a step column entry ("  12,345 "): wrapped lines start under the text


class EventLog(RichLog):
    """A bounded log; each line starts with the trainer's step, never a wall-clock time."""

    DEFAULT_CSS = """
    EventLog { border: round $primary-darken-2; height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs) -> None:
        # min_width=1: RichLog renders every line at least 78 cells wide by default, which in a side
        # panel put the end of each long line behind a horizontal scrollbar instead of wrapping it.
        super().__init__(max_lines=1000, min_width=1, wrap=True, markup=False, highlight=False, **kwargs)
        self.border_title = "events"
        self._pending: list[tuple[Text | None, Text]] = []  # written before the panel had a width

    def _line(self, step: int | None, body: Text) -> None:
        """``body`` after the step (None: a continuation), wrapped under itself: the steps stay a column."""
        self._pending.append((Text(f"{step:>7,} " if step is not None else _INDENT, style="dim"), body))
        self._flush()

    def _raw(self, body: Text) -> None:
        """A line of its own (a traceback, a note), wrapped by RichLog from the left edge."""
        self._pending.append((None, body))
        self._flush()

    def _flush(self) -> None:
        # One column spare for the vertical scrollbar, which appears once the log fills the panel.
        width = self.scrollable_content_region.width - len(_INDENT) - 1
        if width < 12:  # not laid out yet: on_resize writes these
            return
        pending, self._pending = self._pending, []
        for prefix, body in pending:
            if prefix is None:
                self.write(body)
                continue
            for i, line in enumerate(body.wrap(self.app.console, width)):
                self.write(Text.assemble(prefix if i == 0 else _INDENT, line))

    def on_resize(self, event: Resize) -> None:  # RichLog's own handler runs as well (Textual walks the MRO)
        self._flush()

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
            self._line(None, Text(f"last good checkpoint: {event.checkpoint} (u: roll back)", style="red"))
        if event.detail:
            self._raw(Text(event.detail.rstrip(), style="dim red"))

    def note(self, text: str) -> None:
        """A line from the dashboard itself (e.g. 'saving final checkpoint…')."""
        self._raw(Text(text, style="italic"))
