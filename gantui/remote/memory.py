"""What the server remembers of its run for a viewer that attaches late, and for ``gantui ls``.

Every metric row (in the :class:`~gantui.remote.rowstore.RowStore`), the log a dashboard shows
(interventions, notices, failures, alerts, saved presets; bounded), and the latest of each kind that
only says "now" (state, samples, host stats, progress, the end). A rollback (``HistoryReset``)
truncates the rows and forgets the markers after its step. Used only on the server's loop thread,
except ``load_rows``, which runs on a worker thread while live rows wait in ``pending``.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np

from gantui.protocol import (
    Alert,
    Event,
    Failure,
    Finished,
    HistoryReset,
    HostStats,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    PresetSaved,
    Progress,
    StateChanged,
    ToySamples,
)
from gantui.remote.messages import RunStatus
from gantui.remote.rowstore import STEP, RowStore, jsonl_blocks, to_store_layout

__all__ = ["RunMemory", "Snapshot"]

_LOGGED = (Intervention, Notice, Failure, Alert, PresetSaved)  # what a late viewer's log replays
_LATEST = {StateChanged: "state", ImageSamples: "samples", ToySamples: "samples", HostStats: "host",
           Progress: "progress", Finished: "finished"}
_TAIL_ORDER = ("samples", "host", "progress", "finished", "state")  # the state last: the final word


class Snapshot:
    """What a new viewer is sent before the live events, taken in one loop callback."""

    def __init__(self, rows: int, floor: float, log: list[Event], tail: list[Event]) -> None:
        self.rows = rows  # the first ``rows`` rows of the row store
        self.floor = floor  # their last step: live rows at or below it are not sent again
        self.log = log
        self.tail = tail


class RunMemory:
    def __init__(self, store: RowStore, *, log_keep: int) -> None:
        self.store = store
        self.log_keep = log_keep
        self.log: deque[Event] = deque(maxlen=log_keep)
        self.latest: dict[str, Event] = {}
        self.last_step = 0
        self.rate = math.nan
        self.pending: list[tuple[str, object]] | None = []  # live rows and resets while the files load

    # ------------------------------------------------------------------ the run folder's past
    def prepend_log(self, earlier: list[Event]) -> None:
        """Events of the run's earlier processes (a resumed run), before everything seen live."""
        self.log = deque([*earlier, *self.log], maxlen=self.log_keep)

    def load_rows(self, path: Path) -> None:
        """metrics.jsonl into the store (on a worker thread: live rows wait in ``pending``)."""
        for block in jsonl_blocks(path):
            self.store.append(block, repeats="replace")

    def loaded(self) -> None:
        """The files are in: apply what arrived meanwhile, and from now on take rows directly."""
        pending, self.pending = self.pending or [], None
        for what, value in pending:
            if what == "rows":
                self.store.append(value)  # type: ignore[arg-type]
            else:
                self.store.truncate_after(value)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ live events
    def take(self, event: Event) -> None:
        if isinstance(event, MetricsBatch):
            self._rows(event)
        elif isinstance(event, HistoryReset):
            self._reset(event.step)
        elif (kind := _LATEST.get(type(event))) is not None:
            self.latest[kind] = event
            if isinstance(event, StateChanged):
                self.last_step = max(self.last_step, event.state.step)
        if isinstance(event, _LOGGED):
            self.log.append(event)

    def _rows(self, batch: MetricsBatch) -> None:
        block = to_store_layout(batch.columns, batch.values)
        if self.pending is not None:
            self.pending.append(("rows", block))
        else:
            self.store.append(block)
        if not len(block):
            return
        self.last_step = max(self.last_step, int(block[-1, STEP]))
        if "steps_per_sec" in batch.columns:
            rates = batch.column("steps_per_sec")
            finite = rates[np.isfinite(rates)]
            if len(finite):
                self.rate = float(finite[-1])

    def _reset(self, step: int) -> None:
        if self.pending is not None:
            self.pending.append(("reset", step))
        else:
            self.store.truncate_after(step)
        self.log = deque((e for e in self.log if not (isinstance(e, Intervention) and e.step > step)),
                         maxlen=self.log_keep)
        self.last_step = step

    # ------------------------------------------------------------------ what is asked of it
    def snapshot(self) -> Snapshot:
        progress = self.latest.get("progress")
        done = not isinstance(progress, Progress) or progress.done >= progress.total
        tail = [self.latest[k] for k in _TAIL_ORDER if k in self.latest and not (k == "progress" and done)]
        floor = self.store.last_step
        return Snapshot(rows=self.store.count, floor=floor, log=list(self.log), tail=tail)

    def status(self, *, viewers: int, uptime: float) -> RunStatus:
        state = self.latest.get("state")
        status = state.state.status if isinstance(state, StateChanged) else "starting"
        if "finished" in self.latest:
            status = "finished"
        return RunStatus(status=status, step=self.last_step,
                         steps_per_sec=self.rate if status == "running" else math.nan,
                         viewers=viewers, uptime=uptime)
