"""What the live plots show for each loss: their series, reference lines and titles.

Reference values are GAN_THEORY.md's "at v ≡ 0" figures (D = ½, the game's optimum); a WGAN critic's
scores have no such point, so while the trainer reports a critic the game plot shows the raw scores
and no reference.
"""

from __future__ import annotations

import math

import pytest
from rich.style import Style

from gantui.protocol import METRIC_NAMES, MetricsBatch
from gantui.ui.app import GanApp
from gantui.ui.compared import RUN_COLORS, series_shade
from gantui.ui.plot_specs import GAME, JSD, WASSERSTEIN, loss_references
from gantui.ui.plot_specs import LOSSES as LOSS_PLOT
from gantui.ui.view import Frame
from gantui.ui.widgets.metric_plot import MetricPlot
from gantui.ui.widgets.run_header import RunHeader
from tests.fakes import (
    compared_rows,
    intervention,
    make_app,
    metrics_batch,
    run_async,
    run_state,
    started,
    state_changed,
    text_of,
)

LN2 = math.log(2)


@pytest.mark.parametrize(("loss", "expected"), [
    # L_D = −ln ½ − ln ½ = 2 ln 2 for every BCE loss; L_G at D = ½: −ln ½, ln(1 − ½), −½ e⁰.
    ("nonsaturating", ((2 * LN2, "2 ln 2"), (LN2, "ln 2"))),
    ("dragan", ((2 * LN2, "2 ln 2"), (LN2, "ln 2"))),
    ("minimax", ((2 * LN2, "2 ln 2"), (-LN2, "−ln 2"))),
    ("maxlikelihood", ((2 * LN2, "2 ln 2"), (-0.5, "−½"))),
    ("wgan-gp", ()), ("hinge", ()), ("lsgan", ()),
])
def test_loss_plot_references_are_the_optimum_values(loss: str, expected) -> None:
    got = loss_references(loss)
    assert [label for _, label in got] == [label for _, label in expected]
    assert [y for y, _ in got] == pytest.approx([y for y, _ in expected], abs=1e-12)


def test_a_critic_game_plot_shows_raw_scores_without_the_half_line() -> None:
    critic = GAME.variant(critic=True)
    assert [s.name for s in critic.series] == ["v_real", "v_fake"]
    assert critic.references("wgan-gp") == () and critic.bounds == (None, None)


def test_a_discriminator_game_plot_shows_probabilities_and_other_plots_never_change() -> None:
    assert GAME.variant(critic=False) is GAME and GAME.bounds == (0.0, 1.0)
    assert [s.name for s in GAME.series] == ["d_real", "d_fake"]
    for spec in (LOSS_PLOT, JSD, WASSERSTEIN):
        assert spec.variant(critic=True) is spec and spec.variant(critic=False) is spec


def game_plot_text(app: GanApp) -> str:
    plot = app.query_one("#plot-game", MetricPlot)
    return plot.render().plain


@run_async
async def test_the_game_plot_follows_the_reported_loss():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.plot_timer.pause()  # the test ticks by hand
        controller.push(state_changed(run_state(loss="wgan-gp", critic=True)), metrics_batch(0, 200))
        await pilot.pause()
        app.plot_tick()
        text = game_plot_text(app)
        assert "critic v(x), v(G(z))" in text and "┈ ½" not in text
        # The fake scores are logit(D(G(z))) < 0 at the start (D(G(z)) = 0.15): a tick below zero.
        assert any(line.lstrip().startswith("-") for line in text.splitlines())

        controller.push(state_changed(run_state(loss="nonsaturating")))
        await pilot.pause()
        app.plot_tick()  # a loss switch is drawn at the next tick, whatever the budget
        text = game_plot_text(app)
        assert "D(x), D(G(z))   ┈ ½" in text and "critic" not in text


