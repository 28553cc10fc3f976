"""The `p` screen: ask for a preset name the saver accepts (``gantui.presets.NAME_RE``, nothing else)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from gantui.presets import NAME_RE
from gantui.text import printable

__all__ = ["RULE", "PresetNameDialog", "valid_preset_name"]

RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def valid_preset_name(name: str) -> bool:
    """Exactly the names the preset saver accepts (a name becomes a file name and a --preset argument)."""
    return NAME_RE.fullmatch(name) is not None


class PresetNameDialog(ModalScreen[str | None]):
    """Dismisses with a valid name on enter, or None on escape; an invalid name says why and stays."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="preset-box", classes="dialog"):
            yield Static(Text("Save the current settings as a preset", style="bold"), classes="dialog-title")
            yield Input(placeholder=f"name: {RULE}", id="preset-name")
            yield Static("", id="preset-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if valid_preset_name(name):
            self.dismiss(name)
        else:
            self.query_one("#preset-error", Static).update(
                Text(f"'{printable(name)}' is not a valid name: use {RULE}", style="red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
