"""One line above the plots: what part of the history they show, how smoothed, which scale, and the keys."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gantui.ui.view import ViewState

__all__ = ["ViewBar"]

_HINTS = "1/2/3/0 zoom · ←/→ scroll · e smooth · y log · m plots · x maximise"


class ViewBar(Static):
    DEFAULT_CSS = """
    ViewBar { height: 1; padding: 0 1; color: $text-muted; }
    """

    _shown: str | None = None

    def show(self, view: ViewState, logged: tuple[float, float] | None) -> None:
        what = view.describe(logged)
        if what == self._shown:
            return
        self._shown = what
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("view ", style="dim")
        line.append(what, style="bold" if (view.window or view.smoothing or view.log) else "")
        line.append("   " + _HINTS, style="dim")
        self.update(line, layout=False)
