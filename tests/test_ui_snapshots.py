"""Snapshot tests of the dashboard on fixed synthetic data (``pytest --snapshot-update`` to refresh).

Deterministic by construction: every event comes from ``fakes`` (closed forms and seeded generators),
the header's clock is the metrics' ``t`` column, colours are pinned to truecolor (not the test
machine's TERM), and no widget with a blinking cursor has focus.
"""

from __future__ import annotations

from gantui.protocol import Notice
from gantui.ui.app import GanApp
from tests.fakes import (
    LOSSES,
    PRESETS,
    FakeController,
    failure,
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
        intervention(1000, "loss", "nonsaturating → minimax"),
        intervention(2000, "k", "1 → 3"),
        Notice(step=2500, level="warning", message="D(x) near 1: D may be winning"),
    )


def image_events(**state) -> tuple:
    return (state_changed(image_state(**state)), metrics_batch(0, 200, toy=False), image_samples(),
            intervention(2000, "lr_d", "2e-4 → 4e-4"))


def dashboard(events: tuple) -> GanApp:
    return GanApp(FakeController(events_on_start=events), losses=LOSSES, presets=PRESETS, colors="truecolor")


async def draw_plots(pilot) -> None:
    """Let the start-up events arrive, then draw the plots once (as the refresh timer would)."""
    await pilot.pause()
    pilot.app.refresh_plots()
    await pilot.pause()


def test_running_toy(snap_compare):
    assert snap_compare(dashboard(toy_events()), terminal_size=(120, 40), run_before=draw_plots)


def test_running_images_with_real_batch(snap_compare):
    assert snap_compare(dashboard(image_events()), press=["r"], terminal_size=(120, 40),
                        run_before=draw_plots)


def test_paused(snap_compare):
    # Footer says Resume, header says paused.
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
    assert snap_compare(dashboard(toy_events()), terminal_size=(80, 24), run_before=draw_plots)


def test_large_200x60(snap_compare):
    assert snap_compare(dashboard(image_events()), terminal_size=(200, 60), run_before=draw_plots)


def test_too_small(snap_compare):
    assert snap_compare(dashboard(toy_events()), terminal_size=(50, 12), run_before=draw_plots)
