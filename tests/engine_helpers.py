"""Helpers for engine tests: small configurations and an event collector with bounded waits."""

from __future__ import annotations

import threading
from collections.abc import Callable

from gantui.config import Config
from gantui.presets import load_config
from gantui.protocol import Event


def smoke_config(*overrides: str) -> Config:
    """The bundled smoke preset (tiny MLPs on ring8) with ``--set``-style overrides."""
    return load_config("smoke", ["train.threads=1", *overrides])


class Events:
    """A thread-safe sink that records every event and lets a test wait for one, with a timeout."""

    def __init__(self) -> None:
        self.items: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], *, timeout: float = 20.0, after: int = 0) -> Event:
        """Return the first event at index >= ``after`` matching ``predicate``; fail after ``timeout``."""
        with self._cond:
            found: list[Event] = []

            def check() -> bool:
                found[:] = [e for e in self.items[after:] if predicate(e)][:1]
                return bool(found)

            if not self._cond.wait_for(check, timeout=timeout):
                kinds = [type(e).__name__ for e in self.items[after:]][-20:]
                raise AssertionError(f"no matching event within {timeout} s; last events: {kinds}")
            return found[0]

    def of(self, kind: type) -> list:
        with self._cond:
            return [e for e in self.items if isinstance(e, kind)]

    def __len__(self) -> int:
        with self._cond:
            return len(self.items)