@run_async
async def test_every_plot_spans_the_whole_history_and_shows_a_switch_marker(monkeypatch):
    """A critic's raw scores start at the switch; its plot still spans the run and marks the switch."""
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.plot_timer.pause()
        before, after = metrics_batch(0, 100), metrics_batch(2000, 100)  # steps 0–1980, 2000–3980
        v = [METRIC_NAMES.index("v_real"), METRIC_NAMES.index("v_fake")]
        values = before.values.copy()
        values[:, v] = float("nan")  # under the BCE loss the trainer reports no raw scores
        controller.push(state_changed(run_state(loss="wgan-gp", critic=True)),
                            MetricsBatch(columns=before.columns, values=values), after,
                            intervention(2000, "loss", "loss = wgan-gp"))
        await pilot.pause()
        app.refresh_plots()  # the JSD plot appears: the trainer reported a JSD
        await pilot.pause()
        assert [plot.id for plot in app.plots] == ["plot-game", "plot-losses", "plot-jsd"]
        calls: dict[str, list[tuple[str, tuple]]] = {}
        for plot in app.plots:
            for name in ("vline", "xlim"):
                original = getattr(plot.plt, name)
                monkeypatch.setattr(plot.plt, name, lambda *a, _o=original, _n=name, _id=plot.id, **kw:
                                    (calls.setdefault(_id, []).append((_n, a)), _o(*a, **kw))[1])
        app._drawn = None
        app.refresh_plots()
        for plot_id in ("plot-game", "plot-losses", "plot-jsd"):
            assert ("vline", (2000,)) in calls[plot_id], plot_id
            assert ("xlim", (0.0, 4000.0)) in calls[plot_id], plot_id  # to the reported step


# ---------------------------------------------------------------- drawing only when needed
@run_async
async def test_metrics_only_append_and_the_timer_redraws_once_per_change(monkeypatch):
    calls: list[str] = []
    original = MetricPlot.redraw
    monkeypatch.setattr(MetricPlot, "redraw", lambda self, *a: (calls.append(self.id), original(self, *a)))
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        app.plot_timer.pause()  # the test ticks by hand: no redraw comes from the clock
        calls.clear()
        controller.push(metrics_batch(0, 100))
        await pilot.pause()
        assert calls == []  # handling a MetricsBatch draws nothing
        app.refresh_plots()
        assert len(calls) == 3  # one redraw per plot
        app.refresh_plots()
        assert len(calls) == 3  # nothing new: no redraw
        controller.push(metrics_batch(2000, 10))
        await pilot.pause()
        app.refresh_plots()
        assert len(calls) == 6


