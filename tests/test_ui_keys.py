"""Pilot tests of the keys that steer the run: each press sends one relative command, in order.

No trainer thread runs here: ``FakeController`` records what the app sends, and the tests push the
events a trainer would send. The trainer applies relative commands to its own current values, so
presses never collapse however fast they come (issue 10: five quick ``]`` used to double lr_d once).
"""

from __future__ import annotations

import re

import pytest
from textual.widgets import Footer

from gantui.protocol import (
    ChangeK,
    Finished,
    Probe,
    Rollback,
    SaveCheckpoint,
    ScaleLR,
    Step,
    Stop,
    ToggleFreeze,
    TogglePause,
)
from gantui.ui.app import DETACHED, INTERRUPTED
from gantui.ui.screens.confirm import ConfirmDialog
from gantui.ui.widgets.controls_panel import ControlsPanel
from tests.fakes import FakeController, make_app, run_async, run_state, started, state_changed, text_of


class Notes:
    """Records app.notify calls (the app's way of saying 'not now')."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message, **kwargs) -> None:
        self.messages.append(str(message))


@run_async
async def test_each_key_sends_its_relative_command_while_running():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, status="running", k=3, frozen_g=True)
        await pilot.press("plus", "minus", "right_square_bracket", "left_square_bracket",
                          "right_curly_bracket", "left_curly_bracket", "D", "G", "space", "o", "s", "u")
        await pilot.pause()
        assert controller.sent == [
            ChangeK(1), ChangeK(-1),
            ScaleLR("d", 2.0), ScaleLR("d", 0.5), ScaleLR("g", 2.0), ScaleLR("g", 0.5),
            ToggleFreeze("d"), ToggleFreeze("g"), TogglePause(), Probe(), SaveCheckpoint(), Rollback(),
        ]


@run_async
async def test_five_quick_presses_before_any_report_send_five_commands():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, lr_d=2e-4, k=1)
        await pilot.press(*["right_square_bracket"] * 5, *["plus"] * 5, "space", "space")
        await pilot.pause()
        # No StateChanged came between them: with absolute commands these were five "lr_d = 4e-4".
        assert controller.sent == [ScaleLR("d", 2.0)] * 5 + [ChangeK(1)] * 5 + [TogglePause()] * 2


@run_async
async def test_k_below_one_is_refused_only_when_no_other_k_change_is_on_its_way():
    app, controller = make_app()
    app.notify = notes = Notes()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, k=1)
        await pilot.press("minus")
        await pilot.pause()
        assert controller.sent == [] and any("already 1" in m for m in notes.messages)
        await pilot.press("plus", "minus", "minus")  # 1 + 1 - 1 = 1 is fine; the second - would be 0
        await pilot.pause()
        assert controller.sent == [ChangeK(1), ChangeK(-1)]
        controller.push(state_changed(run_state(k=1)))  # the trainer has applied both
        await pilot.pause()
        await pilot.press("minus")
        await pilot.pause()
        assert controller.sent == [ChangeK(1), ChangeK(-1)]


@run_async
async def test_keys_while_paused_step_and_space_toggles():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, status="paused")
        await pilot.press("n", "d", "g", "space")
        await pilot.pause()
        assert controller.sent == [Step("iteration"), Step("d"), Step("g"), TogglePause()]


@pytest.mark.parametrize("key", ["n", "d", "g"])
@run_async
async def test_stepping_while_running_sends_nothing_and_says_why(key):
    app, controller = make_app()
    app.notify = notes = Notes()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, status="running")
        await pilot.press(key)
        await pilot.pause()
        assert controller.sent == []
        assert any("paused" in m for m in notes.messages)


@run_async
async def test_keys_before_the_first_report_send_nothing():
    app, controller = make_app()
    app.notify = Notes()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("plus", "space", "right_square_bracket")
        await pilot.pause()
        assert controller.sent == []


@run_async
async def test_controls_show_the_reported_k_not_the_requested_one():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, k=3)
        controls = app.query_one(ControlsPanel)
        await pilot.press("plus")
        await pilot.pause()
        assert controller.sent == [ChangeK(1)]
        assert re.search(r"^k +3 ", text_of(controls), re.M)  # asked for 4, nothing reported yet: still 3
        controller.push(state_changed(run_state(k=4)))
        await pilot.pause()
        assert re.search(r"^k +4 ", text_of(controls), re.M)


@run_async
async def test_footer_says_pause_when_running_and_resume_when_paused():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, status="running")

        def footer_labels() -> str:
            return " ".join(str(key.description) for key in app.query_one(Footer).query("FooterKey"))

        assert "Pause" in footer_labels() and "Resume" not in footer_labels()
        controller.push(state_changed(run_state(status="paused")))
        await pilot.pause()
        assert "Resume" in footer_labels() and "Pause" not in footer_labels()


@run_async
async def test_ctrl_c_quits_as_q_does_and_the_app_says_it_was_interrupted():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert controller.sent == [Stop(save=True)]  # the final checkpoint, as with q
        assert app.is_running and app.interrupted  # waits for the trainer's Finished
        controller.push(Finished(step=4000, reason="stopped", checkpoint="runs/x/final.pt"))
        await pilot.pause()
    assert app.return_value == INTERRUPTED


@run_async
async def test_ctrl_c_works_inside_a_dialog_and_twice_quits_at_once():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("p")  # the preset-name input has focus: ctrl+c must still quit
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert controller.sent == [Stop(save=True)]
        await pilot.press("ctrl+c")  # the trainer never answers: the second press leaves now
        await pilot.pause()
    assert app.return_value == INTERRUPTED


# ---------------------------------------------------------------- detaching, and stopping from a viewer
def footer_labels(app) -> list[str]:
    return [str(key.description) for key in app.query_one(Footer).query("FooterKey")]


@run_async
async def test_b_detaches_the_local_run_and_the_app_says_so_once_it_let_go():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        assert "Quit" in footer_labels(app) and "Detach" not in footer_labels(app)  # q stops a local run
        await pilot.press("b")
        await pilot.pause()
        assert controller.detached == 1 and controller.sent == []  # the controller decides how to let go
        assert app.is_running  # waits for the final checkpoint, as q does
        controller.push(Finished(step=4000, reason="stopped", checkpoint="runs/x/final.pt"))
        await pilot.pause()
    assert app.return_value == DETACHED
    assert controller.sent == []  # no extra Stop on the way out


@run_async
async def test_b_where_there_is_nothing_to_detach_says_so_and_keeps_going():
    app, controller = make_app(FakeController(can_detach=False))
    app.notify = notes = Notes()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("b")
        await pilot.pause()
        assert controller.detached == 0 and app.is_running
        assert any("nothing to detach" in m for m in notes.messages)


@pytest.mark.parametrize("key", ["q", "b", "ctrl+c"])
@run_async
async def test_in_a_viewer_q_b_and_ctrl_c_detach_and_never_stop_the_run(key):
    app, controller = make_app(FakeController(quit_detaches=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        assert "Detach" in footer_labels(app) and "Quit" not in footer_labels(app)
        await pilot.press(key)
        await pilot.pause()
        assert controller.detached == 1 and controller.sent == []
        controller.push(Finished(step=4000, reason="detached"))
        await pilot.pause()
    assert app.return_value == DETACHED
    assert controller.sent == [] and controller.detached == 1


@run_async
async def test_a_viewer_closing_any_other_way_detaches_too():
    app, controller = make_app(FakeController(quit_detaches=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
    assert controller.sent == [] and controller.detached == 1


@run_async
async def test_k_in_a_viewer_stops_the_run_only_after_a_yes():
    app, controller = make_app(FakeController(quit_detaches=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, step=12345)
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "at step 12,345" in app.screen.question and "final checkpoint" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert controller.sent == [] and app.is_running
        await pilot.press("K")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert controller.sent == [Stop(save=True)] and controller.detached == 0
        controller.push(Finished(step=12345, reason="stopped", checkpoint="runs/x/final.pt"))
        await pilot.pause()
    assert app.return_value is None and controller.detached == 0


@run_async
async def test_k_in_the_local_dashboard_does_nothing_and_help_says_what_q_means():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("K")
        await pilot.pause()
        assert controller.sent == [] and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = dict(app.screen.rows)
        assert rows["q"].startswith("quit") and "K" not in rows and "background" in rows["b"]
    viewer, controller = make_app(FakeController(quit_detaches=True))
    async with viewer.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = dict(viewer.screen.rows)
        assert rows["q"].startswith("detach") and rows["K"].startswith("stop the run")
