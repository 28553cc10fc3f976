"""Wiring the Textual dashboard to a runner: the app drives the runner only through commands.

After the app exits, for whatever reason, the runner is stopped with a final checkpoint and its
thread joined before the interpreter ends (a thread still inside torch at exit aborts Python).
SIGTERM, SIGHUP (an SSH session that dropped) and SIGINT close the app the same way. The exit status
follows the CLI's rules (see gantui/cli.py): 128 + N after signal N, 130 for Ctrl-C in the app,
3 when the run ended failed, 0 otherwise; and the last line printed says how to continue the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantui.engine.heap import freeze_built_run
from gantui.engine.losses import LOSSES
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import bundled_dir, list_presets
from gantui.protocol import Command, Event, Finished, Notice, Stop
from gantui.text import printable

if TYPE_CHECKING:
    from gantui.ui.app import GanApp

JOIN_TIMEOUT_S = 120.0  # a final checkpoint of a large model can take a while
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Outcome:
    exit_status: int
    restart: str | None = None  # a preset the user asked to start next (the command palette)


class LocalController:
    """The in-process run (served or not) as the dashboard's Controller, remembering how it ended.

    q stops the run; b (``detach``) stops it too, with the final checkpoint a background process
    resumes from (``run_dashboard`` starts that process once the app has exited with DETACHED).
    ``can_detach``: only a run with a run folder can be resumed elsewhere.
    """

    quit_detaches = False

    def __init__(self, runner, *, can_detach: bool = True) -> None:
        self.runner = runner
        self.can_detach = can_detach
        self.finished: Finished | None = None
        self.notes: list[str] = []  # said in the event log once the app listens
        self._sink: Any = None

    def start(self, sink) -> None:
        self._sink = sink
        for note in self.notes:
            sink(Notice(step=0, level="info", message=note))
        self.runner.start(self._deliver)

    def _deliver(self, event: Event) -> None:
        if isinstance(event, Finished):
            self.finished = event
        self._sink(event)

    def send(self, command: Command) -> None:
        self.runner.send(command)

    def detach(self) -> None:
        self.runner.send(Stop(save=True))

    def join(self, timeout: float) -> bool:
        return self.runner.join(timeout)


def build_app(session: Session, controller) -> GanApp:
    """The dashboard for ``controller`` with the session's ``[ui]`` settings (bench/bench.py uses it too)."""
    from gantui.ui.app import GanApp

    cfg = session.config
    return GanApp(
        controller,
        losses={name: loss.description for name, loss in LOSSES.items()},
        presets=[p.name for p in list_presets()],
        bundled_presets=sorted(path.stem for path in bundled_dir().glob("*.toml")),
        colors=cfg.ui.colors,
        refresh_hz=cfg.ui.refresh_hz,
        plot_budget=cfg.ui.plot_budget,
        history=cfg.ui.history,
        plots=[name.strip() for name in cfg.ui.plots.split(",") if name.strip()],
    )


def run_dashboard(session: Session, *, listen: str | None = None) -> Outcome:
    """Run the app on ``session`` until the user quits; say how to continue the run.

    When the user detaches (b: the app returns DETACHED), or the terminal hangs up (SIGHUP) and
    ``ui.on_hangup`` is "detach", the run is handed to a background process (:mod:`gantui.detach`)
    instead of stopping, the same way in both cases.
    """
    from gantui.serving import serve
    from gantui.ui.steering import DETACHED

    # Textual prefers COLUMNS and LINES over the terminal's real size; exported by a shell or a
    # parent process they would pin the layout and make resizing do nothing.
    for stale in ("COLUMNS", "LINES"):
        os.environ.pop(stale, None)
    runner = Runner(session, exit_when_done=False)
    notes: list[str] = []
    served = serve(session, runner, listen=listen, say=notes.append)
    controller = LocalController(served.controller, can_detach=session.folder is not None)
    controller.notes = notes
    app = build_app(session, controller)
    served.local(app.sink)
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        runner.send(Stop(save=True))
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon_threadsafe(app.exit)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    freeze_built_run()
    result = None
    try:
        # Mouse on: the wheel zooms a plot, a click selects a panel (keys do it all too). OSError: the
        # terminal is gone (a hang-up), nothing is left to draw on.
        with contextlib.suppress(OSError):
            result = app.run()
    finally:
        runner.send(Stop(save=True))
        runner.join(JOIN_TIMEOUT_S)
        served.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    restart = result[1] if isinstance(result, tuple) and result[0] == "restart" else None
    finished = controller.finished
    hung_up = bool(received) and received[0] == signal.SIGHUP and session.config.ui.on_hangup == "detach"
    asked = not received and result == DETACHED
    if (hung_up or asked) and _can_continue(session, runner, finished):
        _detach(session, listen)
        return Outcome(exit_status=0)
    if asked:  # b on a run that cannot go on (it reached its steps, or its final checkpoint failed)
        print("gantui: not detached: the run cannot go on from a final checkpoint "
              f"({_why_not(session, runner, finished)})", file=sys.stderr, flush=True)
    if received:
        status = 128 + received[0]
    elif isinstance(result, tuple) and result[0] == "interrupted":  # ctrl+c (gantui.ui.steering.INTERRUPTED)
        status = EXIT_INTERRUPTED
    elif finished is not None and finished.reason in ("failed", "write-failed"):
        status = EXIT_FAILED
    else:
        status = 0
    _say_how_to_continue(session, runner, finished)
    return Outcome(exit_status=status, restart=restart)


def _can_continue(session: Session, runner: Runner, finished: Finished | None) -> bool:
    """A run that ended cleanly short of its steps, with a final checkpoint to continue from."""
    steps = session.config.train.steps
    return (session.folder is not None and finished is not None and finished.reason == "stopped"
            and bool(finished.checkpoint) and not finished.extra.get("rescued")
            and not (steps and runner.trainer.step >= steps))


def _why_not(session: Session, runner: Runner, finished: Finished | None) -> str:
    """Why ``_can_continue`` said no, in a few words."""
    steps = session.config.train.steps
    if session.folder is None:
        return "no run folder"
    if finished is None or finished.reason != "stopped":
        return f"it ended {finished.reason if finished else 'without a report'}"
    if not finished.checkpoint or finished.extra.get("rescued"):
        return "no final checkpoint in the run folder"
    if steps and runner.trainer.step >= steps:
        return f"it reached its {steps:,} steps"
    return "unknown"


def _detach(session: Session, listen: str | None) -> None:
    from gantui.detach import LOG_NAME, spawn_background

    assert session.folder is not None
    pid = spawn_background(session.folder.path, listen=listen)
    line = (f"gantui: detached: the run goes on in the background (pid {pid}); watch it with: "
            f"gantui attach {printable(session.folder.path)}")
    with contextlib.suppress(OSError):  # the terminal may be gone: the log says it too
        with open(session.folder.path / LOG_NAME, "a", encoding="utf-8") as log:
            log.write(line + "\n")
        print(line, file=sys.stderr, flush=True)


def _say_how_to_continue(session: Session, runner: Runner, finished: Finished | None) -> None:
    from gantui.cli import resume_command

    if session.folder is None:
        return
    run = session.folder.path
    steps = session.config.train.steps
    done = runner.trainer.step
    ended = bool(steps) and done >= steps
    where = f"; checkpoint {printable(finished.checkpoint)}" if finished and finished.checkpoint else ""
    command = resume_command(run, steps_done=done if ended else None)
    print(f"gantui: run folder {printable(run)} (step {done:,}{where}); continue with: {printable(command)}",
          file=sys.stderr, flush=True)
