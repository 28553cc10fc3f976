"""Pilot tests of the dashboard with a fake controller: keys → commands, reports → display.

No trainer thread runs here: ``FakeController`` records what the app sends, and the tests push the
events a trainer would send. Expected commands are derived from the *reported* state by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from gantui.protocol import (
    Finished,
    PresetSaved,
    Probe,
    Rollback,
    SavePreset,
    SetLoss,
    Stop,
)
from gantui.ui.palette import palette_entries
from gantui.ui.screens.confirm import ConfirmDialog
from gantui.ui.screens.help import HelpScreen
from gantui.ui.screens.loss_picker import LossPicker
from gantui.ui.screens.preset_name import PresetNameDialog, valid_preset_name
from gantui.ui.widgets.controls_panel import ControlsPanel
from gantui.ui.widgets.event_log import EventLog
from gantui.ui.widgets.run_header import RunHeader
from tests.fakes import (
    LOSSES,
    PRESETS,
    failure,
    intervention,
    make_app,
    metrics_batch,
    run_async,
    run_state,
    started,
    state_changed,
    text_of,
    toy_samples,
)


def log_text(log: EventLog) -> str:
    """The log's text, with lines wrapped under the text (8 columns in) joined back."""
    return re.sub(r"\n {8}", " ", "\n".join(line.text.rstrip() for line in log.lines))


# ---------------------------------------------------------------- dialogs
@run_async
async def test_loss_picker_sends_setloss_for_the_chosen_entry_and_nothing_on_escape():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, loss="nonsaturating")
        await pilot.press("l", "down", "escape")
        await pilot.pause()
        assert controller.sent == []
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LossPicker)
        option_list = app.screen.query_one(OptionList)
        assert option_list.highlighted == 0  # the current loss, first in LOSSES
        assert option_list.option_count == len(LOSSES)
        await pilot.press("down", "enter")  # the next entry of LOSSES is "minimax"
        await pilot.pause()
        assert controller.sent == [SetLoss("minimax")]
        assert not isinstance(app.screen, LossPicker)


@pytest.mark.parametrize(("name", "valid"), [
    ("ring_2.v1", True), ("a" * 64, True), ("9lives", True),
    ("../x", False), ("-rf", False), (".hidden", False), ("a" * 65, False), ("a b", False), ("é", False),
])
def test_the_dialog_accepts_exactly_the_names_the_preset_saver_accepts(name: str, valid: bool) -> None:
    from gantui.presets import NAME_RE

    assert valid_preset_name(name) is valid
    assert (NAME_RE.fullmatch(name) is not None) is valid  # one rule, the saver's own


@run_async
async def test_preset_dialog_refuses_a_bad_name_and_sends_savepreset_for_a_good_one():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("p", *"-x", "enter")
        await pilot.pause()
        assert controller.sent == []
        assert isinstance(app.screen, PresetNameDialog)
        assert "not a valid name" in text_of(app.screen.query_one("#preset-error"))
        app.screen.query_one(Input).value = ""
        await pilot.press(*"ring_2.v1", "enter")
        await pilot.pause()
        assert controller.sent == [SavePreset("ring_2.v1")]
        assert not isinstance(app.screen, PresetNameDialog)


@run_async
async def test_saving_under_a_bundled_presets_name_asks_first():
    app, controller = make_app(bundled_presets=("ring8",))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("p", *"ring8", "enter")
        await pilot.pause()
        assert controller.sent == [] and isinstance(app.screen, ConfirmDialog)
        assert "bundled preset" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert controller.sent == []
        await pilot.press("p", *"ring8", "enter", "y")
        await pilot.pause()
        assert controller.sent == [SavePreset("ring8")]


@run_async
async def test_help_lists_every_key_and_closes():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = {key for key, _ in app.screen.rows}
        for key in ("space", "n", "d", "g", "+ / -", "l", "[ / ]", "{ / }", "D / G", "o", "r", "s", "u", "p",
                    "1 / 2 / 3", "0", "z / Z", "← / →", "home / end", "e", "y", "m", "tab", "x",
                    "ctrl+p", "q", "ctrl+c", "?"):
            assert key in shown, key
        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
        keys_section = readme[readme.index("### Keys"):readme.index("### Presets")]
        for binding in app.BINDINGS:  # every binding is documented for the user (README's Keys)
            key = {"plus": "+", "minus": "-", "left_square_bracket": "[", "right_square_bracket": "]",
                   "left_curly_bracket": "{", "right_curly_bracket": "}", "question_mark": "?",
                   "left": "←", "right": "→"}.get(binding.key, binding.key)
            assert f"`{key}`" in keys_section, binding.key
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


