"""The `m` screen: every plot the dashboard can show, ticked where it is on screen."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from gantui.text import printable

__all__ = ["MetricChooser"]


class MetricChooser(ModalScreen[set[str] | None]):
    """Dismisses with the ids of the plots to show (enter), or None (escape). Space ticks or unticks."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Show these", priority=True),
    ]

    def __init__(self, choices: list[tuple[str, str, str, bool]]) -> None:
        """``choices``: (plot id, title, columns it draws, shown now)."""
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        width = max((len(printable(title)) for _i, title, _c, _s in self.choices), default=0)
        selections = [Selection(Text.assemble((printable(title).ljust(width), "bold"), "  ",
                                              (printable(columns), "dim")), plot_id, shown)
                      for plot_id, title, columns, shown in self.choices]
        with Vertical(id="chooser-box", classes="dialog"):
            yield Static(Text("Plots (space: show / hide, enter: apply, escape: cancel)", style="bold"),
                         classes="dialog-title")
            yield SelectionList[str](*selections, id="chooser-list")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        self.dismiss(set(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)
