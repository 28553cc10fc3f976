"""The one Textual message the trainer's events travel in."""

from __future__ import annotations

from textual.message import Message

from gantui.protocol import Event

__all__ = ["EngineEvent"]


class EngineEvent(Message):
    """A protocol event from the trainer thread, delivered on the app's own loop.

    The field is called ``event`` (not ``time``, which Textual's Message overwrites).
    """

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