# ---------------------------------------------------------------- the display shows what was reported
@run_async
async def test_events_from_another_thread_reach_the_display():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        controller.push_from_thread(state_changed(run_state(k=5, loss="hinge")))
        await pilot.pause()
        text = text_of(app.query_one(ControlsPanel))
        assert re.search(r"^k +5 ", text, re.M) and "hinge" in text


@run_async
async def test_header_shows_trainer_figures():
    app, controller = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, controller, step=100)
        # 200 rows every 20 steps from 0: last step 3980, t = 3980 / 100 = 39.8 s → 0:00:39; 100 it/s
        controller.push(metrics_batch(0, 200))
        await pilot.pause()
        app.refresh_plots()
        header = text_of(app.query_one(RunHeader))
        assert "step 3,980" in header and "100.0 it/s" in header and "0:00:39" in header
        assert "running" in header


@run_async
async def test_failure_shows_in_header_and_log_and_the_app_stays_up():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        controller.push(failure(), state_changed(run_state(status="failed")))
        await pilot.pause()
        assert "failed: non-finite loss_d (nan) at step 4100" in text_of(app.query_one(RunHeader))
        log = log_text(app.query_one(EventLog))
        assert "non-finite loss_d" in log and "FloatingPointError: nan" in log
        assert "ckpt-4000.pt" in log.replace(" ", "")  # a path may be folded anywhere
        assert app.is_running
        await pilot.press("u")
        await pilot.pause()
        assert controller.sent == [Rollback()]
        controller.push(state_changed(run_state(status="paused"), reason="rollback"))
        await pilot.pause()
        assert "failed" not in text_of(app.query_one(RunHeader))


@run_async
async def test_long_log_lines_wrap_within_the_panel_at_any_width():
    """A checkpoint path is longer than the side panel: it wraps under its text, never scrolls sideways,
    and wraps again when the terminal is resized (RichLog alone wraps a line once, when written)."""
    app, controller = make_app()
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, controller)
        path = "/home/someone/experiments/runs/20261202-180600-ring8/checkpoints/periodic-0005000.pt"
        controller.push(intervention(5000, "checkpoint", f"saved {path}"),
                        intervention(12_345_678, "k", "k = 2 after a long run, a step wider than the column"))
        await pilot.pause()
        log = app.query_one(EventLog)
        for size in ((140, 36), (100, 30), (120, 36)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            width = log.scrollable_content_region.width
            assert 20 < width < len(path), size
            assert all(line.cell_length <= width for line in log.lines), size
            assert log.virtual_size.width <= width, size
            texts = [line.text for line in log.lines]
            first = [i for i, text in enumerate(texts) if text.startswith("  5,000 #1 saved")]
            later = texts.index(next(t for t in texts if t.startswith("12,345,678 #2 k = 2")))
            assert first == [0] and all(t.startswith(" " * 8) for t in texts[1:later]), texts
            assert all(t.startswith(" " * 11) for t in texts[later + 1:]), texts  # under a wider step
            assert "".join(t.strip() for t in texts[:later]).endswith("periodic-0005000.pt")


# ---------------------------------------------------------------- quitting and restarting
@run_async
async def test_quit_sends_stop_and_exits_when_finished():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("q")
        await pilot.pause()
        assert controller.sent == [Stop(save=True)]
        assert app.is_running  # waits for the trainer's Finished
        assert "saving final checkpoint" in text_of(app.query_one(RunHeader))
        controller.push(Finished(step=4000, reason="stopped", checkpoint="runs/x/final.pt"))
        await pilot.pause()
    assert app.return_value is None
    assert controller.joined == [2.0]
    assert controller.sent == [Stop(save=True)]  # unmount does not stop a second time


@run_async
async def test_quit_gives_up_waiting_after_the_timeout():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("q")
        await pilot.pause()
        app.quit_timed_out()  # what the 10 s timer calls
        await pilot.pause()
    assert app.return_value is None
    assert controller.sent == [Stop(save=True)]


@run_async
async def test_preset_from_the_palette_restarts_after_confirming():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        texts = [text for text, _cb, _help in palette_entries(app)]
        assert all(f"Preset: {p}" in texts for p in PRESETS)
        callback = dict((t, cb) for t, cb, _h in palette_entries(app))["Preset: grid25"]
        callback()
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert controller.sent == [Stop(save=True)]
        controller.push(Finished(step=4000, reason="stopped"))
        await pilot.pause()
    assert app.return_value == ("restart", "grid25")


@run_async
async def test_palette_marks_the_current_loss_shows_each_description_and_lists_saved_presets():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, loss="hinge")
        entries = {text: (callback, help_text) for text, callback, help_text in palette_entries(app)}
        assert "Loss: hinge  ● current" in entries and "Loss: minimax" in entries
        helps = [entries[f"Loss: {name}" + ("  ● current" if name == "hinge" else "")][1] for name in LOSSES]
        assert helps == list(LOSSES.values())  # each loss's own description, not one text 17 times
        entries["Loss: minimax"][0]()
        await pilot.pause()
        assert controller.sent == [SetLoss("minimax")]
        controller.push(PresetSaved(name="my-ring", path="/home/u/.config/gantui/presets/my-ring.toml"))
        await pilot.pause()
        texts = [text for text, _cb, _help in palette_entries(app)]
        assert "Preset: my-ring  (saved this run)" in texts
        assert "Plot: show gradient norms" in texts and "Plot: hide L_D, L_G" in texts


