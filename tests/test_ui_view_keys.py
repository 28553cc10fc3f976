"""Pilot tests of the view keys and the mouse: zoom, scroll, follow, smoothing, log scale, maximise.

Each plot's plotext calls are recorded, so the tests read what a plot was asked to draw (its x and y
limits, its series, its labels) rather than parsing braille. Expected windows are worked out from the
fake run (rows every 20 steps from 0 to 3 980).
"""

from __future__ import annotations

import numpy as np
import pytest
from textual import events

from gantui.protocol import MetricsBatch, frozen_array
from gantui.ui.widgets.compact_view import CompactView
from gantui.ui.widgets.metric_plot import MetricPlot
from gantui.ui.widgets.view_bar import ViewBar
from tests.fakes import host_stats, intervention, make_app, metrics_batch, run_async, started, text_of

SPIKE = 50.0  # L_D at step 100: far above the rest (L_D < 2)


def spiky_run() -> MetricsBatch:
    b = metrics_batch(0, 200)
    values = b.values.copy()
    values[5, b.columns.index("loss_d")] = SPIKE  # step 100
    return MetricsBatch(columns=b.columns, values=frozen_array(values))


class Calls:
    """Records the plotext calls of every plot on screen: calls[plot_id] = [(name, args, kwargs)]."""

    NAMES = ("xlim", "ylim", "yscale", "plot", "text", "vline", "xticks", "title")

    def __init__(self, app, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, list[tuple[str, tuple, dict]]] = {}
        for plot in app.plots:
            for name in self.NAMES:
                original = getattr(plot.plt, name)

                def wrapper(*args, _o=original, _n=name, _id=plot.id, **kwargs):
                    self.calls.setdefault(_id, []).append((_n, args, kwargs))
                    return _o(*args, **kwargs)

                monkeypatch.setattr(plot.plt, name, wrapper)

    def clear(self) -> None:
        self.calls.clear()

    def of(self, plot_id: str, name: str) -> list[tuple[tuple, dict]]:
        return [(a, kw) for n, a, kw in self.calls.get(plot_id, []) if n == name]


async def dashboard(pilot, app, controller, *events_):
    await started(pilot, controller)
    app.plot_timer.pause()  # the test draws by hand
    controller.push(*events_)
    await pilot.pause()
    app.refresh_plots()  # the JSD plot appears (the run reports a true JSD): let the layout settle
    await pilot.pause()


async def press(pilot, app, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()
    app.refresh_plots()


@run_async
async def test_zoom_keys_show_the_last_iterations_and_the_y_range_fits_what_is_shown(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, spiky_run())
        calls = Calls(app, monkeypatch)
        await press(pilot, app, "1")
        assert calls.of("plot-losses", "xlim")[-1][0] == (3000.0, 4000.0)  # the last 1k iterations
        assert calls.of("plot-losses", "ylim")[-1][0][1] < 3  # the spike at step 100 is not shown
        assert "last 1k it · following" in text_of(app.query_one(ViewBar))
        await press(pilot, app, "2")
        assert calls.of("plot-game", "xlim")[-1][0] == (0.0, 4000.0)  # 10k is more than the run
        await press(pilot, app, "0")
        assert calls.of("plot-losses", "ylim")[-1][0][1] > SPIKE  # the whole run: the spike is back
        assert "whole run" in text_of(app.query_one(ViewBar))


@run_async
async def test_scroll_keys_move_half_a_window_and_end_follows_again(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, spiky_run())
        calls = Calls(app, monkeypatch)
        await press(pilot, app, "1", "left")
        assert calls.of("plot-game", "xlim")[-1][0] == (2500.0, 3500.0)
        controller.push(metrics_batch(4000, 50))  # new rows do not move a view scrolled back
        await pilot.pause()
        app.refresh_plots()
        assert calls.of("plot-game", "xlim")[-1][0] == (2500.0, 3500.0)
        await press(pilot, app, "home")
        assert calls.of("plot-game", "xlim")[-1][0] == (0.0, 1000.0)
        await press(pilot, app, "right")
        assert calls.of("plot-game", "xlim")[-1][0] == (500.0, 1500.0)
        await press(pilot, app, "end")
        assert calls.of("plot-game", "xlim")[-1][0] == (3980.0, 4980.0)  # following the newest row


@run_async
async def test_smoothing_key_draws_the_raw_envelope_faint_under_the_smoothed_line(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200))
        calls = Calls(app, monkeypatch)
        await press(pilot, app, "e")
        assert "EMA 0.6" in text_of(app.query_one(ViewBar))
        plotted = calls.of("plot-losses", "plot")
        assert len(plotted) == 4  # L_D and L_G: a faint envelope each, then its smoothed line
        faint, smooth = plotted[0][1], plotted[1][1]
        assert "label" not in faint and smooth["label"] == "L_D"  # the legend names the smoothed line
        assert faint["color"] != smooth["color"]
        xs, ys = plotted[1][0]
        assert len(xs) == len(ys) and np.all(np.diff(ys) != 0)  # a line through every column
        await press(pilot, app, "e", "e")  # 0.9, 0.99
        calls.clear()
        await press(pilot, app, "e")  # back to raw: one envelope per series, in its own colour
        assert "raw" in text_of(app.query_one(ViewBar))
        assert [kw["label"] for _a, kw in calls.of("plot-losses", "plot")] == ["L_D", "L_G"]


@run_async
async def test_log_key_puts_losses_and_divergences_on_a_log_scale_but_not_probabilities(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200))
        calls = Calls(app, monkeypatch)
        await press(pilot, app, "y")
        assert calls.of("plot-losses", "yscale")[-1][0] == ("log",)
        assert calls.of("plot-jsd", "yscale")[-1][0] == ("log",)
        assert calls.of("plot-game", "yscale") == []  # D(x) is a probability in [0, 1]: linear
        assert "log y" in text_of(app.query_one(ViewBar))


