"""A live plot of a few metric columns over the steps the view shows, redrawn only when asked.

Each series is its buckets' min/max envelope, binned to screen columns (spikes never vanish); with
smoothing on, the envelope turns faint and the EMA of the rows is drawn over it. The y range fits what
is visible (within the spec's bounds); ticks are chosen here (whole steps on x, round numbers on y) so
that marker labels can be placed on exact canvas columns. plotext draws; it is given at most about
two points per column and series.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from textual import events
from textual.app import RenderResult
from textual.color import Color
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual_plotext import PlotextPlot

from gantui.text import printable
from gantui.ui.compared import Comparison, series_shade
from gantui.ui.history import MetricsHistory
from gantui.ui.markers import Markers
from gantui.ui.plot_specs import PlotSpec
from gantui.ui.render.decimate import Binned, bin_columns, ema, envelope_series
from gantui.ui.render.markers import group_markers, kind_color, place_labels
from gantui.ui.render.ticks import log_ticks, nice_ticks, step_ticks
from gantui.ui.view import Frame

__all__ = ["MetricPlot"]

RGB = tuple[int, int, int]

_FRAME_COLUMNS = 2  # plotext's left and right y axes
_FRAME_ROWS = 4  # the two x axes, the x tick labels and the title
_FAINT = 0.35  # how much of a series' colour its raw envelope keeps while smoothing is on
_GREY = (128, 128, 128)


def _blend(rgb: tuple[int, int, int], base: tuple[int, int, int], keep: float) -> tuple[int, int, int]:
    return tuple(round(keep * c + (1 - keep) * b) for c, b in zip(rgb, base, strict=True))  # type: ignore[return-value]


class _Drawn(NamedTuple):
    """One series of one run, binned to the canvas's columns (``smooth``: its EMA, when on)."""

    label: str
    color: RGB
    binned: Binned
    smooth: np.ndarray | None


