"""The keys (and mouse) that change how the history is shown: zoom, scroll, smoothing, scale, which
plots, a maximised panel. Nothing here reaches the trainer. A mixin of :class:`~gantui.ui.app.GanApp`:
each action changes the app's :class:`~gantui.ui.view.ViewState` or plot choice, and the next refresh
(at once: it is the user's doing) draws it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantui.ui.screens.metric_chooser import MetricChooser
from gantui.ui.widgets.event_log import EventLog
from gantui.ui.widgets.metric_plot import MetricPlot
from gantui.ui.widgets.samples_panel import SamplesPanel

if TYPE_CHECKING:
    from gantui.ui.app import GanApp

__all__ = ["Viewing"]


class Viewing:
    """View actions (``self`` is the app)."""

    def _view_changed(self: GanApp) -> None:
        self.plot_tick()

    def action_zoom(self: GanApp, window: int) -> None:
        self.view.zoom(window, self.logged())
        self._view_changed()

    def action_zoom_in(self: GanApp) -> None:
        self.view.zoom_in(self.logged())
        self._view_changed()

    def action_zoom_out(self: GanApp) -> None:
        self.view.zoom_out(self.logged())
        self._view_changed()

    def action_scroll_view(self: GanApp, direction: int) -> None:
        if not self.view.window:
            self.notify("the whole run is shown: zoom in first (1, 2, 3 or z)", timeout=3)
            return
        self.view.scroll(direction, self.logged())
        self._view_changed()

    def action_view_start(self: GanApp) -> None:
        self.view.to_start(self.logged())
        self._view_changed()

    def action_follow(self: GanApp) -> None:
        self.view.follow()
        self._view_changed()

    def action_reset_view(self: GanApp) -> None:
        self.view.reset()
        self._view_changed()

    def action_smooth(self: GanApp) -> None:
        self.view.cycle_smoothing()
        self._view_changed()

    def action_log_scale(self: GanApp) -> None:
        self.view.toggle_log()
        self._view_changed()

    def on_metric_plot_zoom(self: GanApp, message: MetricPlot.Zoom) -> None:
        (self.action_zoom_in if message.direction > 0 else self.action_zoom_out)()

    def on_metric_plot_scroll(self: GanApp, message: MetricPlot.Scroll) -> None:
        if self.view.window:
            self.action_scroll_view(message.direction)

    # ---------------------------------------------------------------- plots and panels
    def plot_choices(self: GanApp) -> list[tuple[str, str, bool]]:
        area, history = self.plot_area, self.history
        return [(spec.id, spec.title, area.is_shown(spec, history)) for spec in area.specs(history)]

    def toggle_plot(self: GanApp, plot_id: str) -> None:
        self.plot_area.toggle(plot_id, self.history)
        self._view_changed()

    def action_choose_plots(self: GanApp) -> None:
        area, history = self.plot_area, self.history
        choices = [(spec.id, spec.title, ", ".join(spec.columns), area.is_shown(spec, history))
                   for spec in area.specs(history)]

        def chosen(ids: set[str] | None) -> None:
            if ids is not None:
                area.set_shown(ids, history)
                self._view_changed()

        self.push_screen(MetricChooser(choices), chosen)

    def action_maximise(self: GanApp) -> None:
        """Maximise the selected panel (a plot, the samples or the log; else the first plot), or restore."""
        screen = self.screen_stack[0]
        if screen.maximized is not None:
            screen.minimize()
            self._view_changed()
            return
        target = screen.focused
        if not isinstance(target, (MetricPlot, SamplesPanel, EventLog)) or not target.display:
            plots = self.plot_area.plots
            target = plots[0] if plots and not self.compact else self.samples
        screen.maximize(target, container=False)
        self._view_changed()
