"""The dashboard app: a thin coordinator between the trainer's events, the widgets and the keys.

Data flow: the controller's trainer thread calls :meth:`GanApp.sink`, which posts an
:class:`EngineEvent` onto the app's loop (``post_message`` is thread-safe: it uses
``loop.call_soon_threadsafe`` from another thread, and returns False once the app is closing).
Metrics only go into the bounded history; a timer at ``refresh_hz`` redraws the plots when the
history changed, no more often than ``plot_budget`` allows (see :meth:`GanApp.plot_tick`). Keys that
steer the run live in ``steering`` (they send relative commands); keys that change the view live in
``viewing`` (they change ``self.view``, never the run).
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
    Alert,
    ComparedRows,
    Event,
    Failure,
    Finished,
    HistoryReset,
    HostStats,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    PresetSaved,
    Progress,
    RunState,
    StateChanged,
    ToySamples,
)
from gantui.ui import keys
from gantui.ui.clock import RunClock
from gantui.ui.compared import Comparison
from gantui.ui.controller import Controller
from gantui.ui.history import MetricsHistory
from gantui.ui.markers import Markers
from gantui.ui.messages import EngineEvent
from gantui.ui.palette import GanCommands
from gantui.ui.render import resolve_color_system
from gantui.ui.screens.help import HelpScreen
from gantui.ui.steering import DETACHED, INTERRUPTED, QUIT_TIMEOUT_S, RunResult, Steering
from gantui.ui.terminal import set_output_color_system
from gantui.ui.view import Frame, ViewState
from gantui.ui.viewing import Viewing
from gantui.ui.widgets.compact_view import CompactView
from gantui.ui.widgets.controls_panel import ControlsPanel, Measured, ToyReadout
from gantui.ui.widgets.event_log import EventLog
from gantui.ui.widgets.plot_area import PlotArea
from gantui.ui.widgets.run_header import HeaderFigures, RunHeader
from gantui.ui.widgets.samples_panel import SamplesPanel
from gantui.ui.widgets.status_line import StatusLine
from gantui.ui.widgets.view_bar import ViewBar

__all__ = ["COMPACT_BELOW", "DETACHED", "INTERRUPTED", "MIN_SIZE", "QUIT_TIMEOUT_S", "GanApp", "RunResult"]


MIN_SIZE = (60, 16)
COMPACT_BELOW = (90, 28)  # narrower or shorter than this: sparklines and numbers instead of plots


class PlotInputs(NamedTuple):
    """What the plots show. Everything after ``history`` changes only when the user does something
    (or the layout does: a plot drawn before a resize has the wrong columns)."""

    history: int
    compared: int
    markers: int
    view: int
    loss: str
    critic: bool
    compact: bool
    layout: tuple[object, ...]


class GanApp(Steering, Viewing, App[RunResult]):
    """Watch a GAN train and steer it. ``run()`` returns None, ``("restart", preset)``, INTERRUPTED or
    DETACHED."""

    CSS_PATH = "app.tcss"
    TITLE = "gantui"
    BINDINGS = keys.BINDINGS
    COMMANDS = App.COMMANDS | {GanCommands}
    ALLOW_IN_MAXIMIZED_VIEW = "#top, Footer"  # a maximised panel keeps the header and the footer
    # Screen classes for app.tcss: below MIN_SIZE only a "too small" line shows; -wide/-tall get more room.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-narrow"), (MIN_SIZE[0], "-narrow"), (COMPACT_BELOW[0], "-normal"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-short"), (MIN_SIZE[1], "-short"), (COMPACT_BELOW[1], "-medium"), (36, "-tall")]

    run_state: reactive[RunState | None] = reactive(None, bindings=True)

    def __init__(self, controller: Controller, *, losses: Mapping[str, str], presets: Sequence[str] = (),
                 bundled_presets: Sequence[str] = (), plots: Sequence[str] = (), colors: str = "auto",
                 refresh_hz: float = 2.0, history: int = 2000, plot_budget: float = 0.05) -> None:
        """``presets``: every preset name; ``bundled_presets``: those shipped with gantui (saving under
        one of those names is confirmed first); ``plots``: plot ids or metric columns shown from the
        start besides the defaults; ``history``: buckets per level of the history (halved: see
        ``MetricsHistory``)."""
        super().__init__()
        self.controller = controller
        self.losses = dict(losses)
        self.presets = list(presets)
        self.bundled_presets = frozenset(bundled_presets)
        self.saved_presets: set[str] = set()
        self._alert_lines: set[tuple[str, int, bool]] = set()  # (rule, step, raised) already in the log
        self.initial_plots = tuple(plots)
        self.refresh_hz = min(max(refresh_hz, 0.2), 5.0)
        self.plot_budget = min(max(plot_budget, 0.01), 1.0)
        self.color_system = resolve_color_system(colors, os.environ)
        if colors != "auto" or "TEXTUAL_COLOR_SYSTEM" not in os.environ:
            set_output_color_system(self.console, self.color_system)
        self.history = MetricsHistory(capacity=max(history // 2, 2))
        self.comparison = Comparison(capacity=max(history // 4, 2))  # other runs: gantui view A B
        self.markers = Markers()
        self.view = ViewState()
        self.clock = RunClock()
        self.failure = ""  # the message of the last Failure, until the trainer reports another status
        self.progress: Progress | None = None
        self.n_modes = 0
        self.k_in_flight = 0  # ChangeK deltas sent since the last StateChanged (see steering)
        self.interrupted = False  # ctrl+c asked to quit (run() returns INTERRUPTED)
        self._drawn: PlotInputs | None = None  # what the plots last showed (see refresh_plots)
        self._next_history_draw = 0.0  # monotonic time before which new rows alone do not redraw
        self._quitting = False
        self._detaching = False  # b (or q in a viewer): the run goes on training
        self._stop_sent = False
        self._finished = False
        self._result: RunResult = None

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield RunHeader(id="header")
            yield StatusLine(id="status")
        with Container(id="dashboard"):
            with Vertical(id="main"):
                yield ViewBar(id="view-bar")
                yield PlotArea(shown=self.initial_plots, id="plots")
                yield CompactView(id="compact")
            with Vertical(id="side"):
                yield ControlsPanel(id="controls")
                yield SamplesPanel(color_system=self.color_system, id="samples")
                yield EventLog(id="log")
        yield Static(f"terminal too small: need at least {MIN_SIZE[0]}×{MIN_SIZE[1]}", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        # Keep the widgets: App.query_one searches the *active* screen, which is a modal while one is open.
        self.header = self.query_one(RunHeader)
        self.status_line = self.query_one(StatusLine)
        self.view_bar = self.query_one(ViewBar)
        self.plot_area = self.query_one(PlotArea)
        self.compact_view = self.query_one(CompactView)
        self.controls = self.query_one(ControlsPanel)
        self.samples = self.query_one(SamplesPanel)
        self.event_log = self.query_one(EventLog)
        self.plot_timer = self.set_interval(1.0 / self.refresh_hz, self.plot_tick, name="plot-refresh")
        self._show_state()
        self.refresh_plots()
        self.controller.start(self.sink)

    @property
    def plots(self):
        """The plot widgets on screen, top to bottom."""
        return self.plot_area.plots

    @property
    def compact(self) -> bool:
        """Too small for readable plots: the compact view (sparklines and numbers) shows instead."""
        width, height = self.size
        return width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]

    def on_unmount(self) -> None:
        if self._stop_sent or self._detaching:
            pass
        elif self.controller.quit_detaches:  # a viewer closing for any reason leaves the run training
            self.controller.detach()
        else:  # an exit that did not go through quit: still end the trainer
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
            self.clock.rows(event)
        elif isinstance(event, ComparedRows):
            self.comparison.add(event)  # another run's rows: its clock is not this run's
        elif isinstance(event, StateChanged):
            if event.state.status != "failed":
                self.failure = ""
            self.k_in_flight = 0
            self.run_state = event.state
            self._show_state()
        elif isinstance(event, HostStats):
            self.clock.host(event)
            self.status_line.host(event)
            self._show_state()
        elif isinstance(event, (ImageSamples, ToySamples)):
            if isinstance(event, ToySamples):
                self.n_modes = len(event.modes)
            self.samples.show(event)
        elif isinstance(event, Intervention):
            marker = self.markers.add_intervention(event)
            if marker is not None:  # None: a marker the trainer re-sent after a rollback
                log.intervention(event, marker)
        elif isinstance(event, Alert):
            self._alert(event)
        elif isinstance(event, HistoryReset):
            self.history.truncate(event.step)
            self.markers.truncate(event.step)
            self.clock.rewind(event.step)
            log.reset(event)
        elif isinstance(event, PresetSaved):
            self.saved_presets.add(event.name)
            if event.name not in self.presets:
                self.presets.append(event.name)
        elif isinstance(event, Progress):
            self.progress = event if event.done < event.total else None
            self._show_state()
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

    def logged(self) -> tuple[float, float] | None:
        """(first, last) step the plots can show: the rows kept, up to the step the trainer is at now
        (paused after the last row, a pause marker is still on the plots)."""
        span = self.history.step_range()
        if (other := self.comparison.step_range()) is not None:  # the axis spans the longest run
            span = other if span is None else (min(span[0], other[0]), max(span[1], other[1]))
        if span is None:
            return None
        now = max(self.clock.step, self.run_state.step if self.run_state else -1)
        return span[0], max(span[1], float(now))

    def current_loss(self) -> str:
        return self.run_state.loss if self.run_state else ""

    # ---------------------------------------------------------------- drawing
    def _plot_inputs(self) -> PlotInputs:
        state, compact = self.run_state, self.compact
        layout = (self.compact_view.size,) if compact else self.plot_area.sizes()
        return PlotInputs(self.history.version, self.comparison.version, self.markers.version,
                          self.view.version, state.loss if state else "",
                          state.critic if state else False, compact,
                          (self.screen_stack[0].maximized, *layout))

    def plot_tick(self) -> None:
        """The refresh timer: the header every tick; the plots when they changed, within the budget.

        The UI thread shares the interpreter lock with the trainer, so its CPU time is the trainer's
        loss. plotext draws in pure Python (tens of ms per plot on a large terminal), so new rows
        (this run's or a compared run's) alone redraw the plots at most once per (last redraw's CPU time /
        ``plot_budget``) seconds.
        A marker, a view change, a loss switch or a resize is drawn at the next tick regardless: it
        answers the user.
        """
        self.plot_area.window = self.view.range(self.logged())
        if self.plot_area.sync(self.history):  # a plot appears (its metric arrived) or goes
            self._drawn = None
        inputs = self._plot_inputs()
        user_change = self._drawn is None or inputs[2:] != self._drawn[2:]
        if user_change or (inputs != self._drawn and time.monotonic() >= self._next_history_draw):
            self.refresh_plots()
        else:
            self._show_state()

    def refresh_plots(self) -> None:
        """Redraw the plots (or the compact view) now if anything they show changed since the last draw."""
        self.plot_area.window = self.view.range(self.logged())
        self.plot_area.sync(self.history)
        drawn = self._plot_inputs()
        if drawn == self._drawn:
            self._show_state()
            return
        self._drawn = drawn
        logged = self.logged()
        frame = Frame(self.view.range(logged), drawn.loss, drawn.critic, self.view.smoothing, self.view.log)
        start = time.thread_time()
        if drawn.compact:
            self.compact_view.redraw(self.history, self.markers, frame, self.plot_area.listed(self.history))
            rendered = 0.0
        else:
            self.plot_area.redraw(self.history, self.markers, frame, self.comparison)
            rendered = self.plot_area.render_seconds
        self.view_bar.show(self.view, logged)
        # Renders happen later, in the compositor: the last ones stand in for the coming ones.
        cost = time.thread_time() - start + rendered
        self._next_history_draw = time.monotonic() + cost / self.plot_budget
        self._show_state()

    def _alert(self, event: Alert) -> None:
        """A badge, a marker and a log line; a rollback re-sends the kept history, which must not
        repeat its lines (the marker list recognises its own re-sent markers)."""
        self.status_line.alert(event)
        marker = self.markers.add_alert(event) if event.active else None
        line = (event.rule, event.step, event.active)
        if line not in self._alert_lines:
            self._alert_lines.add(line)
            self.event_log.alert(event, marker)

    def _show_state(self, note: str = "") -> None:
        state = self.run_state
        if self._quitting and not note:
            note = "detaching…" if self._detaching else "saving final checkpoint…"
        if not note and self.progress is not None:
            p = self.progress
            note = f"{p.task} {p.done}/{p.total}" + (f", {p.seconds_left:.0f} s left" if p.seconds_left >= 0
                                                      else "")
        running_on = state is not None and state.status in ("running", "paused")
        figures = HeaderFigures(step=self.clock.step, elapsed=self.clock.elapsed(running_on=running_on),
                                rate=self.clock.rate, memory=self.status_line.stats is None)
        self.header.show(state, figures, failure=self.failure, note=note)
        measured = {name: Measured(*self.history.measured(name)) for name in ("modes", "hq", "jsd_true",
                                                                              "jsd_probe")}
        toy = ToyReadout(current=self.history.measured("step")[1], n_modes=self.n_modes, **measured)
        self.controls.show(state, toy)

    # ---------------------------------------------------------------- the keys that are neither
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Space is bound to pause and to resume: enable the one that fits the reported status.

        Before the first report (or after the run finished) "Pause" shows greyed out.
        """
        status = self.run_state.status if self.run_state else None
        if action == "pause":
            return True if status == "running" else (False if status in ("paused", "failed") else None)
        if action == "resume":
            return status in ("paused", "failed")
        if action in ("leave", "stop_run"):  # q says "Detach" and K stops the run only in a viewer
            return self.controller.quit_detaches
        if action == "quit":
            return not self.controller.quit_detaches
        return True

    def action_toggle_real(self) -> None:
        self.samples.toggle_real()

    def action_one_class(self) -> None:
        self.samples.toggle_one_class()

    def action_next_class(self) -> None:
        self.samples.next_class()

    def action_next_sweep(self) -> None:
        self.samples.next_sweep()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(keys.help_rows(quit_detaches=self.controller.quit_detaches)))