@run_async
async def test_the_mouse_wheel_zooms_and_a_click_selects_the_panel_that_x_maximises(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200))
        losses = app.query_one("#plot-losses", MetricPlot)
        for _ in range(3):  # whole run -> 100k -> 10k -> 1k (Pilot has no public wheel helper)
            await pilot._post_mouse_events([events.MouseScrollUp], widget=losses, offset=(20, 4))
        assert app.view.window == 1000
        await pilot._post_mouse_events([events.MouseScrollUp], widget=losses, offset=(20, 4), shift=True)
        assert app.view.range(app.history.step_range()) == (2500.0, 3500.0)  # shift+wheel scrolls
        await pilot._post_mouse_events([events.MouseScrollDown], widget=losses, offset=(20, 4))
        assert app.view.window == 10_000
        await pilot.click(losses, offset=(20, 4))
        assert app.focused is losses
        await press(pilot, app, "x")
        assert app.screen.maximized is losses and losses.size.height > 30
        await press(pilot, app, "escape")
        assert app.screen.maximized is None


@run_async
async def test_markers_are_labelled_and_numbered_like_their_log_lines(monkeypatch):
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200), intervention(1000, "loss", "→ hinge"))
        controller.push(*(intervention(2000 + i, "lr_d", f"lr_d ×2 ({i})") for i in range(3)))
        await pilot.pause()
        calls = Calls(app, monkeypatch)
        await press(pilot, app, "0")
        labels = [args[0] for args, _kw in calls.of("plot-game", "text")]
        assert "1 loss" in labels  # Intervention.label is empty here: the kind stands in
        assert "2–4 lr_d (3)" in labels  # three markers in one column: one line, their numbers, a count
        assert [args[0] for args, _kw in calls.of("plot-game", "vline")] == [1000, 2000]
        log = "\n".join(line.text for line in app.event_log.lines)
        assert "#1 loss → hinge" in log and "#4 lr_d ×2 (2)" in log
        # Paused 31 steps after the last row (the trainer's HostStats say where it is): still on screen.
        controller.push(host_stats(4011), intervention(4011, "pause", "paused", label="pause"))
        await pilot.pause()
        app.refresh_plots()
        assert calls.of("plot-game", "vline")[-1][0] == (4011,)
        assert calls.of("plot-game", "xlim")[-1][0] == (0.0, 4011.0)


@run_async
async def test_the_plot_chooser_shows_any_metric_and_new_columns_get_a_plot():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        fid = MetricsBatch(columns=("step", "fid"), values=frozen_array(np.array([[4000.0, 31.5]])))
        await dashboard(pilot, app, controller, metrics_batch(0, 200), fid)
        assert [p.id for p in app.plots] == ["plot-game", "plot-losses", "plot-jsd"]
        await pilot.press("m")
        await pilot.pause()
        selection = app.screen.query_one("SelectionList")
        values = [selection.get_option_at_index(i).value for i in range(selection.option_count)]
        assert "plot-grads" in values and any(v.startswith("plot-col-fid") for v in values)
        selection.select("plot-grads")
        selection.select(next(v for v in values if v.startswith("plot-col-fid")))
        selection.deselect("plot-jsd")
        await pilot.press("enter")
        await pilot.pause()
        app.refresh_plots()
        await pilot.pause()
        ids = [p.id for p in app.plots]
        assert ids[:3] == ["plot-game", "plot-losses", "plot-grads"] and ids[3].startswith("plot-col-fid")


@run_async
async def test_what_belongs_together_is_plotted_together():
    """The JSD read-outs share a plot; Ŵ (a critic's estimate) has its own while the view holds it."""
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200, toy=False))
        assert [p.id for p in app.plots] == ["plot-game", "plot-losses", "plot-jsd"]  # jsd_bound only
        b = metrics_batch(4000, 20, toy=False)
        values = b.values.copy()
        values[:, b.columns.index("w_estimate")] = 0.3
        controller.push(MetricsBatch(columns=b.columns, values=frozen_array(values)))
        await pilot.pause()
        app.refresh_plots()
        assert [p.id for p in app.plots] == ["plot-game", "plot-losses", "plot-jsd", "plot-w"]
        await press(pilot, app, "1", "home")  # steps 0-1000: no Ŵ there, so no empty plot for it
        assert [p.id for p in app.plots] == ["plot-game", "plot-losses", "plot-jsd"]


@run_async
async def test_small_terminals_get_the_compact_view_and_large_ones_the_plots():
    app, controller = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200), intervention(1000, "loss", "→ hinge"))
        compact = app.query_one(CompactView)
        assert app.compact and compact.region.area > 0 and app.query_one("#plots").region.area == 0
        text = compact.render().plain
        assert "D(x)" in text and "L_G" in text and "‖∇D‖" in text  # every metric, one line each
        assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        app.refresh_plots()
        await pilot.pause()
        assert not app.compact and compact.region.area == 0 and app.plots[0].region.area > 0


@run_async
async def test_plots_asked_for_by_the_preset_are_on_screen_from_the_start():
    """ui.plots = "grad_norm_g" (ring8-minimax): the collapse its description promises is drawn."""
    app, controller = make_app(plots=["grad_norm_g"])
    async with app.run_test(size=(120, 40)) as pilot:
        await dashboard(pilot, app, controller, metrics_batch(0, 200))
        assert [p.id for p in app.plots] == ["plot-game", "plot-losses", "plot-jsd", "plot-grads"]
