"""The event log: interventions, alerts, notices and failures (with their traceback), newest at the bottom.

A line that is also a marker on the plots starts with the marker's number in the marker's colour
(``#7``), so the two can be matched at a glance. Everything shown that came from a user or a file
(details, messages, paths) passes through ``printable``: a control character cannot reach the terminal.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from gantui.protocol import Alert, Failure, HistoryReset, Intervention, Notice
from gantui.text import printable
from gantui.ui.markers import Marker
from gantui.ui.render.markers import kind_color

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

    @staticmethod
    def _number(marker: Marker | None) -> Text:
        if marker is None:
            return Text()
        return Text(f"#{marker.number} ", style="bold #{:02x}{:02x}{:02x}".format(*kind_color(marker.kind)))

    def intervention(self, event: Intervention, marker: Marker | None = None) -> None:
        detail, kind = printable(event.detail), printable(event.kind)
        # The runner's details often name the kind already ("k = 3"): then the detail alone says it.
        if kind.lower() in detail.lower():
            body = Text(detail, style="cyan")
        else:
            body = Text.assemble((kind, "bold cyan"), " ", (detail, "cyan"))
        if event.origin:
            body.append(f"  (by {printable(event.origin)})", style="dim")
        self._add(event.step, Text.assemble(self._number(marker), body))

    def alert(self, event: Alert, marker: Marker | None = None) -> None:
        title = printable(event.title)
        if not event.active:
            why = f" ({printable(event.message)})" if event.message and event.message != "cleared" else ""
            self._add(event.step, Text(f"✓ cleared: {title}{why}", style="green"))
            return
        body = Text.assemble(self._number(marker), (f"⚠ {title}", "bold #ffaa28"))
        if event.message:
            body.append(f": {printable(event.message)}")
        if event.suggestion:
            body.append(f" → {printable(event.suggestion)}", style="italic")
        self._add(event.step, body)

    def reset(self, event: HistoryReset) -> None:
        self._add(event.step, Text(f"history reset to step {event.step:,}: {printable(event.reason)}; "
                                   "later rows and markers are forgotten", style="yellow"))

    def notice(self, event: Notice) -> None:
        style = "yellow" if event.level == "warning" else ""
        self._add(event.step, Text(printable(event.message), style=style))

    def failure(self, event: Failure) -> None:
        self._add(event.step, Text(f"FAILED: {printable(event.message)}", style="bold red"))
        if event.checkpoint:
            where = printable(event.checkpoint)
            self._add(None, Text(f"        last good checkpoint: {where} (u: roll back)", style="red"))
        if event.detail:
            lines = "\n".join(printable(line) for line in event.detail.rstrip().splitlines())
            self._add(None, Text(lines, style="dim red"))

    def note(self, text: str) -> None:
        """A line from the dashboard itself (e.g. 'saving final checkpoint…')."""
        self._add(None, Text(printable(text), style="italic"))
