"""Min/max decimation: fewer points than screen columns, and no spike lost on the way.

Plotting every logged row of a long run costs time for nothing (a column shows one x anyway), and
plain subsampling drops exactly the spikes one wants to see (a loss blowing up for one step). So
each screen column keeps the minimum of its lows and the maximum of its highs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Binned", "bin_columns", "decimate", "ema", "envelope_series"]


def decimate(
    x: np.ndarray, low: np.ndarray, high: np.ndarray, columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce (x, low, high) to at most ``columns`` points: min of ``low``, max of ``high`` per bin.

    ``x`` must be non-decreasing (steps). Bins split the x range into ``columns`` equal widths, so
    a bin is one screen column however unevenly the steps are spaced; empty bins are dropped and
    each bin's x is its last x (the column reads "up to this step"). NaN values are ignored; a bin
    with no number at all is dropped. Inputs already short enough come back unchanged.
    """
    x, low, high = np.asarray(x), np.asarray(low), np.asarray(high)
    if len(x) <= columns:
        return x, low, high
    if columns < 1:
        raise ValueError("columns must be at least 1")
    keep = ~(np.isnan(low) & np.isnan(high))
    if not keep.all():
        x, low, high = x[keep], low[keep], high[keep]
        if len(x) <= columns:
            return x, low, high
    x_first, x_last = float(x[0]), float(x[-1])
    if x_last > x_first:
        position = (x.astype(np.float64) - x_first) / (x_last - x_first) * columns
        bins = np.minimum(position.astype(np.intp), columns - 1)
    else:  # every x equal: split by index instead
        bins = (np.arange(len(x)) * columns) // len(x)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], len(x)]
    return x[ends - 1], np.fmin.reduceat(low, starts), np.fmax.reduceat(high, starts)


def envelope_series(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[list[float], list[float]]:
    """One polyline through every bin's low and high, for a plotting library that draws lines.

    Each x appears twice (low then high, and high then low at every other x) so the line sweeps the whole
    range of every column, spikes included, without a second series; x with low == high appears
    once. NaN lows or highs fall back to the other value.
    """
    x = np.asarray(x, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    low, high = np.where(np.isnan(low), high, low), np.where(np.isnan(high), low, high)
    keep = ~np.isnan(low)
    x, low, high = x[keep], low[keep], high[keep]
    flip = (np.arange(len(x)) % 2).astype(bool)  # odd points go high-then-low: shorter connecting lines
    first, second = np.where(flip, high, low), np.where(flip, low, high)
    xs = np.stack([x, x], axis=1).ravel()
    ys = np.stack([first, second], axis=1).ravel()
    single = np.stack([np.ones(len(x), bool), first != second], axis=1).ravel()
    return xs[single].tolist(), ys[single].tolist()


class Binned(NamedTuple):
    """A window's buckets merged into screen columns: envelope, mean (sums / counts), count-weighted x."""

    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.sums / self.counts


def bin_columns(x: np.ndarray, low: np.ndarray, high: np.ndarray, sums: np.ndarray, counts: np.ndarray,
                lo: float, hi: float, columns: int) -> Binned:
    """Merge buckets (ordered by ``x``) that fall in the same of ``columns`` equal slices of ``lo..hi``.

    Unlike :func:`decimate`, bins follow the window, not the data, so a column is the same steps on
    every plot; buckets outside the window (a coarse one that overlaps its edge) join the edge column.
    Inputs already short enough come back unchanged.
    """
    x, low, high = np.asarray(x, np.float64), np.asarray(low, np.float64), np.asarray(high, np.float64)
    sums, counts = np.asarray(sums, np.float64), np.asarray(counts, np.float64)
    if len(x) <= columns or hi <= lo:
        return Binned(x, low, high, sums, counts)
    bins = np.clip(((x - lo) / (hi - lo) * columns).astype(np.intp), 0, columns - 1)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    n = np.add.reduceat(counts, starts)
    return Binned(np.add.reduceat(x * counts, starts) / n, np.fmin.reduceat(low, starts),
                  np.fmax.reduceat(high, starts), np.add.reduceat(sums, starts), n)


def ema(sums: np.ndarray, counts: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of the rows, over buckets of rows.

    A bucket of ``n`` rows with mean ``m`` moves the average as ``n`` rows of value ``m`` would:
    ``s = w**n s + (1 - w**n) m``, divided by the same sum of weights (debiasing), so the curve is
    the same at every zoom: a wide bucket is already averaged, a narrow one is smoothed over its
    neighbours. ``weight`` 0 returns the means.
    """
    means = np.asarray(sums, np.float64) / np.asarray(counts, np.float64)
    if weight <= 0 or len(means) == 0:
        return means
    keep = (weight ** np.asarray(counts, np.float64)).tolist()
    out = []
    s = z = 0.0
    for a, m in zip(keep, means.tolist(), strict=True):
        s = a * s + (1 - a) * m
        z = a * z + (1 - a)
        out.append(s / z)
    return np.asarray(out)
