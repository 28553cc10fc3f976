"""The dashboard app: a thin coordinator between the trainer's events, the widgets and the keys.

Data flow: the controller's trainer thread calls :meth:`GanApp.sink`, which posts an
:class:`EngineEvent` onto the app's loop (``post_message`` is thread-safe: it uses
``loop.call_soon_threadsafe`` from another thread, and returns False once the app is closing).
Metrics only go into the bounded history; a timer at ``refresh_hz`` redraws the plots when the
history changed, no more often than ``plot_budget`` allows (see :meth:`GanApp.plot_tick`). Keys send
commands computed from the last *reported* state (see ``intents``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, NamedTuple

from textual.app import App, ComposeResult
from textual.containers import Container, Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Static

from gantui.protocol import (
    Command,
    Event,
    Failure,
    Finished,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    Probe,
    Rollback,
    RunState,
    SaveCheckpoint,
    SavePreset,
    SetLoss,
    StateChanged,
    Step,
    Stop,
    ToySamples,
)
from gantui.ui import intents, keys
from gantui.ui.controller import Controller
from gantui.ui.history import Markers, MetricsHistory
from gantui.ui.messages import EngineEvent
from gantui.ui.palette import GanCommands
from gantui.ui.plot_specs import PLOTS
from gantui.ui.render import resolve_color_system
from gantui.ui.screens.confirm import ConfirmDialog
from gantui.ui.screens.help import HelpScreen
from gantui.ui.screens.loss_picker import LossPicker
from gantui.ui.screens.preset_name import PresetNameDialog
from gantui.ui.terminal import set_output_color_system
from gantui.ui.widgets.controls_panel import ControlsPanel, ToyReadout
from gantui.ui.widgets.event_log import EventLog
from gantui.ui.widgets.metric_plot import MetricPlot
from gantui.ui.widgets.run_header import RunHeader
from gantui.ui.widgets.samples_panel import SamplesPanel

__all__ = ["MIN_SIZE", "QUIT_TIMEOUT_S", "GanApp", "RunResult"]

RunResult = tuple[str, str] | None  # None, or ("restart", preset_name)


class PlotInputs(NamedTuple):
    """What the plots show. Sizes too: a plot drawn before the layout settled (or before a resize)
    has the wrong columns. Everything after ``history`` changes only when the user does something."""

    history: int
    markers: int
    loss: str
    critic: bool
    sizes: tuple[object, ...]

MIN_SIZE = (60, 16)
QUIT_TIMEOUT_S = 10.0


class GanApp(App[RunResult]):
    """Watch a GAN train and steer it. ``run()`` returns None, or ``("restart", preset)``."""

    CSS_PATH = "app.tcss"
    TITLE = "gantui"
    BINDINGS = keys.BINDINGS
    COMMANDS = App.COMMANDS | {GanCommands}
    # Screen classes for app.tcss: below MIN_SIZE only a "too small" line shows; -wide/-tall get more room.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-narrow"), (MIN_SIZE[0], "-normal"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-short"), (MIN_SIZE[1], "-short"), (36, "-tall")]

    run_state: reactive[RunState | None] = reactive(None, bindings=True)

    def __init__(self, controller: Controller, *, losses: Mapping[str, str], presets: Sequence[str] = (),
                 colors: str = "auto", refresh_hz: float = 2.0, history: int = 2000,
                 plot_budget: float = 0.1) -> None:
        super().__init__()
        self.controller = controller
        self.losses = dict(losses)
        self.presets = tuple(presets)
        self.refresh_hz = min(max(refresh_hz, 0.2), 5.0)
        self.plot_budget = min(max(plot_budget, 0.01), 1.0)
        self.color_system = resolve_color_system(colors, os.environ)
        if colors != "auto" or "TEXTUAL_COLOR_SYSTEM" not in os.environ:
            set_output_color_system(self.console, self.color_system)
        self.history = MetricsHistory(capacity=history)
        self.markers = Markers()
        self.failure = ""  # the message of the last Failure, until the trainer reports another status
        self.n_modes = 0
        self._drawn: PlotInputs | None = None  # what the plots last showed (see refresh_plots)
        self._next_history_draw = 0.0  # monotonic time before which new rows alone do not redraw
        self._quitting = False
        self._stop_sent = False
        self._finished = False
        self._result: RunResult = None

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Container(id="dashboard"):
            with Vertical(id="plots"):
                for spec in PLOTS:
                    yield MetricPlot(spec)
            with Vertical(id="side"):
                yield ControlsPanel(id="controls")
                yield SamplesPanel(color_system=self.color_system, id="samples")
                yield EventLog(id="log")
        yield Static(f"terminal too small: need at least {MIN_SIZE[0]}×{MIN_SIZE[1]}", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        # Keep the widgets: App.query_one searches the *active* screen, which is a modal while one is open.
        self.header = self.query_one(RunHeader)
        self.controls = self.query_one(ControlsPanel)
        self.samples = self.query_one(SamplesPanel)
        self.event_log = self.query_one(EventLog)
        self.plots = list(self.query(MetricPlot))
        self.plot_timer = self.set_interval(1.0 / self.refresh_hz, self.plot_tick, name="plot-refresh")
        self._show_state()
        self.refresh_plots()
        self.controller.start(self.sink)

    def on_unmount(self) -> None:
        if not self._stop_sent:  # an exit that did not go through quit: still end the trainer
            self._send_stop()
        self.controller.join(2.0)

    # ---------------------------------------------------------------- events in
    def sink(self, event: Event) -> None:
        """Called from the trainer thread: hand ``event`` to the app's loop, never block, never raise."""
        # RuntimeError: the loop closed between post_message's closing check and its post: drop it.
        with contextlib.suppress(RuntimeError):
            self.post_message(EngineEvent(event))

    def on_engine_event(self, message: EngineEvent) -> None:
        if not self.screen_stack:  # the app is closing (e.g. after SIGHUP): nothing left to show
            return
        event = message.event
        log = self.event_log
        if isinstance(event, MetricsBatch):
            self.history.extend(event)  # drawn by the refresh timer, never here
        elif isinstance(event, StateChanged):
            if event.state.status != "failed":
                self.failure = ""
            self.run_state = event.state
            self._show_state()
        elif isinstance(event, (ImageSamples, ToySamples)):
            if isinstance(event, ToySamples):
                self.n_modes = len(event.modes)
            self.samples.show(event)
        elif isinstance(event, Intervention):
            self.markers.add(event)
            log.intervention(event)
        elif isinstance(event, Notice):
            log.notice(event)
        elif isinstance(event, Failure):
            self.failure = event.message
            log.failure(event)
            self._show_state()
        elif isinstance(event, Finished):
            self._on_finished(event)

    def _on_finished(self, event: Finished) -> None:
        self._finished = True
        where = f", checkpoint {event.checkpoint}" if event.checkpoint else ""
        self.event_log.note(f"trainer finished at step {event.step:,} ({event.reason}{where})")
        if self._quitting:
            self.exit(self._result)
        else:
            self._show_state(note="finished: q quits")

    # ---------------------------------------------------------------- drawing
    def _plot_inputs(self) -> PlotInputs:
        state = self.run_state
        return PlotInputs(self.history.version, self.markers.version, state.loss if state else "",
                          state.critic if state else False, tuple(p.size for p in self.plots))

    def plot_tick(self) -> None:
        """The refresh timer: the header every tick; the plots when they changed, within the budget.

        The UI thread shares the interpreter lock with the trainer, so its CPU time is the trainer's
        loss. plotext draws in pure Python (tens of ms per plot on a large terminal), so new rows
        alone redraw the plots at most once per (last redraw's CPU time / ``plot_budget``) seconds.
        A marker, a loss switch or a resize is drawn at the next tick regardless: it answers the user.
        """
        inputs = self._plot_inputs()
        user_change = self._drawn is None or inputs[1:] != self._drawn[1:]
        if user_change or (inputs != self._drawn and time.monotonic() >= self._next_history_draw):
            self.refresh_plots()
        else:
            self._show_state()

    def refresh_plots(self) -> None:
        """Redraw the plots now if the history, markers, loss or a plot size changed since the last draw."""
        drawn = self._plot_inputs()
        if drawn == self._drawn:
            self._show_state()
            return
        self._drawn = drawn
        start = time.thread_time()
        for plot in self.plots:
            plot.redraw(self.history, self.markers, drawn.loss, drawn.critic)
        # Renders happen later, in the compositor: the last ones stand in for the coming ones.
        cost = time.thread_time() - start + sum(plot.render_seconds for plot in self.plots)
        self._next_history_draw = time.monotonic() + cost / self.plot_budget
        self._show_state()

    def _show_state(self, note: str = "") -> None:
        latest = self.history.latest
        if self._quitting and not note:
            note = "saving final checkpoint…"
        self.header.show(self.run_state, step=latest("step"), t=latest("t"),
                                       steps_per_sec=latest("steps_per_sec"), failure=self.failure, note=note)
        toy = ToyReadout(modes=latest("modes"), n_modes=self.n_modes, hq=latest("hq"),
                         jsd_true=latest("jsd_true"), jsd_probe=latest("jsd_probe"))
        self.controls.show(self.run_state, toy)

    # ---------------------------------------------------------------- commands out
    def send_command(self, command: Command) -> None:
        """Queue ``command`` for the trainer; the display changes only when the trainer reports back."""
        self.controller.send(command)

    def _state(self) -> RunState | None:
        if self.run_state is None:
            self.notify("waiting for the trainer to report its state", severity="warning")
        return self.run_state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Space is bound to pause and to resume: enable the one that fits the reported status.

        Before the first report (or after the run finished) "Pause" shows greyed out.
        """
        status = self.run_state.status if self.run_state else None
        if action == "pause":
            return True if status == "running" else (False if status in ("paused", "failed") else None)
        if action == "resume":
            return status in ("paused", "failed")
        return True

    def action_pause(self) -> None:
        if (state := self._state()) is None:
            return
        if state.status == "finished":
            self.notify("the run has finished: q quits", severity="warning")
            return
        self.send_command(intents.pause_or_resume(state))

    action_resume = action_pause
    action_pause_or_resume = action_pause

    def action_step(self, kind: str) -> None:
        if (state := self._state()) is None:
            return
        if state.status != "paused":
            self.notify("stepping works while paused: press space first", severity="warning")
            return
        self.send_command(Step(kind))  # type: ignore[arg-type]

    def action_k(self, delta: int) -> None:
        if (state := self._state()) is None:
            return
        if (command := intents.k_changed(state, delta)) is None:
            self.notify("k is already 1: at least one D-step per G-step", severity="warning")
        else:
            self.send_command(command)

    def action_lr(self, player: str, factor: float) -> None:
        if (state := self._state()) is not None:
            self.send_command(intents.lr_scaled(state, player, factor))  # type: ignore[arg-type]

    def action_freeze(self, player: str) -> None:
        if (state := self._state()) is not None:
            self.send_command(intents.freeze_toggle(state, player))  # type: ignore[arg-type]

    def action_probe(self) -> None:
        self.send_command(Probe())

    def action_save_checkpoint(self) -> None:
        self.send_command(SaveCheckpoint())

    def action_rollback(self) -> None:
        self.send_command(Rollback())

    def action_toggle_real(self) -> None:
        self.samples.toggle_real()

    def action_one_class(self) -> None:
        self.samples.toggle_one_class()

    def action_next_class(self) -> None:
        self.samples.next_class()

    def action_next_sweep(self) -> None:
        self.samples.next_sweep()

    def action_pick_loss(self) -> None:
        current = self.run_state.loss if self.run_state else ""

        def chosen(name: str | None) -> None:
            if name:
                self.send_command(SetLoss(name))

        self.push_screen(LossPicker(self.losses, current), chosen)

    def action_save_preset(self) -> None:
        self.push_screen(PresetNameDialog(), lambda name: name and self.send_command(SavePreset(name)))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(keys.HELP_ROWS))

    def ask_restart(self, preset: str) -> None:
        """From the palette: confirm, then end this run and return ``("restart", preset)`` from run()."""

        def answered(yes: bool | None) -> None:
            if yes:
                self._result = ("restart", preset)
                self.action_quit()

        self.push_screen(ConfirmDialog(f"End this run (saving a checkpoint) and start preset '{preset}'?"),
                         answered)

    # ---------------------------------------------------------------- quitting
    def _send_stop(self) -> None:
        self._stop_sent = True
        self.send_command(Stop(save=True))

    def action_quit(self) -> None:  # type: ignore[override]
        """First q: stop with a final checkpoint and wait for Finished; q again (or no trainer): exit now."""
        if self._quitting or self._finished:
            self.exit(self._result)
            return
        self._quitting = True
        self._send_stop()
        self.event_log.note("saving final checkpoint…")
        self._show_state()
        self.set_timer(QUIT_TIMEOUT_S, self.quit_timed_out)

    def quit_timed_out(self) -> None:
        """The trainer did not report Finished in time: leave anyway, and say so."""
        if not self.is_running or self._finished:
            return
        self.exit(self._result, message=f"gantui: the trainer did not finish within {QUIT_TIMEOUT_S:.0f} s "
                                        "of the stop request; the final checkpoint may be missing.")
