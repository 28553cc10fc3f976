"""What the dashboard remembers of a run: metric rows in fixed memory, and intervention markers.

A run logs rows for hours; the dashboard must not grow with it. ``MetricsHistory`` keeps at most
``capacity`` *buckets*; each bucket summarises a run of consecutive rows by, per column, the
minimum, the maximum and the last value (and the step of that last value). When every bucket is in
use, neighbouring pairs merge (half as many buckets, each covering twice as many rows) and new rows
fill buckets of the doubled span. Because min and max survive merging, a one-step spike in a loss
stays on the plot however long the run gets; only its exact step blurs to its bucket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from gantui.protocol import Intervention, MetricsBatch

__all__ = ["Marker", "Markers", "MetricsHistory"]


class _Summary(NamedTuple):
    """Per-bucket aggregates of a block of rows (arrays with one row per bucket)."""

    mins: np.ndarray  # (k, columns)
    maxs: np.ndarray
    lasts: np.ndarray  # last non-NaN value per column
    last_steps: np.ndarray  # the step of that value
    first_steps: np.ndarray  # the step of the first non-NaN value per column
    step_lo: np.ndarray  # (k,)
    step_hi: np.ndarray


def _summarise(block: np.ndarray, steps: np.ndarray, span: int) -> _Summary:
    """Aggregate ``block`` (rows, columns) in consecutive groups of ``span`` rows (the last may be short)."""
    rows = len(block)
    starts = np.arange(0, rows, span)
    ends = np.r_[starts[1:], rows]
    missing = np.isnan(block)
    row = np.arange(rows)[:, None]
    last_row = np.maximum.reduceat(np.where(missing, -1, row), starts, axis=0)  # -1: no number
    first_row = np.minimum.reduceat(np.where(missing, rows, row), starts, axis=0)  # rows: no number
    has = last_row >= 0
    last_row, first_row = np.maximum(last_row, 0), np.minimum(first_row, rows - 1)
    lasts = np.where(has, np.take_along_axis(block, last_row, axis=0), np.nan)
    return _Summary(np.fmin.reduceat(block, starts, axis=0), np.fmax.reduceat(block, starts, axis=0),
                    lasts, np.where(has, steps[last_row], np.nan), np.where(has, steps[first_row], np.nan),
                    steps[starts], steps[ends - 1])


class MetricsHistory:
    """Bounded store of metric rows for plotting: (step, low, high) per column, spikes preserved."""

    def __init__(self, capacity: int = 2000) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity - capacity % 2  # pairs must merge evenly
        self.version = 0  # moves on with every change: widgets redraw only when it did
        self.clear()

    def clear(self) -> None:
        """Forget every row (a new run); the version still moves on so widgets redraw."""
        cap = self.capacity
        self.version += 1
        self._rows = 0  # rows ever added
        self._span = 1  # rows per bucket
        self._n = 0  # buckets in use
        self._fill = 0  # rows in the last bucket
        self._names: dict[str, int] = {}
        self._step_lo = np.zeros(cap)
        self._step_hi = np.zeros(cap)
        self._min = np.full((cap, 0), np.nan)
        self._max = np.full((cap, 0), np.nan)
        self._last = np.full((cap, 0), np.nan)
        self._last_step = np.full((cap, 0), np.nan)
        self._first_step = np.full((cap, 0), np.nan)

    def __len__(self) -> int:
        return self._rows

    @property
    def names(self) -> tuple[str, ...]:
        """Every column seen so far, in order of first appearance."""
        return tuple(self._names)

    @property
    def span(self) -> int:
        """Rows summarised by each (full) bucket now."""
        return self._span

    @property
    def buckets(self) -> int:
        """Buckets in use (at most ``capacity``)."""
        return self._n

    # --- adding rows -----------------------------------------------------------------------------
    def extend(self, batch: MetricsBatch) -> None:
        """Add a batch of rows (vectorised; a batch of any size costs a few numpy calls)."""
        values = np.asarray(batch.values, dtype=np.float64)
        if values.ndim != 2 or len(values) == 0:
            return
        rows = len(values)
        block = self._full_width(batch.columns, values)
        if "step" in batch.columns:
            steps = values[:, batch.columns.index("step")]
        else:  # no step column: number the rows
            steps = np.arange(self._rows, self._rows + rows, dtype=np.float64)

        pos = 0
        if self._n and self._fill < self._span:  # top up the open bucket first
            pos = min(self._span - self._fill, rows)
            self._fold_into_last(_summarise(block[:pos], steps[:pos], pos))
            self._fill += pos
        while pos < rows:
            if self._n == self.capacity:
                self._merge_pairs()
            take = min((self.capacity - self._n) * self._span, rows - pos)
            summary = _summarise(block[pos : pos + take], steps[pos : pos + take], self._span)
            self._append(summary)
            self._fill = take - (len(summary.step_lo) - 1) * self._span
            pos += take
        self._rows += rows
        self.version += 1

    def _full_width(self, columns: tuple[str, ...], values: np.ndarray) -> np.ndarray:
        """``values`` laid out in our column order (NaN for columns the batch lacks)."""
        for name in columns:
            if name not in self._names:
                self._add_column(name)
        index = np.array([self._names[c] for c in columns], dtype=np.intp)
        width = len(self._names)
        if len(index) == width and (index == np.arange(width)).all():
            return values
        block = np.full((len(values), width), np.nan)
        block[:, index] = values
        return block

    def _add_column(self, name: str) -> None:
        self._names[name] = len(self._names)
        grow = np.full((self.capacity, 1), np.nan)
        self._min = np.hstack([self._min, grow])
        self._max = np.hstack([self._max, grow])
        self._last = np.hstack([self._last, grow])
        self._last_step = np.hstack([self._last_step, grow])
        self._first_step = np.hstack([self._first_step, grow])

    def _append(self, s: _Summary) -> None:
        lo, hi = self._n, self._n + len(s.step_lo)
        self._min[lo:hi], self._max[lo:hi] = s.mins, s.maxs
        self._last[lo:hi], self._last_step[lo:hi] = s.lasts, s.last_steps
        self._first_step[lo:hi] = s.first_steps
        self._step_lo[lo:hi], self._step_hi[lo:hi] = s.step_lo, s.step_hi
        self._n = hi

    def _fold_into_last(self, s: _Summary) -> None:
        i = self._n - 1
        self._min[i] = np.fmin(self._min[i], s.mins[0])
        self._max[i] = np.fmax(self._max[i], s.maxs[0])
        newer = ~np.isnan(s.lasts[0])
        self._last[i] = np.where(newer, s.lasts[0], self._last[i])
        self._last_step[i] = np.where(newer, s.last_steps[0], self._last_step[i])
        self._first_step[i] = np.where(np.isnan(self._first_step[i]), s.first_steps[0], self._first_step[i])
        self._step_hi[i] = s.step_hi[0]

    def _merge_pairs(self) -> None:
        """Halve the buckets: each merged bucket covers its pair; the later pair member's last wins."""
        half = self._n // 2
        even, odd = slice(0, self._n, 2), slice(1, self._n, 2)
        self._min[:half] = np.fmin(self._min[even], self._min[odd])
        self._max[:half] = np.fmax(self._max[even], self._max[odd])
        later = ~np.isnan(self._last[odd])
        self._last[:half] = np.where(later, self._last[odd], self._last[even])
        self._last_step[:half] = np.where(later, self._last_step[odd], self._last_step[even])
        earlier = ~np.isnan(self._first_step[even])
        self._first_step[:half] = np.where(earlier, self._first_step[even], self._first_step[odd])
        self._step_lo[:half] = self._step_lo[even]
        self._step_hi[:half] = self._step_hi[odd]
        for array in (self._min, self._max, self._last, self._last_step, self._first_step):
            array[half:] = np.nan
        self._n, self._span = half, self._span * 2
        self._fill = self._span

    # --- reading ---------------------------------------------------------------------------------
    def series(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step, low, high) of column ``name`` per bucket holding a number for it, oldest first.

        A bucket's step is the step of its last number in this column, except that the first
        point sits at the first step with a number, so the axis spans exactly the logged steps.
        ``low == high`` where a bucket holds one row.
        """
        col = self._names.get(name)
        if col is None or self._n == 0:
            empty = np.zeros(0)
            return empty, empty.copy(), empty.copy()
        n = self._n
        ok = ~np.isnan(self._min[:n, col])
        step = self._last_step[:n, col][ok]
        if len(step):
            step[0] = self._first_step[:n, col][ok][0]
        return step, self._min[:n, col][ok], self._max[:n, col][ok]

    def step_range(self) -> tuple[float, float] | None:
        """(first, last) step of the rows kept, or None before the first row."""
        if self._n == 0:
            return None
        return float(self._step_lo[0]), float(self._step_hi[self._n - 1])

    def latest(self, name: str) -> float:
        """The most recent number logged for ``name`` (NaN if none ever was)."""
        col = self._names.get(name)
        if col is None:
            return float("nan")
        found = np.flatnonzero(~np.isnan(self._last[: self._n, col]))
        return float(self._last[found[-1], col]) if len(found) else float("nan")


class Marker(NamedTuple):
    """An intervention drawn as a vertical line on every plot."""

    step: int
    kind: str
    detail: str


class Markers:
    """The last ``maxlen`` interventions (pause, k, loss, lr, freeze, ...), oldest first."""

    def __init__(self, maxlen: int = 500) -> None:
        self._markers: deque[Marker] = deque(maxlen=maxlen)
        self.version = 0

    def add(self, intervention: Intervention) -> None:
        self._markers.append(Marker(int(intervention.step), intervention.kind, intervention.detail))
        self.version += 1

    def in_range(self, step_lo: float, step_hi: float) -> list[Marker]:
        """Markers with ``step_lo <= step <= step_hi``."""
        return [m for m in self._markers if step_lo <= m.step <= step_hi]

    def clear(self) -> None:
        self._markers.clear()
        self.version += 1

    def __len__(self) -> int:
        return len(self._markers)

    def __iter__(self) -> Iterator[Marker]:
        return iter(self._markers)
