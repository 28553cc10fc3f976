"""A live plot of a few metric columns, redrawn only when asked (by the app's refresh timer)."""

from __future__ import annotations

import time

import numpy as np
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from gantui.ui.history import Markers, MetricsHistory
from gantui.ui.plot_specs import PlotSpec
from gantui.ui.render import decimate, envelope_series

__all__ = ["MetricPlot"]

# Columns plotext spends on the y-axis ticks and frame; the rest is one decimated point per column.
_AXIS_COLUMNS = 9


class MetricPlot(PlotextPlot):
    """Draws each series of ``spec`` as a min/max envelope, references as lines, markers as verticals.

    Empty series are never handed to plotext (plotext issue 185 raises on an empty labelled series).
    """

    DEFAULT_CSS = """
    MetricPlot { height: 1fr; min-height: 5; }
    """

    def __init__(self, spec: PlotSpec, **kwargs) -> None:
        super().__init__(id=spec.id, **kwargs)
        self.spec = spec
        self.render_seconds = 0.0  # CPU time of the last render: the app spaces redraws by it

    def render(self) -> RenderResult:
        start = time.thread_time()
        try:
            return super().render()
        finally:
            self.render_seconds = time.thread_time() - start

    def redraw(self, history: MetricsHistory, markers: Markers, loss: str, critic: bool = False) -> None:
        """Rebuild the figure from ``history`` for ``loss`` (``critic``: D's v is a score, not a logit);
        plotext renders it on the next frame."""
        plt = self.plt
        plt.clear_figure()
        spec = self.spec.variant(critic)
        references = spec.references(loss)
        labels = ", ".join(label for _y, label in references)
        plt.title(spec.title + (f"   ┈ {labels}" if labels else ""))
        columns = max(self.size.width - _AXIS_COLUMNS, 10)
        drawn: set[str] = set()  # the y-axes with data
        for series in spec.series:
            step, low, high = history.series(series.name)
            finite = np.isfinite(step) & np.isfinite(low) & np.isfinite(high)
            if not finite.any():
                continue
            step, low, high = decimate(step[finite], low[finite], high[finite], columns)
            xs, ys = envelope_series(step, low, high)
            if not xs:
                continue
            plt.plot(xs, ys, label=series.label, color=series.color, yside=series.yside, marker="braille")
            drawn.add(series.yside)
        logged = history.step_range()
        if not drawn or logged is None:
            plt.title(spec.title + "  (no data yet)")
            self.refresh()
            return
        # Every plot spans the whole logged history, so that the plots line up and every marker is
        # on every plot, even one whose series began later (a critic's raw scores, after a switch).
        lo_step, hi_step = logged
        if spec.ylim is not None and "left" in drawn:
            plt.ylim(*spec.ylim)
        if "left" in drawn:
            for y, _label in references:
                plt.hline(y, color="gray")
        for step, _kind, _detail in markers.in_range(lo_step, hi_step):
            plt.vline(step, color="yellow")
        if hi_step > lo_step:
            plt.xlim(lo_step, hi_step)
        self.refresh()
