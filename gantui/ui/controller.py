"""What the dashboard needs from whoever runs the trainer: start it, send it commands, wait for it.

The CLI wires the engine's runner behind this protocol (``LocalController``), ``gantui attach`` a run
in another process (``RemoteController``), ``gantui view`` a finished run folder (``FileController``);
tests use a fake that records commands. Keeping it a ``Protocol`` (not an engine class) is what lets
``gantui.ui`` run without torch. The app never asks which one it drives: what ``q`` and ``b`` mean
comes from ``quit_detaches`` and ``can_detach``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gantui.protocol import Command, Event

__all__ = ["Controller", "EventSink"]

EventSink = Callable[[Event], None]


class Controller(Protocol):
    """A trainer running somewhere that the controller reaches: a thread here, or another process.

    ``quit_detaches``: True where ``q`` leaves the run training (a viewer attached to a run in another
    process: stopping that run is then its own key, ``K``, behind a confirmation); False where ``q``
    ends the run with a final checkpoint (the local dashboard) or closes a read-only view.
    ``can_detach``: ``b`` can leave the run training in the background (a local run with a run folder
    is handed to a background process; a viewer just lets go); False for a finished run's view.
    """

    quit_detaches: bool
    can_detach: bool

    def start(self, sink: EventSink) -> None:
        """Start the trainer; every event it emits is passed to ``sink`` (from the trainer's thread)."""

    def send(self, command: Command) -> None:
        """Queue ``command``; the trainer applies it between steps and answers with events."""

    def detach(self) -> None:
        """Leave the run training: the controller answers with ``Finished`` once this end let it go
        (a local run first saves its final checkpoint for the background process to resume from)."""

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the trainer thread to end; True if it has ended."""
