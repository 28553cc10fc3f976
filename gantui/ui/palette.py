"""The command palette's provider: every loss, every preset and every action, searchable by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gantui.protocol import SetLoss

if TYPE_CHECKING:
    from gantui.ui.app import GanApp

__all__ = ["ACTIONS", "GanCommands", "palette_entries"]

# (label, action string): the same actions the keys run, so the palette and the keys cannot disagree.
ACTIONS: tuple[tuple[str, str], ...] = (
    ("Pause / resume", "pause_or_resume"),
    ("Step: one iteration", "step('iteration')"),
    ("Step: one D-step", "step('d')"),
    ("Step: one G-step", "step('g')"),
    ("k + 1", "k(1)"),
    ("k − 1", "k(-1)"),
    ("Pick the loss…", "pick_loss"),
    ("D learning rate ×2", "lr('d', 2.0)"),
    ("D learning rate ×½", "lr('d', 0.5)"),
    ("G learning rate ×2", "lr('g', 2.0)"),
    ("G learning rate ×½", "lr('g', 0.5)"),
    ("Freeze / unfreeze D", "freeze('d')"),
    ("Freeze / unfreeze G", "freeze('g')"),
    ("Run the D-optimality probe", "probe"),
    ("Real samples on / off", "toggle_real"),
    ("Save a checkpoint", "save_checkpoint"),
    ("Roll back to the last good checkpoint", "rollback"),
    ("Save the settings as a preset…", "save_preset"),
    ("Help: keys", "help"),
    ("Quit (saving a final checkpoint)", "quit"),
)


def palette_entries(app: GanApp) -> list[tuple[str, Callable[[], object], str]]:
    """(text, callback, help) for every loss, preset and action of ``app``."""
    entries: list[tuple[str, Callable[[], object], str]] = []
    for name, description in app.losses.items():
        entries.append((f"Loss: {name} — {description}", partial(app.send_command, SetLoss(name)),
                        "switch the objective now"))
    for name in app.presets:
        entries.append((f"Preset: {name}", partial(app.ask_restart, name),
                        "end this run and start a new one from this preset"))
    for label, action in ACTIONS:
        entries.append((label, partial(app.run_action, action), f"action: {action}"))
    return entries


class GanCommands(Provider):
    """Fuzzy search over :func:`palette_entries`; with no query, all of them are listed."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in palette_entries(self.app):  # type: ignore[arg-type]
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)

    async def discover(self) -> Hits:
        for text, callback, help_text in palette_entries(self.app):  # type: ignore[arg-type]
            yield DiscoveryHit(text, callback, text=text, help=help_text)
