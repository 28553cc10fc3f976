"""What the dashboard remembers of a run: metric rows in bounded memory, at every zoom level.

A run logs rows for hours; the dashboard must not grow with it, yet it must answer any window the
user zooms to (the last thousand iterations, or the whole run) at screen resolution. The store is an
*exponential histogram*: level 0 holds the newest rows one per bucket; when a level is full, its two
oldest buckets merge into one bucket of the next level, so level j holds buckets of 2**j rows and
older rows are kept more coarsely (a bucket at age ``a`` rows spans about ``a / (2 * capacity)``
rows). Every row is in exactly one bucket. A window of ``R`` rows ending ``a`` rows ago gets about
``R * capacity / a`` buckets: the newest windows at full resolution, older ones more coarsely.
The top level never passes buckets on; when it is full its oldest buckets merge in place, so memory
is bounded by ``levels * capacity`` buckets however long the run.

Each bucket keeps, per column, the minimum, the maximum, the sum and the count of its numbers, and
the first and last step of its rows: min and max survive merging (a one-step spike in a loss stays on
the plot however long the run gets), and sum / count give the mean that smoothing needs.

A rollback (``truncate``) forgets every row after a step; a batch whose first step is before the
newest kept step is taken as the trainer re-sending a branch and truncates first, so the plots never
draw an abandoned future.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gantui.protocol import MetricsBatch

__all__ = ["LEVELS", "MetricsHistory", "Window"]

LEVELS = 12  # levels of the histogram: exact to capacity * (2**LEVELS - 1) rows, merged in place beyond


class _Block(NamedTuple):
    """Consecutive buckets, oldest first: per-column aggregates (k, columns), per-bucket steps (k,)."""

    mins: np.ndarray
    maxs: np.ndarray
    sums: np.ndarray  # 0 where a bucket holds no number of that column
    counts: np.ndarray
    step_lo: np.ndarray
    step_hi: np.ndarray
    rows: np.ndarray

    @property
    def size(self) -> int:
        return int(self.step_lo.size)

    def part(self, s: slice) -> _Block:
        return _Block(*(a[s] for a in self))

    def then(self, other: _Block) -> _Block:
        return _Block(*(np.concatenate([a, b]) for a, b in zip(self, other, strict=True)))


def _rows_block(values: np.ndarray, steps: np.ndarray) -> _Block:
    """One bucket per row."""
    missing = np.isnan(values)
    ones = np.ones(len(steps))
    return _Block(values, values, np.where(missing, 0.0, values), (~missing).astype(np.float64),
                  steps, steps, ones)


def _merge_pairs(b: _Block) -> _Block:
    """Buckets 0+1, 2+3, ... of an even-length block."""
    e, o = slice(0, None, 2), slice(1, None, 2)
    return _Block(np.fmin(b.mins[e], b.mins[o]), np.fmax(b.maxs[e], b.maxs[o]), b.sums[e] + b.sums[o],
                  b.counts[e] + b.counts[o], b.step_lo[e], b.step_hi[o], b.rows[e] + b.rows[o])


def _squeeze(b: _Block, capacity: int) -> _Block:
    """Halve ``b`` (merge every pair; an odd newest bucket stays) until it fits in ``capacity``.

    Merging all pairs, not just the oldest, keeps the top level's buckets of similar spans.
    """
    while b.size > capacity:
        even = b.size - b.size % 2
        b = _merge_pairs(b.part(slice(0, even))).then(b.part(slice(even, None)))
    return b


class _Level:
    """A ring of at most ``capacity`` buckets of one level, oldest first."""

    def __init__(self, capacity: int, width: int) -> None:
        self.capacity = capacity
        self.head = 0
        self.n = 0
        self._order: tuple[int, int, np.ndarray] | None = None  # (head, n, positions): reads reuse it
        nan = np.full((capacity, width), np.nan)
        zero = np.zeros((capacity, width))
        self.data = _Block(nan, nan.copy(), zero, zero.copy(), np.zeros(capacity), np.zeros(capacity),
                           np.zeros(capacity))

    def add_column(self) -> None:
        cap = self.capacity
        mins, maxs, sums, counts, *steps = self.data
        grow_nan, grow_zero = np.full((cap, 1), np.nan), np.zeros((cap, 1))
        self.data = _Block(np.hstack([mins, grow_nan]), np.hstack([maxs, grow_nan]),
                           np.hstack([sums, grow_zero]), np.hstack([counts, grow_zero]), *steps)

    def order(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Ring positions of buckets ``start:stop``, oldest first."""
        if start == 0 and stop is None:
            if self._order is None or self._order[:2] != (self.head, self.n):
                self._order = (self.head, self.n, (self.head + np.arange(self.n)) % self.capacity)
            return self._order[2]
        stop = self.n if stop is None else stop
        return (self.head + np.arange(start, stop)) % self.capacity

    def block(self, start: int = 0, stop: int | None = None) -> _Block:
        idx = self.order(start, stop)
        return _Block(*(a[idx] for a in self.data))

    def _write(self, b: _Block) -> None:
        pos = (self.head + self.n + np.arange(b.size)) % self.capacity
        for array, values in zip(self.data, b, strict=True):
            array[pos] = values
        self.n += b.size

    def push(self, b: _Block, *, top: bool) -> _Block | None:
        """Append ``b`` (newer than every bucket here); return the merged overflow for the next level."""
        if self.n + b.size <= self.capacity:
            self._write(b)
            return None
        if top:
            merged = _squeeze(self.block().then(b), self.capacity)
            self.head = self.n = 0
            self._write(merged)
            return None
        excess = self.n + b.size - self.capacity
        excess += excess % 2  # whole pairs leave
        old = min(excess, self.n)
        # Merge the leaving buckets part by part: concatenating a large batch first would copy it twice.
        merged = _merge_pairs(self.block(0, old - old % 2))
        taken = excess - old
        if old % 2:  # a pair made of our newest leaving bucket and the batch's first
            merged = merged.then(_merge_pairs(self.block(old - 1, old).then(b.part(slice(0, 1)))))
            merged = merged.then(_merge_pairs(b.part(slice(1, taken))))
        elif taken:
            merged = merged.then(_merge_pairs(b.part(slice(0, taken))))
        self.head = (self.head + old) % self.capacity
        self.n -= old
        self._write(b.part(slice(taken, None)))
        return merged

    def keep_until(self, step: float) -> None:
        """Forget the buckets holding any row after ``step`` (a bucket is never split)."""
        if self.n:
            hi = self.data.step_hi[self.order()]
            self.n = int(np.searchsorted(hi, step, side="right"))


