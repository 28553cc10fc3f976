"""The `l` screen: every loss the engine knows, with its one-line description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gantui.text import printable

__all__ = ["LossPicker"]


class LossPicker(ModalScreen[str | None]):
    """Dismisses with the chosen loss name, or None on escape. The current loss is highlighted."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, losses: Mapping[str, str], current: str = "") -> None:
        super().__init__()
        self.losses = dict(losses)
        self.current = current

    def compose(self) -> ComposeResult:
        width = max((len(printable(name)) for name in self.losses), default=0)
        options = [
            Option(Text.assemble((printable(name).ljust(width), "bold"), "  ", (printable(desc), "dim"),
                                 ("  (current)", "italic") if name == self.current else ""), id=name)
            for name, desc in self.losses.items()
        ]
        with Vertical(id="loss-box", classes="dialog"):
            yield Static(Text("Loss (enter: switch, escape: cancel)", style="bold"), classes="dialog-title")
            yield OptionList(*options, id="loss-list")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        if self.current in self.losses:
            option_list.highlighted = list(self.losses).index(self.current)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
