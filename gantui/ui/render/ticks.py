"""Axis ticks we choose ourselves: whole steps on x, short round numbers on y (linear or log).

plotext labels its own ticks with as many decimals as it takes to tell them apart, so a window of
three iterations reads ``2816.2``; a step is a whole number. Choosing the ticks also fixes the width
of the y labels, which places marker labels on exact columns (see ``metric_plot``).
"""

from __future__ import annotations

import math

__all__ = ["format_number", "log_ticks", "nice_ticks", "step_ticks"]


def _nice_spacing(span: float, count: int) -> float:
    """The 1-2-5 × 10^k spacing that gives at most ``count`` intervals over ``span``."""
    raw = span / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def step_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """At most ``count + 1`` whole-step ticks inside ``lo..hi``, labelled with thousands separators."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo], [f"{lo:,.0f}"]
    spacing = max(1.0, _nice_spacing(hi - lo, count))
    first = math.ceil(lo / spacing) * spacing
    ticks = []
    t = first
    while t <= hi + 1e-9 and len(ticks) <= count + 1:
        ticks.append(t)
        t += spacing
    if not ticks:
        ticks = [float(round(lo))]
    return ticks, [_step_label(t, spacing) for t in ticks]


def _step_label(step: float, spacing: float) -> str:
    if abs(step) < 1e6:
        return f"{step:,.0f}"
    decimals = max(0, min(3, 6 - math.floor(math.log10(spacing))))  # enough to tell ticks apart
    return f"{step / 1e6:.{decimals}f}M"


def format_number(value: float, spacing: float = 0.0) -> str:
    """``value`` in at most about 7 characters, with the decimals that ``spacing`` needs."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e5 or size < 1e-3:
        return f"{value:.1e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    if spacing > 0:
        decimals = max(0, -math.floor(math.log10(spacing) + 1e-9))
        return f"{value:.{min(decimals, 4)}f}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """Round ticks for a linear axis over ``lo..hi`` (about ``count`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo], [format_number(lo)]
    spacing = _nice_spacing(hi - lo, count)
    first = math.ceil(lo / spacing - 1e-9) * spacing
    ticks = []
    t = first
    while t <= hi + spacing * 1e-9:
        ticks.append(0.0 if abs(t) < spacing * 1e-9 else t)
        t += spacing
    return ticks, [format_number(t, spacing) for t in ticks]


def log_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """Ticks for a log axis over positive ``lo..hi``: decades, or 1-2-5 steps inside a short range."""
    if lo <= 0 or hi <= lo:
        return nice_ticks(lo, hi, count)
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = [10.0 ** k for k in range(first, last + 1)]
    stride = max(1, math.ceil(len(decades) / max(count, 1)))
    ticks = [t for t in decades[::stride] if lo <= t <= hi]
    if len(ticks) < 2:  # less than a decade shown: 1, 2, 5 multiples
        ticks = [m * 10.0**k for k in range(first, last + 1) for m in (1, 2, 5) if lo <= m * 10.0**k <= hi]
    if len(ticks) < 2:
        ticks = [lo, hi]
    return ticks, [f"{t:g}" if 1e-3 <= t < 1e5 else format_number(t) for t in ticks]
