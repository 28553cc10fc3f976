"""NO_COLOR terminals: Textual's monochrome filter reads every segment's style, so none may be None."""

from __future__ import annotations

import pytest

from gantui.ui.app import GanApp
from tests.fakes import (
    LOSSES,
    FakeController,
    image_samples,
    image_state,
    metrics_batch,
    run_async,
    run_state,
    state_changed,
    toy_samples,
)


@pytest.mark.parametrize("kind", ["toy", "images"])
@run_async
async def test_the_dashboard_draws_under_no_color(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = GanApp(FakeController(), losses=LOSSES)
    async with app.run_test(size=(100, 30)) as pilot:
        state = run_state() if kind == "toy" else image_state()
        app.sink(state_changed(state))
        app.sink(metrics_batch(0, 50, toy=kind == "toy"))
        app.sink(toy_samples() if kind == "toy" else image_samples())
        await pilot.pause()
        app.refresh_plots()
        await pilot.press("r")  # the real batch beside the generated one
        await pilot.pause()
        assert app.is_running