class Window(NamedTuple):
    """The buckets of one column inside a step window, oldest first (only buckets with a number)."""

    x: np.ndarray  # each bucket's middle step
    low: np.ndarray
    high: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.sums / self.counts


def _empty_window() -> Window:
    return Window(*(np.zeros(0) for _ in range(5)))


class MetricsHistory:
    """Bounded store of metric rows for plotting: any step window, spikes preserved, means for smoothing."""

    def __init__(self, capacity: int = 1000, levels: int = LEVELS) -> None:
        if capacity < 2 or levels < 1:
            raise ValueError("capacity must be at least 2 and levels at least 1")
        self.capacity = capacity - capacity % 2  # pairs leave a level whole
        self.max_levels = levels
        self.version = 0  # moves on with every change: widgets redraw only when it did
        self.clear()

    def clear(self) -> None:
        """Forget every row (a new run); the version still moves on so widgets redraw."""
        self.version += 1
        self._names: dict[str, int] = {}
        self._levels: list[_Level] = []
        self._latest: dict[str, tuple[float, float]] = {}  # column -> (value, step) of its newest number

    # --- sizes -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Rows kept."""
        return int(sum(level.data.rows[level.order()].sum() for level in self._levels))

    @property
    def names(self) -> tuple[str, ...]:
        """Every column seen so far, in order of first appearance."""
        return tuple(self._names)

    @property
    def buckets(self) -> int:
        """Buckets in use (at most ``levels * capacity``)."""
        return sum(level.n for level in self._levels)

    @property
    def nbytes(self) -> int:
        """Memory held by the buckets' arrays."""
        return sum(a.nbytes for level in self._levels for a in level.data)

    def has(self, name: str) -> bool:
        """Whether ``name`` holds any number among the rows kept."""
        return name in self._latest

    # --- adding and forgetting rows ----------------------------------------------------------------
    def extend(self, batch: MetricsBatch) -> None:
        """Add a batch of rows (vectorised: a batch of any size costs a few numpy calls per level)."""
        values = np.asarray(batch.values, dtype=np.float64)
        if values.ndim != 2 or len(values) == 0:
            return
        block = self._full_width(batch.columns, values)
        if "step" in batch.columns:
            steps = values[:, batch.columns.index("step")].copy()
        else:  # no step column: continue the numbering of the rows
            last = self.step_range()
            start = last[1] + 1 if last else 0.0
            steps = np.arange(start, start + len(values), dtype=np.float64)
        if not np.isfinite(steps).all():
            keep = np.isfinite(steps)
            block, steps = block[keep], steps[keep]
            if len(steps) == 0:
                return
        span = self.step_range()
        if span is not None and steps[0] < span[1]:  # a branch re-sent from an earlier step
            self._keep_until(steps[0], inclusive=False)
        self._note_latest(block, steps)
        b: _Block | None = _rows_block(block, steps)
        for j in range(self.max_levels):
            if j == len(self._levels):
                self._levels.append(_Level(self.capacity, len(self._names)))
            b = self._levels[j].push(b, top=j == self.max_levels - 1)
            if b is None:
                break
        self.version += 1

    def truncate(self, step: float) -> None:
        """Forget every row after ``step`` (a rollback). Coarse buckets that straddle it go too."""
        self._keep_until(step, inclusive=True)
        self.version += 1

    def _keep_until(self, step: float, *, inclusive: bool) -> None:
        limit = step if inclusive else np.nextafter(step, -np.inf)
        for level in self._levels:
            level.keep_until(limit)
        self._latest = {}
        for name, col in self._names.items():
            for level in self._levels:  # newest first
                if level.n == 0:
                    continue
                idx = level.order()
                counts = level.data.counts[idx, col]
                found = np.flatnonzero(counts > 0)
                if len(found):
                    i = idx[found[-1]]
                    # a one-row bucket's mean is its value; a coarser one's mean is the best left
                    self._latest[name] = (float(level.data.sums[i, col] / level.data.counts[i, col]),
                                          float(level.data.step_hi[i]))
                    break

    def _note_latest(self, block: np.ndarray, steps: np.ndarray) -> None:
        has = ~np.isnan(block)
        any_number = has.any(axis=0)
        last = len(block) - 1 - np.argmax(has[::-1], axis=0)
        for name, col in self._names.items():
            if any_number[col]:
                self._latest[name] = (float(block[last[col], col]), float(steps[last[col]]))

    def _full_width(self, columns: tuple[str, ...], values: np.ndarray) -> np.ndarray:
        """``values`` laid out in our column order (NaN for columns the batch lacks)."""
        for name in columns:
            if name not in self._names:
                self._names[name] = len(self._names)
                for level in self._levels:
                    level.add_column()
        index = np.array([self._names[c] for c in columns], dtype=np.intp)
        width = len(self._names)
        if len(index) == width and (index == np.arange(width)).all():
            return values
        block = np.full((len(values), width), np.nan)
        block[:, index] = values
        return block

    # --- reading ---------------------------------------------------------------------------------
    def window(self, name: str, lo: float = -np.inf, hi: float = np.inf) -> Window:
        """The buckets of column ``name`` that overlap steps ``lo..hi``, oldest first."""
        col = self._names.get(name)
        if col is None or not self._levels:
            return _empty_window()
        parts = []
        for level in reversed(self._levels):  # the top level holds the oldest rows
            if level.n == 0:
                continue
            idx = level.order()
            step_lo, step_hi = level.data.step_lo[idx], level.data.step_hi[idx]
            first = int(np.searchsorted(step_hi, lo, side="left"))
            stop = int(np.searchsorted(step_lo, hi, side="right"))
            if stop <= first:
                continue
            sel = idx[first:stop]
            counts = level.data.counts[sel, col]
            has = counts > 0
            sel = sel[has]
            parts.append(((level.data.step_lo[sel] + level.data.step_hi[sel]) / 2, level.data.mins[sel, col],
                          level.data.maxs[sel, col], level.data.sums[sel, col], counts[has]))
        if not parts:
            return _empty_window()
        return Window(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step, low, high) of every bucket holding a number of ``name``, oldest first."""
        w = self.window(name)
        return w.x, w.low, w.high

    def step_range(self) -> tuple[float, float] | None:
        """(first, last) step of the rows kept, or None before the first row."""
        lo = next((lv for lv in reversed(self._levels) if lv.n), None)
        hi = next((lv for lv in self._levels if lv.n), None)
        if lo is None or hi is None:
            return None
        return float(lo.data.step_lo[lo.head]), float(hi.data.step_hi[(hi.head + hi.n - 1) % hi.capacity])

    def latest(self, name: str) -> float:
        """The most recent number logged for ``name`` (NaN if none is kept)."""
        return self._latest.get(name, (float("nan"), float("nan")))[0]

    def measured(self, name: str) -> tuple[float, float]:
        """(value, step) of the most recent number logged for ``name``; (NaN, NaN) if none is kept."""
        return self._latest.get(name, (float("nan"), float("nan")))
