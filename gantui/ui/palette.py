"""The command palette's provider: every loss, preset, plot and action, searchable by name.

The provider depends on :class:`PaletteHost`, the few things it needs from the app, not on the app
class itself (which imports this module to register the provider).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gantui.protocol import Command, SetLoss
from gantui.text import printable

__all__ = ["ACTIONS", "GanCommands", "PaletteHost", "palette_entries"]

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
    ("Evaluate image quality now", "evaluate"),
    ("Real samples on / off", "toggle_real"),
    ("Save a checkpoint", "save_checkpoint"),
    ("Roll back to the last good checkpoint", "rollback"),
    ("Save the settings as a preset…", "save_preset"),
    ("View: the last 1k iterations", "zoom(1000)"),
    ("View: the last 10k iterations", "zoom(10000)"),
    ("View: the last 100k iterations", "zoom(100000)"),
    ("View: reset (whole run, following, raw, linear)", "reset_view"),
    ("View: smoothing 0 / 0.6 / 0.9 / 0.99", "smooth"),
    ("View: log / linear y scale", "log_scale"),
    ("View: choose the plots…", "choose_plots"),
    ("View: maximise / restore the selected panel", "maximise"),
    ("Help: keys", "help"),
    ("Quit (saving a final checkpoint; a viewer detaches)", "close"),
    ("Detach: the run goes on training in the background", "detach"),
    ("Stop the run (in an attached viewer; asks first)", "stop_run"),
)


class PaletteHost(Protocol):
    """What the palette needs from the dashboard."""

    losses: Mapping[str, str]  # name -> the loss's own description
    presets: Sequence[str]
    saved_presets: set[str]  # presets saved during this run

    def current_loss(self) -> str: ...

    def send_command(self, command: Command) -> None: ...

    def ask_restart(self, preset: str) -> None: ...

    def run_action(self, action: str) -> Any: ...

    def plot_choices(self) -> list[tuple[str, str, bool]]:
        """(plot id, title, shown) of every plot the user can choose."""
        ...

    def toggle_plot(self, plot_id: str) -> None: ...


def palette_entries(host: PaletteHost) -> list[tuple[str, Callable[[], object], str]]:
    """(text, callback, help) for every loss, preset, plot and action of ``host``."""
    entries: list[tuple[str, Callable[[], object], str]] = []
    current = host.current_loss()
    for name, description in host.losses.items():
        mark = "  ● current" if name == current else ""
        entries.append((f"Loss: {printable(name)}{mark}", partial(host.send_command, SetLoss(name)),
                        printable(description)))
    for name in host.presets:
        mark = "  (saved this run)" if name in host.saved_presets else ""
        entries.append((f"Preset: {printable(name)}{mark}", partial(host.ask_restart, name),
                        "end this run and start a new one from this preset"))
    for plot_id, title, shown in host.plot_choices():
        entries.append((f"Plot: {'hide' if shown else 'show'} {printable(title)}",
                        partial(host.toggle_plot, plot_id), "on screen now" if shown else "not on screen"))
    for label, action in ACTIONS:
        entries.append((label, partial(host.run_action, action), f"action: {action}"))
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
