"""Sparklines for the compact view: one block character per column, the way htop and btop draw history."""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCKS", "column_means", "sparkline"]

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, width: int, *, log: bool = False) -> str:
    """``values`` (already one per column, NaN = no number) as at most ``width`` block characters.

    Scaled to the finite values' own range (log10 of the positive ones with ``log``); a flat series is
    drawn at mid height; missing values are spaces. Longer input keeps its last ``width`` values.
    """
    values = np.asarray(values, dtype=np.float64)[-width:] if width > 0 else np.zeros(0)
    if log:
        values = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return " " * len(values)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if hi > lo:
        level = np.rint((values - lo) / (hi - lo) * (len(BLOCKS) - 1))
    else:
        level = np.full(len(values), (len(BLOCKS) - 1) // 2, dtype=np.float64)
    level = np.where(finite, level, -1).astype(np.intp)
    return "".join(BLOCKS[i] if i >= 0 else " " for i in level)


def column_means(x: np.ndarray, sums: np.ndarray, counts: np.ndarray, lo: float, hi: float,
                 width: int) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) per column of ``width`` equal slices of ``lo..hi`` (0 counts where empty)."""
    col_sums, col_counts = np.zeros(width), np.zeros(width)
    if width <= 0 or len(x) == 0:
        return col_sums, col_counts
    span = hi - lo if hi > lo else 1.0
    cols = np.clip(((np.asarray(x) - lo) / span * width).astype(np.intp), 0, width - 1)
    np.add.at(col_sums, cols, sums)
    np.add.at(col_counts, cols, counts)
    return col_sums, col_counts
