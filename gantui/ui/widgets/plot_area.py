"""The column of plots: which plots are on screen, in which order, and redrawing them together.

A default plot shows while the steps on screen hold its metric (Ŵ for the phase of a run trained under
a WGAN loss, the f-divergence bound under an f-GAN), so a zoomed view never spends a quarter of the
screen on an empty plot; the game and loss plots show from the start. The user can show any other
plot, or hide any, with the metric chooser (``m``) or the palette; that choice then holds whatever
the data does.
"""

from __future__ import annotations

from textual.containers import Vertical

from gantui.ui.compared import Comparison
from gantui.ui.history import MetricsHistory
from gantui.ui.markers import Markers
from gantui.ui.plot_specs import PLOTS, PlotSpec, catalogue
from gantui.ui.view import Frame
from gantui.ui.widgets.metric_plot import MetricPlot

__all__ = ["PlotArea"]


class PlotArea(Vertical):
    """Holds one :class:`MetricPlot` per plot shown (created when first shown, then kept)."""

    DEFAULT_CSS = """
    PlotArea { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, shown: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        # spec id -> the user's choice; absent: the spec's default. ``shown`` are ids or column names.
        self.choices: dict[str, bool] = {}
        self._asked = tuple(shown)
        self._plots: dict[str, MetricPlot] = {}
        self._layout: tuple[str, ...] = ()
        self.window: tuple[float, float] | None = None  # the steps the plots show (set by the app)

    def compose(self):
        # The plots shown from the start exist before the first row, so the first of them has the
        # focus (x maximises the focused panel) rather than a panel further down.
        for spec in PLOTS:
            if spec.always:
                plot = self._plots[spec.id] = MetricPlot(spec)
                yield plot

    # ---------------------------------------------------------------- which plots
    def specs(self, history: MetricsHistory) -> tuple[PlotSpec, ...]:
        """Every plot the user can choose, for the columns seen so far."""
        return catalogue(history.names)

    def _asked_for(self, spec: PlotSpec) -> bool:
        return spec.id in self._asked or any(name in self._asked for name in spec.columns)

    def is_shown(self, spec: PlotSpec, history: MetricsHistory) -> bool:
        choice = self.choices.get(spec.id)
        if choice is not None:
            return choice
        if self._asked_for(spec):
            return True
        return spec.default and (spec.always or any(self._has(history, name) for name in spec.columns))

    def _has(self, history: MetricsHistory, name: str) -> bool:
        if not history.has(name):
            return False
        return self.window is None or history.window(name, *self.window).x.size > 0

    def shown(self, history: MetricsHistory) -> list[PlotSpec]:
        return [spec for spec in self.specs(history) if self.is_shown(spec, history)]

    def listed(self, history: MetricsHistory) -> list[PlotSpec]:
        """For the compact view: the plots shown, then every other plot that has data (htop lists all)."""
        shown = self.shown(history)
        rest = [spec for spec in self.specs(history) if spec not in shown
                and self.choices.get(spec.id) is not False and any(history.has(c) for c in spec.columns)]
        return shown + rest

    def toggle(self, spec_id: str, history: MetricsHistory) -> bool:
        """Show a hidden plot or hide a shown one; returns whether it is shown now."""
        spec = next(s for s in self.specs(history) if s.id == spec_id)
        self.choices[spec_id] = not self.is_shown(spec, history)
        return self.choices[spec_id]

    def set_shown(self, ids: set[str], history: MetricsHistory) -> None:
        """Show exactly the plots ``ids`` (the metric chooser's answer)."""
        for spec in self.specs(history):
            if (spec.id in ids) != self.is_shown(spec, history):
                self.choices[spec.id] = spec.id in ids

    # ---------------------------------------------------------------- widgets
    def sync(self, history: MetricsHistory) -> bool:
        """Mount and show or hide plot widgets to match :meth:`shown`; True when the layout changed."""
        shown = self.shown(history)
        layout = tuple(spec.id for spec in shown)
        if layout == self._layout:
            return False
        self._layout = layout
        order = [spec.id for spec in self.specs(history)]
        for spec in shown:
            if spec.id not in self._plots:
                plot = self._plots[spec.id] = MetricPlot(spec)
                later = [self._plots[i] for i in order[order.index(spec.id) + 1:] if i in self._plots
                         and self._plots[i].parent is self]
                self.mount(plot, before=later[0] if later else None)
        for plot_id, plot in self._plots.items():
            plot.display = plot_id in layout
        return True

    @property
    def plots(self) -> list[MetricPlot]:
        """The plots on screen, top to bottom."""
        return [self._plots[i] for i in self._layout if i in self._plots]

    def redraw(self, history: MetricsHistory, markers: Markers, frame: Frame,
               comparison: Comparison | None = None) -> None:
        for plot in self.plots:
            plot.redraw(history, markers, frame, comparison)

    @property
    def render_seconds(self) -> float:
        return sum(plot.render_seconds for plot in self.plots)

    def sizes(self) -> tuple[object, ...]:
        return tuple((plot.id, plot.size) for plot in self.plots)
