"""One viewer's queue of frames waiting for its socket: bounded, so a stuck viewer costs nothing.

Frames are encoded once per event and shared by every viewer. When a viewer's pending bytes pass
the budget (it reads slower than the run reports, or not at all), the queue is compacted: of the
events that only say "the latest is", ``StateChanged``, samples, ``HostStats`` and ``Progress``, only
the newest of each kind stays, and pending metric batches merge into one (no row is lost). If the
queue is still over budget the viewer is dropped with a message; it attaches again to a full history,
which is more honest than a decimated one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from gantui.protocol import (
    METRIC_NAMES,
    HistoryReset,
    HostStats,
    ImageSamples,
    MetricsBatch,
    Progress,
    StateChanged,
    ToySamples,
    frozen_array,
)
from gantui.remote import codec
from gantui.remote.rowstore import to_store_layout

__all__ = ["Outbox"]

# Kinds where only the newest matters (both sample kinds count as one: a switch replaces either).
_LATEST_ONLY = {StateChanged: "state", ImageSamples: "samples", ToySamples: "samples", HostStats: "host",
                Progress: "progress"}


@dataclass
class _Item:
    event: object
    frame: bytes


class Outbox:
    """A FIFO of (event, frame) with a byte budget; ``put`` says False when the viewer must go."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._items: deque[_Item] = deque()
        self.bytes = 0
        self.compactions = 0
        self.merged_batches = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: object, frame: bytes) -> bool:
        self._items.append(_Item(event, frame))
        self.bytes += len(frame)
        if self.bytes > self.budget:
            self._compact()
        return self.bytes <= self.budget

    def pop(self) -> bytes:
        item = self._items.popleft()
        self.bytes -= len(item.frame)
        return item.frame

    def _compact(self) -> None:
        """Keep the newest of each latest-only kind and merge the pending metric batches.

        Batches merge into the place of the first of them, never across a ``HistoryReset`` (the rows
        after it belong to the history after the rollback); moving rows ahead of a marker is harmless,
        as markers are placed by step.
        """
        self.compactions += 1
        newest: dict[str, int] = {}
        for i, item in enumerate(self._items):
            if (group := _LATEST_ONLY.get(type(item.event))) is not None:
                newest[group] = i
        kept: list[_Item] = []
        run: list[int] = []  # indexes in ``kept`` of the batches merging together

        def merge() -> None:
            if len(run) > 1:
                batches = [kept[j].event for j in run]
                merged = MetricsBatch(columns=METRIC_NAMES, values=frozen_array(np.concatenate(
                    [to_store_layout(b.columns, b.values) for b in batches])))  # type: ignore[union-attr]
                kept[run[0]] = _Item(merged, codec.encode(merged))
                for j in run[1:]:
                    kept[j] = _Item(None, b"")
                self.merged_batches += len(run) - 1
            run.clear()

        for i, item in enumerate(self._items):
            group = _LATEST_ONLY.get(type(item.event))
            if group is not None and newest[group] != i:
                continue
            if isinstance(item.event, HistoryReset):
                merge()
            kept.append(item)
            if isinstance(item.event, MetricsBatch):
                run.append(len(kept) - 1)
        merge()
        self._items = deque(item for item in kept if item.frame)
        self.bytes = sum(len(item.frame) for item in self._items)
