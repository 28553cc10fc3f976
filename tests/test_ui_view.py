"""ViewState: which steps the plots show as the user zooms, scrolls, follows and resets (pure, no app)."""

from __future__ import annotations

from gantui.ui.view import SMOOTHING, ViewState, format_steps

LOGGED = (0.0, 50_000.0)


def test_the_default_view_is_the_whole_run_following_the_newest() -> None:
    view = ViewState()
    assert view.range(None) is None
    assert view.range(LOGGED) == LOGGED
    assert view.range((0.0, 60_000.0)) == (0.0, 60_000.0)  # follows as rows arrive
    assert view.describe() == "whole run · following · raw · linear y"


def test_zoom_shows_the_last_window_and_keeps_following() -> None:
    view = ViewState()
    view.zoom(1000, LOGGED)
    assert view.range(LOGGED) == (49_000.0, 50_000.0)
    assert view.range((0.0, 51_000.0)) == (50_000.0, 51_000.0)
    assert view.range((0.0, 400.0)) == (0.0, 400.0)  # a run shorter than the window: all of it
    view.zoom_out(LOGGED)
    assert view.window == 10_000
    view.zoom_in(LOGGED)
    view.zoom_in(LOGGED)
    assert view.window == 1000  # 1k is the deepest
    view.zoom(0, LOGGED)
    assert view.range(LOGGED) == LOGGED and view.following


def test_scrolling_moves_half_a_window_stops_at_the_start_and_follows_again_at_the_end() -> None:
    view = ViewState()
    assert not view.scroll(-1, LOGGED)  # the whole run is shown: nowhere to go
    view.zoom(10_000, LOGGED)
    assert view.scroll(-1, LOGGED)
    assert view.range(LOGGED) == (35_000.0, 45_000.0) and not view.following
    assert view.range((0.0, 90_000.0)) == (35_000.0, 45_000.0)  # scrolled back: new rows do not move it
    for _ in range(20):
        view.scroll(-1, LOGGED)
    assert view.range(LOGGED) == (0.0, 10_000.0)  # never before the first step
    view.scroll(+1, LOGGED)
    assert view.range(LOGGED) == (5_000.0, 15_000.0)
    while not view.following:
        assert view.scroll(+1, LOGGED)
    assert view.range(LOGGED) == (40_000.0, 50_000.0)
    view.to_start(LOGGED)
    assert view.range(LOGGED) == (0.0, 10_000.0)
    view.follow()
    assert view.following and view.range(LOGGED) == (40_000.0, 50_000.0)


def test_zooming_while_scrolled_back_keeps_the_middle_of_the_view() -> None:
    view = ViewState()
    view.zoom(10_000, LOGGED)
    view.scroll(-1, LOGGED)  # 35k–45k, middle 40k
    view.zoom(1000, LOGGED)
    assert view.range(LOGGED) == (39_500.0, 40_500.0)
    assert "steps 39,500–40,500" in view.describe(LOGGED)


def test_smoothing_cycles_like_tensorboard_and_reset_restores_everything() -> None:
    view = ViewState()
    seen = [view.cycle_smoothing() for _ in SMOOTHING]
    assert seen == [0.6, 0.9, 0.99, 0.0]
    view.cycle_smoothing()
    assert view.toggle_log() is True
    view.zoom(1000, LOGGED)
    view.scroll(-1, LOGGED)
    assert view.describe(LOGGED).endswith("EMA 0.6 · log y")
    version = view.version
    view.reset()
    assert view == ViewState() and view.version > version


def test_format_steps() -> None:
    assert [format_steps(n) for n in (0, 999, 1000, 1500, 10_000, 100_000, 2_500_000)] == \
        ["0", "999", "1k", "1.5k", "10k", "100k", "2.5M"]
