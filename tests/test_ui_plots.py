"""What the live plots show for each loss: their series, reference lines and titles.

Reference values are GAN_THEORY.md's "at v ≡ 0" figures (D = ½, the game's optimum); a WGAN critic's
scores have no such point, so while the trainer reports a critic the game plot shows the raw scores
and no reference.
"""

from __future__ import annotations

import math

import pytest
from fakes import (
    LOSSES,
    PRESETS,
    FakeController,
    intervention,
    metrics_batch,
    run_async,
    run_state,
    state_changed,
)

from gantui.protocol import METRIC_NAMES, MetricsBatch
from gantui.ui.app import GanApp
from gantui.ui.plot_specs import DIVERGENCE, GAME, loss_references
from gantui.ui.plot_specs import LOSSES as LOSS_PLOT
from gantui.ui.widgets.metric_plot import MetricPlot

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
    assert critic.references("wgan-gp") == () and critic.ylim is None


def test_a_discriminator_game_plot_shows_probabilities_and_other_plots_never_change() -> None:
    assert GAME.variant(critic=False) is GAME and GAME.ylim == (0.0, 1.0)
    assert [s.name for s in GAME.series] == ["d_real", "d_fake"]
    for spec in (LOSS_PLOT, DIVERGENCE):
        assert spec.variant(critic=True) is spec and spec.variant(critic=False) is spec


def game_plot_text(app: GanApp) -> str:
    plot = app.query_one("#plot-game", MetricPlot)
    return plot.render().plain


@run_async
async def test_the_game_plot_follows_the_reported_loss():
    app = GanApp(FakeController(), losses=LOSSES, presets=PRESETS)
    async with app.run_test(size=(120, 40)) as pilot:
        app.plot_timer.pause()  # the test ticks by hand
        app.controller.push(state_changed(run_state(loss="wgan-gp", critic=True)), metrics_batch(0, 200))
        await pilot.pause()
        app.plot_tick()
        text = game_plot_text(app)
        assert "critic v(x), v(G(z))" in text and "┈ ½" not in text
        # The fake scores are logit(D(G(z))) < 0 at the start (D(G(z)) = 0.15): a tick below zero.
        assert any(line.lstrip().startswith("-") for line in text.splitlines())

        app.controller.push(state_changed(run_state(loss="nonsaturating")))
        await pilot.pause()
        app.plot_tick()  # a loss switch is drawn at the next tick, whatever the budget
        text = game_plot_text(app)
        assert "D(x), D(G(z))   ┈ ½" in text and "critic" not in text


@run_async
async def test_every_plot_spans_the_whole_history_and_shows_a_switch_marker(monkeypatch):
    """A critic's raw scores start at the switch; its plot still spans the run and marks the switch."""
    app = GanApp(FakeController(), losses=LOSSES, presets=PRESETS)
    async with app.run_test(size=(120, 40)) as pilot:
        app.plot_timer.pause()
        before, after = metrics_batch(0, 100), metrics_batch(2000, 100)  # steps 0–1980, 2000–3980
        v = [METRIC_NAMES.index("v_real"), METRIC_NAMES.index("v_fake")]
        values = before.values.copy()
        values[:, v] = float("nan")  # under the BCE loss the trainer reports no raw scores
        app.controller.push(state_changed(run_state(loss="wgan-gp", critic=True)),
                            MetricsBatch(columns=before.columns, values=values), after,
                            intervention(2000, "loss", "loss = wgan-gp"))
        await pilot.pause()
        calls: dict[str, list[tuple[str, tuple]]] = {}
        for plot in app.plots:
            for name in ("vline", "xlim"):
                original = getattr(plot.plt, name)
                monkeypatch.setattr(plot.plt, name, lambda *a, _o=original, _n=name, _id=plot.id, **kw:
                                    (calls.setdefault(_id, []).append((_n, a)), _o(*a, **kw))[1])
        app.refresh_plots()
        for plot_id in ("plot-game", "plot-losses", "plot-divergence"):
            assert ("vline", (2000,)) in calls[plot_id], plot_id
            assert ("xlim", (0.0, 3980.0)) in calls[plot_id], plot_id