@run_async
async def test_costly_plots_redraw_new_rows_within_the_budget_but_user_changes_at_once(monkeypatch):
    """The timer spaces history-only redraws by their CPU cost / plot_budget; markers never wait."""
    calls: list[str] = []
    original = MetricPlot.redraw
    monkeypatch.setattr(MetricPlot, "redraw", lambda self, *a: (calls.append(self.id), original(self, *a)))
    app, controller = make_app(plot_budget=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        app.plot_timer.pause()  # the test ticks by hand
        controller.push(metrics_batch(0, 100))
        await pilot.pause()
        app.refresh_plots()  # the JSD plot appears (a JSD was reported): let the layout settle
        await pilot.pause()
        app._drawn = None
        for plot in app.plots:
            plot.render_seconds = 10.0  # as if plotext took 10 s a plot: 30 s / 0.1 puts the next at 300 s
        calls.clear()
        app.refresh_plots()  # draws now; the cost it records spaces the next history-only draw
        assert len(calls) == 3
        controller.push(metrics_batch(5000, 10))
        await pilot.pause()
        calls.clear()
        app.plot_tick()
        assert calls == []  # new rows alone wait for the budget
        assert "step 5,180" in text_of(app.query_one(RunHeader))  # the header still follows every tick
        controller.push(intervention(5100))
        await pilot.pause()
        app.plot_tick()
        assert len(calls) == 3  # a marker (something the user did) is drawn at the next tick


# ---------------------------------------------------------------- cost stays flat as the run grows
@run_async
async def test_a_million_rows_keep_the_history_bounded_and_redraws_flat():
    """Redraw time at 1 000 000 rows is close to that at 10 000: the history and decimation bound it.

    Times are compared as a ratio (the machine's speed cancels); 3× leaves room for timer noise while
    an unbounded history (100× more points to draw) would fail it by far.
    """
    import time

    app, controller = make_app(refresh_hz=0.2, history=2000)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)

        def redraw_seconds() -> float:
            times = []
            for _ in range(5):
                start = time.thread_time()  # CPU time: a busy machine does not stretch it
                for plot in app.plots:
                    plot.redraw(app.history, app.markers, frame())
                    plot.render()  # plotext builds the figure here
                times.append(time.thread_time() - start)
            return sorted(times)[len(times) // 2]

        def frame() -> Frame:
            return Frame(app.history.step_range(), "nonsaturating", False, 0.0, False)

        rows, batch = 0, 1000
        while rows < 10_000:
            app.history.extend(metrics_batch(rows, batch, every=1))
            rows += batch
        at_10k = redraw_seconds()
        while rows < 1_000_000:
            app.history.extend(metrics_batch(rows, batch, every=1))
            rows += batch
        at_1m = redraw_seconds()
        assert len(app.history) == 1_000_000  # rows seen …
        assert app.history.buckets <= app.history.max_levels * app.history.capacity  # … buckets kept: bounded
        print(f"redraw of 3 plots: {at_10k * 1e3:.1f} ms at 10k rows, {at_1m * 1e3:.1f} ms at 1M rows")
        assert at_1m < 3 * at_10k


@run_async
async def test_compared_runs_are_drawn_over_this_one_each_named_and_the_axis_spans_the_longest():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.plot_timer.pause()
        controller.push(state_changed(run_state()), metrics_batch(0, 200))  # this run: steps 0 … 3980
        await pilot.pause()
        app.plot_tick()
        alone = game_plot_text(app)
        assert "D(x)" in alone and "D(x) A" not in alone  # no comparison: the legend names no run
        controller.push(compared_rows(1, "B", rows=300), compared_rows(2, "C", rows=50))  # to 5980, 980
        await pilot.pause()
        app.plot_tick()
        text = game_plot_text(app)
        for label in ("D(x) A", "D(G(z)) A", "D(x) B", "D(G(z)) B", "D(x) C", "D(G(z)) C"):
            assert label in text
        assert app.logged() == (0.0, 5980.0)  # B is the longest run
        drawn = plot_colors(app.query_one("#plot-game", MetricPlot))
        for color in RUN_COLORS[:3]:  # each run in its own colour: its first series at full strength …
            assert color in drawn
        assert series_shade(RUN_COLORS[1], 1) in drawn  # … its second in a shade of it


def plot_colors(plot: MetricPlot) -> set[tuple[int, int, int]]:
    """The foreground colours of the plot as rendered."""
    styles = [span.style if isinstance(span.style, Style) else Style.parse(span.style)
              for span in plot.render().spans]
    return {tuple(style.color.triplet) for style in styles if style.color and style.color.triplet}


@run_async
async def test_a_plot_draw_is_timed_with_the_strips_textual_makes_of_it(monkeypatch):
    """render_seconds counts plotext's figure and Textual's conversion of it, and nothing else.

    The conversion of plotext's ANSI text into strips costs more than the figure; timing ``render``
    alone let plot redraws take over twice their ``ui.plot_budget``. A fake CPU clock advances 1 s
    in ``render`` and 2 s in the conversion: the draw costs 3 s, and a call that renders nothing
    (the strips already made) leaves the figure alone.
    """
    from textual.visual import Visual
    from textual_plotext import PlotextPlot

    from gantui.ui.widgets import metric_plot

    clock = [0.0]
    monkeypatch.setattr(metric_plot.time, "thread_time", lambda: clock[0])
    render, to_strips = PlotextPlot.render, Visual.to_strips.__func__

    def costly_render(self):
        clock[0] += 1.0
        return render(self)

    def costly_strips(cls, widget, *args, **kwargs):
        if isinstance(widget, MetricPlot):
            clock[0] += 2.0
        return to_strips(cls, widget, *args, **kwargs)

    monkeypatch.setattr(PlotextPlot, "render", costly_render)
    monkeypatch.setattr(Visual, "to_strips", classmethod(costly_strips))
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        app.plot_timer.pause()
        controller.push(metrics_batch(0, 100))
        await pilot.pause()
        app.refresh_plots()
        await pilot.pause()
        plot = app.plots[0]
        assert plot.render_seconds == 3.0
        plot.render_lines(plot.region.reset_offset)  # no new figure: nothing rendered
        assert plot.render_seconds == 3.0
