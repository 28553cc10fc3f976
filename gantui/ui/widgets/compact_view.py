"""The small-terminal view (80×24): one line per metric, htop style, instead of squeezed plots.

Each line is the metric's label, its latest value and a sparkline over the steps the view shows (the
same window, smoothing and log scale as the plots would use); a ruler on top puts each marker's number
at its column, coloured like its event-log line. Drawing is a few numpy calls and one Rich Text: no
plotext.
"""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text
from textual.widgets import Static

from gantui.text import printable
from gantui.ui.history import MetricsHistory
from gantui.ui.markers import Markers
from gantui.ui.plot_specs import PlotSpec
from gantui.ui.render.decimate import ema
from gantui.ui.render.markers import group_markers, kind_color
from gantui.ui.render.sparkline import column_means, sparkline
from gantui.ui.render.ticks import format_number
from gantui.ui.view import Frame

__all__ = ["CompactView"]

_LABEL = 9
_VALUE = 9


def _rgb(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class CompactView(Static):
    DEFAULT_CSS = """
    CompactView { height: 1fr; padding: 0 1; }
    """

    def redraw(self, history: MetricsHistory, markers: Markers, frame: Frame, specs: list[PlotSpec]) -> None:
        self.update(self.text(history, markers, frame, specs, self.size.width), layout=False)

    @staticmethod
    def text(history: MetricsHistory, markers: Markers, frame: Frame, specs: list[PlotSpec],
             width: int) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        spark_w = max(width - _LABEL - _VALUE - 2, 4)
        if frame.range is None:
            out.append("waiting for the first metrics…", style="dim")
            return out
        lo, hi = frame.range
        ruler = [" "] * spark_w
        colors: list[str | None] = [None] * spark_w
        for group in group_markers(markers.in_range(lo, hi), lo, hi, spark_w):
            label = group.texts()[1]
            for i, ch in enumerate(label):
                if 0 <= group.column + i < spark_w and ruler[group.column + i] == " ":
                    ruler[group.column + i], colors[group.column + i] = ch, _rgb(kind_color(group.kind))
        out.append(" " * (_LABEL + _VALUE + 2))
        for ch, color in zip(ruler, colors, strict=True):
            out.append(ch, style=color or "")
        for spec in specs:
            spec = spec.variant(frame.critic)
            log = frame.log and spec.loggable
            for series in spec.series:
                if not history.has(series.name):
                    continue
                out.append("\n")
                value = history.latest(series.name)
                w = history.window(series.name, lo, hi)
                ok = np.isfinite(w.sums) & (w.counts > 0)
                sums, counts = column_means(w.x[ok], w.sums[ok], w.counts[ok], lo, hi, spark_w)
                has = counts > 0
                means = np.full(spark_w, np.nan)
                if has.any():
                    means[has] = ema(sums[has], counts[has], frame.smoothing)
                out.append(f"{printable(series.label)[:_LABEL - 1]:<{_LABEL}}", style="bold")
                shown = format_number(value) if math.isfinite(value) else "·"
                out.append(f"{shown:>{_VALUE}} ")
                out.append(sparkline(means, spark_w, log=log), style=_rgb(series.color))
        return out
