"""Snapshot tests of the dashboard on fixed synthetic data (``pytest --snapshot-update`` to refresh).

Deterministic by construction: every event comes from ``fakes`` (closed forms and seeded generators),
the header's clock is the metrics' ``t`` column (HostStats carry the same clock) and does not run on
between reports (a frozen ``RunClock``), colours are pinned
to truecolor (not the test machine's TERM), and no widget with a blinking cursor has focus.
"""

from __future__ import annotations

from gantui.protocol import Notice
from gantui.ui.app import GanApp
from gantui.ui.clock import RunClock
from tests.fakes import (
    LOSSES,
    PRESETS,
    FakeController,
    alert,
    compared_rows,
    critic_samples,
    failure,
    host_stats,
    image_samples,
    image_state,
    intervention,
    metrics_batch,
    run_state,
    state_changed,
    toy_samples,
)


def toy_events(**state) -> tuple:
    return (
        state_changed(run_state(**state)),
        metrics_batch(0, 200),  # steps 0 … 3980
        toy_samples(),
        intervention(1000, "loss", "nonsaturating → minimax", label="minimax"),
        intervention(2000, "k", "1 → 3", label="k 3"),
        intervention(3500, "lr_d", "0.0002 → 0.0004", label="lr_d ×2"),
        intervention(3510, "lr_d", "0.0004 → 0.0008", label="lr_d ×2"),
        Notice(step=2500, level="warning", message="D(x) near 1: D may be winning"),
        host_stats(),
    )


def image_events(**state) -> tuple:
    return (state_changed(image_state(**state)), metrics_batch(0, 200, toy=False), image_samples(),
            intervention(2000, "lr_d", "2e-4 → 4e-4", label="lr_d ×2"), host_stats(cuda=True))


def dashboard(events: tuple) -> GanApp:
    app = GanApp(FakeController(events_on_start=events), losses=LOSSES, presets=PRESETS, colors="truecolor")
    app.clock = RunClock(now=lambda: 0.0)  # the clock runs on between reports in real time: not here
    return app


async def draw_plots(pilot) -> None:
    """Let the start-up events arrive, then draw the plots (as the refresh timer would) and let any plot
    that appeared with its data lay out before the final draw."""
    await pilot.pause()
    pilot.app.refresh_plots()
    await pilot.pause()
    pilot.app.refresh_plots()
    await pilot.pause()


def test_running_toy(snap_compare):
    assert snap_compare(dashboard(toy_events()), terminal_size=(120, 40), run_before=draw_plots)


def test_running_images_with_real_batch(snap_compare):
    assert snap_compare(dashboard(image_events()), press=["r"], terminal_size=(120, 40),
                        run_before=draw_plots)


def test_paused(snap_compare):
    # Footer says Resume, header says paused (no it/s).
    assert snap_compare(dashboard(toy_events(status="paused")), terminal_size=(120, 40),
                        run_before=draw_plots)


def test_loss_picker_open(snap_compare):
    assert snap_compare(dashboard(toy_events()), press=["l"], terminal_size=(120, 40), run_before=draw_plots)


def test_help_screen(snap_compare):
    assert snap_compare(dashboard(toy_events()), press=["question_mark"], terminal_size=(120, 40),
                        run_before=draw_plots)


def test_failure(snap_compare):
    events = (*toy_events(), failure(), state_changed(run_state(status="failed")))
    assert snap_compare(dashboard(events), terminal_size=(120, 40), run_before=draw_plots)


def test_compact_80x24(snap_compare):
    # Sparklines and numbers for every metric, the markers' numbers above them; no three-row plots.
    assert snap_compare(dashboard(toy_events()), terminal_size=(80, 24), run_before=draw_plots)


def test_large_200x60(snap_compare):
    assert snap_compare(dashboard(image_events()), terminal_size=(200, 60), run_before=draw_plots)


def test_too_small(snap_compare):
    assert snap_compare(dashboard(toy_events()), terminal_size=(50, 12), run_before=draw_plots)


def test_zoomed_to_the_last_1k_iterations(snap_compare):
    # Steps 2 980–3 980 only; y fits them; "3–4 lr_d ×2 (2)" is one line for two markers.
    assert snap_compare(dashboard(toy_events()), press=["1"], terminal_size=(120, 40), run_before=draw_plots)


def test_log_scale(snap_compare):
    assert snap_compare(dashboard(toy_events()), press=["y"], terminal_size=(120, 40), run_before=draw_plots)


def test_smoothing_0_9(snap_compare):
    # The raw envelopes faint, the EMA of the rows over them; the view line says "EMA 0.9".
    assert snap_compare(dashboard(toy_events()), press=["e", "e"], terminal_size=(120, 40),
                        run_before=draw_plots)


def test_alert_badges_and_markers(snap_compare):
    events = (*toy_events(), alert(3000), alert(3200, "g_vanishing", "G's gradient vanishes"))
    assert snap_compare(dashboard(events), terminal_size=(120, 40), run_before=draw_plots)


def test_critic_surface(snap_compare):
    # A drifted critic (v ≈ −57 … −54): coloured by v relative to itself, with the v legend.
    events = (*toy_events(loss="wgan-gp", critic=True), critic_samples())
    assert snap_compare(dashboard(events), terminal_size=(120, 40), run_before=draw_plots)


def test_two_runs_compared(snap_compare):
    # gantui view A B: B (orange) converges sooner and runs longer; A's markers and log only.
    events = (*toy_events(), compared_rows(1, "B", rows=300))
    assert snap_compare(dashboard(events), terminal_size=(120, 40), run_before=draw_plots)