@run_async
async def test_palette_opens_with_ctrl_p_and_runs_a_typed_action():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
        await pilot.press("ctrl+p", *"optimality")
        await app.workers.wait_for_complete()  # the palette searches in a worker: wait for its results
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert controller.sent == [Probe()]


@run_async
async def test_sink_after_exit_is_harmless():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller)
    controller.sink(state_changed(run_state(k=9)))  # must not raise
    controller.push_from_thread(state_changed(run_state(k=9)))


@run_async
async def test_resizing_below_the_minimum_says_so_and_recovers():
    app, controller = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, controller)
        controller.push(metrics_batch(0, 50), toy_samples())
        await pilot.pause()
        too_small = app.query_one("#too-small")
        assert not too_small.display or too_small.region.area == 0
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        app.refresh_plots()
        await pilot.pause()
        assert too_small.region.area > 0
        assert app.query_one("#dashboard").region.area == 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert too_small.region.area == 0
        assert app.query_one("#dashboard").region.area > 0


@pytest.mark.parametrize(("colors", "system"),
                         [("256", "256"), ("16", "standard"), ("truecolor", "truecolor")])
def test_colors_setting_sets_textual_output_and_renderers(colors, system):
    app, _ = make_app(colors=colors)
    assert app.color_system == system
    assert app.console.color_system == system  # what Textual downgrades every frame to


def test_run_without_mouse_returns_the_restart_result():
    """``App.run(mouse=False)`` (the CLI's call) works, and a confirmed preset comes back from run()."""

    async def user(pilot) -> None:
        app = pilot.app
        app.controller.push(state_changed(run_state()))
        await pilot.pause()
        app.ask_restart("ring8")
        await pilot.pause()
        await pilot.press("y")
        app.controller.push(Finished(step=4000, reason="stopped"))
        await pilot.pause()

    app, controller = make_app()
    assert app.run(headless=True, mouse=False, auto_pilot=user, size=(100, 30)) == ("restart", "ring8")
    assert controller.sent == [Stop(save=True)]


@pytest.mark.parametrize(("colors", "sgr"), [("256", "38;5;"), ("truecolor", "38;2;")])
def test_colors_setting_changes_the_escape_codes_written(colors, sgr):
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    app, _ = make_app(colors=colors)
    # What Textual's compositor does with every line of a frame: Strip.render(app.console).
    written = Strip([Segment("x", Style(color="#123456"))]).render(app.console)
    assert sgr in written