class MetricPlot(PlotextPlot, can_focus=True):
    """Draws ``spec`` for a :class:`~gantui.ui.view.Frame`; references as lines, markers labelled."""

    DEFAULT_CSS = """
    MetricPlot { height: 1fr; min-height: 6; border-left: blank; }
    MetricPlot:focus { border-left: outer $accent; }
    """

    class Zoom(Message):
        """The mouse wheel over a plot: +1 zooms in, -1 out."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class Scroll(Message):
        """A sideways wheel (or shift+wheel) over a plot: -1 back in time, +1 forward."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    def __init__(self, spec: PlotSpec, **kwargs) -> None:
        super().__init__(id=spec.id, **kwargs)
        self.spec = spec
        self.render_seconds = 0.0  # CPU time of the last draw: the app spaces redraws by it
        self.hidden_nonpositive = 0  # points a log scale could not show, last redraw
        self._renders = 0

    def render(self) -> RenderResult:
        self._renders += 1
        return super().render()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Time a draw as a whole: plotext's canvas and the strips Textual makes of its ANSI text.

        The second part costs more than the first (at 160×48, about 9 ms of a plot's 15), so timing
        ``render`` alone let plot redraws take over twice their ``ui.plot_budget``. A call that finds the
        strips already made (no render) leaves the figure as it was.
        """
        renders, start = self._renders, time.thread_time()
        lines = super().render_lines(crop)
        if self._renders != renders:
            self.render_seconds = time.thread_time() - start
        return lines

    # ---------------------------------------------------------------- mouse (never needed: keys do it all)
    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Scroll(-1) if event.shift else self.Zoom(+1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Scroll(+1) if event.shift else self.Zoom(-1))

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.post_message(self.Scroll(-1))

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.post_message(self.Scroll(+1))

    # ---------------------------------------------------------------- drawing
    def _surface(self) -> tuple[int, int, int]:
        try:
            return Color.parse(self.app.theme_variables.get("surface", "#1e1e1e")).rgb
        except Exception:  # no app theme (a plot drawn outside an app)
            return (30, 30, 30)

    def redraw(self, history: MetricsHistory, markers: Markers, frame: Frame,
               comparison: Comparison | None = None) -> None:
        """Rebuild the figure; plotext renders it on the next frame. With a ``comparison`` every run is
        drawn in its own colour, its series in shades of it, the legend naming the run."""
        plt = self.plt
        plt.clear_figure()
        spec = self.spec.variant(frame.critic)
        log = frame.log and spec.loggable
        references = spec.references(frame.loss)
        title = printable(spec.title)
        if references:
            title += "   ┈ " + ", ".join(label for _y, label in references)
        width, height = self.size
        canvas_h = max(height - _FRAME_ROWS, 1)
        if frame.range is None:
            plt.title(title + "  (no data yet)")
            self.refresh()
            return
        lo, hi = frame.range
        if hi <= lo:  # a single row: one step either side, so the axis still reads in whole steps
            lo, hi = lo - 1, hi + 1
        columns = max(width - 12, 10)
        drawn = self._series(self._sources(history, comparison), spec, lo, hi, columns, frame.smoothing, log)
        if not drawn:
            seen = any(history.has(series.name) for series in spec.series)
            plt.title(title + ("  (nothing in this window)" if seen else "  (no data yet)"))
            self.refresh()
            return
        ylo, yhi = self._y_range(spec, drawn, references, log)
        ticks, labels = (log_ticks(10 ** ylo, 10 ** yhi, max(canvas_h // 2, 3)) if log
                         else nice_ticks(ylo, yhi, max(canvas_h // 2, 3)))
        canvas_w = max(width - _FRAME_COLUMNS - max(len(s) for s in labels), 1)
        if log:
            plt.yscale("log")
            title += "  (log y" + (f"; {self.hidden_nonpositive} ≤ 0 not shown)" if self.hidden_nonpositive
                                   else ")")
        plt.title(title)
        plt.yticks(ticks, labels)
        plt.ylim(ylo, yhi)  # in log10 units on a log axis: plotext applies ylim after its own log10
        plt.xlim(lo, hi)
        plt.xticks(*step_ticks(lo, hi, max(canvas_w // 9, 1)))
        surface = self._surface()
        for one in drawn:
            xs, ys = envelope_series(one.binned.x, one.binned.low, one.binned.high)
            if one.smooth is None:
                plt.plot(xs, ys, label=one.label, color=one.color, marker="braille")
            else:
                plt.plot(xs, ys, color=_blend(one.color, surface, _FAINT), marker="braille")
                plt.plot(one.binned.x.tolist(), one.smooth.tolist(), label=one.label, color=one.color,
                         marker="braille")
        for y, _label in references:
            if not (log and y <= 0) and ylo <= (math.log10(y) if log else y) <= yhi:
                plt.hline(y, color=_GREY)
        self._markers(markers, lo, hi, ylo, yhi, canvas_w, canvas_h, [one.label for one in drawn], log,
                      surface)
        self.refresh()

    @staticmethod
    def _sources(history: MetricsHistory, comparison: Comparison | None
                 ) -> list[tuple[MetricsHistory, str, RGB | None]]:
        """(history, the run's name in the legend, its colour); one source, unnamed, without a comparison."""
        if not comparison:
            return [(history, "", None)]
        return [(history, comparison.this_label, comparison.this_color),
                *((run.history, run.label, run.color) for run in comparison.ordered())]

    def _series(self, sources: list[tuple[MetricsHistory, str, RGB | None]], spec: PlotSpec, lo: float,
                hi: float, columns: int, smoothing: float, log: bool) -> list[_Drawn]:
        drawn = []
        self.hidden_nonpositive = 0
        for history, run_label, run_color in sources:
            for j, series in enumerate(spec.series):
                w = history.window(series.name, lo, hi)
                ok = np.isfinite(w.low) & np.isfinite(w.high) & np.isfinite(w.sums)
                if log:
                    self.hidden_nonpositive += int((ok & (w.low <= 0)).sum())
                    ok &= w.low > 0
                if not ok.any():
                    continue
                binned = bin_columns(w.x[ok], w.low[ok], w.high[ok], w.sums[ok], w.counts[ok], lo, hi,
                                     columns)
                smooth = ema(binned.sums, binned.counts, smoothing) if smoothing > 0 else None
                label = f"{series.label} {run_label}" if run_label else series.label
                color = series.color if run_color is None else series_shade(run_color, j)
                drawn.append(_Drawn(label, color, binned, smooth))
        return drawn

    @staticmethod
    def _y_range(spec: PlotSpec, drawn, references, log: bool) -> tuple[float, float]:
        """The visible values' range, padded by 5 %, within the spec's bounds (log10 units if ``log``)."""
        lows = [one.binned.low.min() for one in drawn]
        highs = [one.binned.high.max() for one in drawn]
        ylo, yhi = float(min(lows)), float(max(highs))
        if spec.references_in_range:
            ys = [y for y, _label in references if not log or y > 0]
            ylo, yhi = min([ylo, *ys]), max([yhi, *ys])
        if log:
            ylo, yhi = math.log10(ylo), math.log10(yhi)
        span = yhi - ylo
        pad = 0.05 * span if span > 0 else max(abs(yhi) * 0.1, 0.05)
        ylo, yhi = ylo - pad, yhi + pad
        if not log:
            low_bound, high_bound = spec.bounds
            if low_bound is not None:
                ylo = max(ylo, low_bound)
            if high_bound is not None:
                yhi = min(yhi, high_bound)
        if yhi <= ylo:
            yhi = ylo + 1e-9
        return ylo, yhi

    def _markers(self, markers: Markers, lo: float, hi: float, ylo: float, yhi: float, canvas_w: int,
                 canvas_h: int, legend: list[str], log: bool, surface: tuple[int, int, int]) -> None:
        groups = group_markers(markers.in_range(lo, hi), lo, hi, canvas_w)
        if not groups:
            return
        plt = self.plt
        for group in groups:
            plt.vline(group.step, color=kind_color(group.kind))
        # plotext's legend sits in the canvas's top-left rows: 3 marker cells, then " label " padded to
        # the longest label, so it ends at column 3 + longest + 1.
        legend_end = 3 + max(len(label) for label in legend) + 1
        blocked = [(row, 0, legend_end) for row in range(len(legend))]
        rows = min(3, max(1, (canvas_h + 1) // 3))
        for placed in place_labels(groups, canvas_w, rows, blocked):
            # Row r from the top is where plotext puts y = yhi - r * (yhi - ylo) / (canvas_h - 1).
            y = yhi - placed.row * (yhi - ylo) / max(canvas_h - 1, 1)
            plt.text(placed.text, placed.step, 10 ** y if log else y, color=placed.color,
                     alignment=placed.align, background=surface)
