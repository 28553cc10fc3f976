"""What a run writes to its folder, buffered so that a write that fails loses nothing.

Every row and event goes through here. They wait in memory until written; a write that fails (a full
disk, a read-only or deleted folder, no permission) keeps them, says why in :attr:`Recorder.failing`,
and is retried on a backoff schedule. The runner pauses training while a write fails (no new rows
pile up) and resumes by itself once a retry succeeds. Failed one-off writes are reported the same way:
a sample PNG is dropped (the next one replaces it), a checkpoint is the runner's to retry or rescue.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gantui.config import Config
from gantui.engine.runfolder import RunFolder
from gantui.text import printable

__all__ = ["BACKOFF_S", "Recorder", "rescue_dirs"]

BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds between retries of a failing write, then every 30 s


def rescue_dirs(run: Path) -> list[Path]:
    """Where a final checkpoint goes when the run folder cannot be written, in order of preference."""
    name = f"gantui-rescue-{Path(run).name or 'run'}-{os.getpid()}"
    return [Path(tempfile.gettempdir()) / name, Path.home() / ".cache" / "gantui" / "rescue" / name]


class Recorder:
    """Pending metric rows and events for one run folder (or none: nothing is written)."""

    def __init__(self, folder: RunFolder | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.clock = clock
        self.rows: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.config: Config | None = None  # a config.toml still to write (the live settings changed)
        self.failing = ""  # why the last write failed ("" while writing works)
        self.failing_since: float | None = None
        self._retries = 0
        self._next_retry = 0.0

    # --------------------------------------------------------------------------- queueing
    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Queue metric rows; a row at the step of the last queued one replaces it (one row per step)."""
        for row in rows:
            if self.rows and self.rows[-1].get("step") == row.get("step"):
                self.rows[-1] = row
            else:
                self.rows.append(row)

    def add_event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def set_config(self, config: Config) -> None:
        """config.toml must say what the trainer uses: write ``config`` with the next flush."""
        self.config = config

    def discard_after(self, step: int) -> None:
        """Forget queued rows and events past ``step`` (a rollback abandoned them)."""
        self.rows = [r for r in self.rows if r.get("step", 0) <= step]
        self.events = [e for e in self.events if e.get("step", 0) <= step]

    @property
    def pending(self) -> int:
        return len(self.rows) + len(self.events) + (self.config is not None)

    # ---------------------------------------------------------------------------- writing
    def flush(self) -> bool:
        """Write everything queued; True when nothing is left (also without a folder)."""
        if self.folder is None:
            self.rows, self.events, self.config = [], [], None
            return True
        if self.config is not None:
            config = self.config
            if not self.write("config.toml", lambda: self.folder.write_config(config)):
                return False
            self.config = None
        if self.rows:
            if not self.write("metrics.jsonl", lambda: self.folder.append_metrics(self.rows)):
                return False
            self.rows = []
        if self.events:
            if not self.write("events.jsonl", lambda: self.folder.append_events(self.events)):
                return False
            self.events = []
        return True

    def write(self, what: str, action: Callable[[], object]) -> bool:
        """Run one write; on OSError remember why (and when it started failing) and return False."""
        if self.folder is None:
            return True
        try:
            action()
        except OSError as exc:
            self._failed(what, exc)
            return False
        self._recovered()
        return True

    def _failed(self, what: str, exc: OSError) -> None:
        now = self.clock()
        where = printable(exc.filename or (self.folder.path if self.folder else ""))
        self.failing = f"cannot write {what} ({exc.strerror or printable(exc)}: {where})"
        if self.failing_since is None:
            self.failing_since = now
        self._next_retry = now + BACKOFF_S[min(self._retries, len(BACKOFF_S) - 1)]
        self._retries += 1

    def _recovered(self) -> None:
        self.failing = ""
        self.failing_since = None
        self._retries = 0

    def retry_due(self) -> bool:
        return bool(self.failing) and self.clock() >= self._next_retry

    @property
    def next_retry_in(self) -> float:
        return max(0.0, self._next_retry - self.clock())

    def failing_for(self) -> float:
        """Seconds the writes have been failing without a success (0 while they work)."""
        return 0.0 if self.failing_since is None else self.clock() - self.failing_since

    def fresh_start(self) -> None:
        """Forget the retry schedule: the user asked to try now."""
        self._next_retry = 0.0
