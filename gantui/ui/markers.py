"""Intervention and alert markers: what the plots draw as labelled vertical lines, numbered like the log."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import NamedTuple

from gantui.protocol import Alert, Intervention

__all__ = ["Marker", "Markers"]


class Marker(NamedTuple):
    """A vertical line on every plot, numbered like its line in the event log."""

    number: int
    step: int
    kind: str  # an Intervention's kind, or "alert"
    label: str  # what the plot writes beside the line
    detail: str


class Markers:
    """The last ``maxlen`` interventions and alerts, oldest first, numbered from 1 in order of arrival.

    Numbers are never reused, so a log line's ``#7`` names the same marker after a rollback dropped
    later ones. After :meth:`truncate`, the trainer re-sends the markers it kept: those already here
    are recognised and not added twice.
    """

    def __init__(self, maxlen: int = 500) -> None:
        self._markers: deque[Marker] = deque(maxlen=maxlen)
        self._replay: Counter[tuple[int, str, str, str]] = Counter()
        self._next = 1
        self.version = 0

    def add(self, step: int, kind: str, label: str, detail: str) -> Marker | None:
        """Add a marker; None when it is one already kept that the trainer re-sent after a rollback."""
        label = label or kind
        key = (int(step), kind, label, detail)
        if self._replay[key] > 0:
            self._replay[key] -= 1
            return None
        marker = Marker(self._next, int(step), kind, label, detail)
        self._next += 1
        self._markers.append(marker)
        self.version += 1
        return marker

    def add_intervention(self, event: Intervention) -> Marker | None:
        return self.add(event.step, event.kind, event.label, event.detail)

    def add_alert(self, event: Alert) -> Marker | None:
        return self.add(event.step, "alert", event.title, event.message)

    def truncate(self, step: int) -> None:
        """Forget the markers after ``step``; expect the kept ones to be re-sent."""
        kept = [m for m in self._markers if m.step <= step]
        self._markers = deque(kept, maxlen=self._markers.maxlen)
        self._replay = Counter((m.step, m.kind, m.label, m.detail) for m in kept)
        self.version += 1

    def in_range(self, step_lo: float, step_hi: float) -> list[Marker]:
        """Markers with ``step_lo <= step <= step_hi``."""
        return [m for m in self._markers if step_lo <= m.step <= step_hi]

    def clear(self) -> None:
        self._markers.clear()
        self._replay.clear()
        self.version += 1

    def __len__(self) -> int:
        return len(self._markers)

    def __iter__(self) -> Iterator[Marker]:
        return iter(self._markers)
