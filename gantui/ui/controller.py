"""What the dashboard needs from whoever runs the trainer: start it, send it commands, wait for it.

The CLI wires the engine's runner behind this protocol; tests use a fake that records commands.
Keeping it a ``Protocol`` (not an engine class) is what lets ``gantui.ui`` run without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gantui.protocol import Command, Event

__all__ = ["Controller", "EventSink"]

EventSink = Callable[[Event], None]


class Controller(Protocol):
    """A trainer running in a background thread that the controller owns."""

    def start(self, sink: EventSink) -> None:
        """Start the trainer; every event it emits is passed to ``sink`` (from the trainer's thread)."""

    def send(self, command: Command) -> None:
        """Queue ``command``; the trainer applies it between steps and answers with events."""

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the trainer thread to end; True if it has ended."""
