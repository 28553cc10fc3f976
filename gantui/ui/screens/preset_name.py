"""The `p` screen: ask for a preset name and check it is a safe file name."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import Function
from textual.widgets import Input, Static

from gantui.ui.intents import valid_preset_name

__all__ = ["PresetNameDialog"]


class PresetNameDialog(ModalScreen[str | None]):
    """Dismisses with a valid name on enter, or None on escape; an invalid name says why and stays."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="preset-box", classes="dialog"):
            yield Static(Text("Save the current settings as a preset", style="bold"), classes="dialog-title")
            yield Input(placeholder="name (letters, digits, _ . -)", id="preset-name",
                        validators=[Function(valid_preset_name, "use letters, digits, _ . - only")],
                        validate_on=["submitted"])
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
                Text(f"'{name}' is not a valid name: use letters, digits, _ . - only", style="red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
