"""The header's step, clock and rate, from the trainer's reports: metric rows and HostStats.

A slow model's first metric row can take a minute, so the step and the clock also come from HostStats
(every couple of seconds, paused or not). Between reports the clock runs on from the last one for a
few seconds, no further: a trainer that stops reporting shows a stopped clock. The rate is averaged over
the last few seconds of *training* time (each row's own it/s says how long its steps took, so a pause
in between does not drag it down), which is what a user reads an ETA from.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from gantui.protocol import HostStats, MetricsBatch

__all__ = ["RATE_WINDOW_S", "RunClock"]

RATE_WINDOW_S = 5.0  # seconds of training the header's it/s averages over
_RUN_ON_S = 5.0  # how far the clock runs on past the last report


class RunClock:
    """Latest step and elapsed time the trainer reported, and a smoothed iterations/s."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self.reset()

    def reset(self) -> None:
        self.step = -1  # the newest step reported (-1: none yet)
        self._t = math.nan  # the newest run time reported, and when (our monotonic clock) it came
        self._t_at = 0.0
        self._spans: deque[tuple[float, float]] = deque()  # (steps, seconds) of the last rows
        self._spans_steps = self._spans_seconds = 0.0
        self._last_row_step = math.nan
        self._host: tuple[int, float] | None = None  # the last HostStats (step, t): a rate before any row
        self.host_rate = math.nan

    def rewind(self, step: int) -> None:
        """A rollback: the run is at ``step`` again (its clock goes on)."""
        self.step = int(step)
        self._last_row_step = math.nan
        self._spans.clear()
        self._spans_steps = self._spans_seconds = 0.0
        self._host = None

    # ---------------------------------------------------------------- reports in
    def rows(self, batch: MetricsBatch) -> None:
        cols = batch.columns
        if "step" not in cols or len(batch.values) == 0:
            return
        steps = np.asarray(batch.column("step"), dtype=np.float64)
        t = batch.column("t") if "t" in cols else np.full(len(steps), np.nan)
        rates = batch.column("steps_per_sec") if "steps_per_sec" in cols else np.full(len(steps), np.nan)
        if np.isfinite(steps[-1]):
            self.step = max(self.step, int(steps[-1]))
        if np.isfinite(t[-1]):
            self._clock(float(t[-1]))
        previous = np.r_[self._last_row_step, steps[:-1]]
        self._last_row_step = float(steps[-1])
        tail = slice(-256, None)  # only the last few seconds count; a 10 000-row batch needs no more
        dsteps = (steps - previous)[tail]
        rates = np.asarray(rates, dtype=np.float64)[tail]
        ok = np.isfinite(dsteps) & (dsteps > 0) & np.isfinite(rates) & (rates > 0)
        for d, r in zip(dsteps[ok].tolist(), rates[ok].tolist(), strict=True):
            self._spans.append((d, d / r))
            self._spans_steps += d
            self._spans_seconds += d / r
        while len(self._spans) > 1 and self._spans_seconds - self._spans[0][1] >= RATE_WINDOW_S:
            d, s = self._spans.popleft()
            self._spans_steps -= d
            self._spans_seconds -= s

    def host(self, stats: HostStats) -> None:
        if self._host is not None and stats.t > self._host[1] and stats.step >= self._host[0]:
            self.host_rate = (stats.step - self._host[0]) / (stats.t - self._host[1])
        self._host = (stats.step, stats.t)
        self.step = max(self.step, int(stats.step))
        self._clock(float(stats.t))

    def _clock(self, t: float) -> None:
        if not math.isfinite(self._t) or t >= self._t:
            self._t, self._t_at = t, self._now()

    # ---------------------------------------------------------------- read-outs
    def elapsed(self, *, running_on: bool) -> float:
        """Seconds since the run started; with ``running_on`` (running or paused), run on a little."""
        if not math.isfinite(self._t):
            return math.nan
        if not running_on:
            return self._t
        return self._t + min(max(self._now() - self._t_at, 0.0), _RUN_ON_S)

    @property
    def rate(self) -> float:
        """Iterations per second over the last few seconds of training (NaN before any)."""
        if self._spans_seconds > 0:
            return self._spans_steps / self._spans_seconds
        return self.host_rate
