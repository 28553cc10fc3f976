"""A runner that also serves: the Controller the local dashboard (or the headless loop) drives.

``ServedRunner(runner, server)`` starts the runner with a sink that fans each event out to the local
display and to the server, so wiring a served run is one line where the runner was passed before.
The local sink can be swapped later (a dashboard that detaches to the background hands its events
to a log instead) without touching the trainer's thread: the swap is one attribute assignment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from gantui.protocol import Command, Event

__all__ = ["ServedRunner"]


class _Runner(Protocol):
    def start(self, sink: Callable[[Event], None]) -> None: ...
    def send(self, command: Command, *, origin: str = "") -> None: ...
    def join(self, timeout: float) -> bool: ...


class ServedRunner:
    """``start(sink)``, ``send(command)``, ``join(timeout)`` as the runner's, events also to ``server``."""

    def __init__(self, runner: _Runner, server: Any) -> None:
        self.runner = runner
        self.server = server
        self._local: Callable[[Event], None] = lambda event: None

    def start(self, sink: Callable[[Event], None]) -> None:
        self._local = sink
        self.runner.start(self._fan_out)

    def set_local(self, sink: Callable[[Event], None]) -> None:
        """Send the local display's share of the events to ``sink`` from now on."""
        self._local = sink

    def _fan_out(self, event: Event) -> None:
        with contextlib.suppress(Exception):  # a broken local display must not cost the viewers
            self._local(event)
        self.server.publish(event)

    def send(self, command: Command, *, origin: str = "") -> None:
        self.runner.send(command, origin=origin)

    def join(self, timeout: float) -> bool:
        return self.runner.join(timeout)
