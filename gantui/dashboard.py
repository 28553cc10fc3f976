"""Wiring the Textual dashboard to a runner: the app drives the runner only through commands.

After the app exits, for whatever reason, the runner is stopped with a final checkpoint and its
thread joined before the interpreter ends (a thread still inside torch at exit aborts Python).
SIGTERM and SIGHUP (an SSH session that dropped) close the app the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING, Any

from gantui.engine.losses import LOSSES
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import bundled_dir, list_presets
from gantui.protocol import Stop

if TYPE_CHECKING:
    from gantui.ui.app import GanApp

JOIN_TIMEOUT_S = 120.0  # a final checkpoint of a large model can take a while


def build_app(session: Session, runner: Runner) -> GanApp:
    """The dashboard for ``runner`` with the session's ``[ui]`` settings (bench/bench.py uses it too)."""
    from gantui.ui.app import GanApp

    cfg = session.config
    return GanApp(
        runner,
        losses={name: loss.description for name, loss in LOSSES.items()},
        presets=[p.name for p in list_presets()],
        bundled_presets=sorted(path.stem for path in bundled_dir().glob("*.toml")),
        colors=cfg.ui.colors,
        refresh_hz=cfg.ui.refresh_hz,
        plot_budget=cfg.ui.plot_budget,
        history=cfg.ui.history,
    )


def run_dashboard(session: Session) -> str | None:
    """Run the app on ``session``; return a preset name if the user asked to restart on it."""
    # Textual prefers COLUMNS and LINES over the terminal's real size; exported by a shell or a
    # parent process they would pin the layout and make resizing do nothing.
    for stale in ("COLUMNS", "LINES"):
        os.environ.pop(stale, None)
    runner = Runner(session, exit_when_done=False)
    app = build_app(session, runner)

    def on_signal(signum: int, frame: Any) -> None:
        runner.send(Stop(save=True))
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon_threadsafe(app.exit)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        result = app.run()  # mouse on: the wheel zooms a plot, a click selects a panel (keys do it all too)
    finally:
        runner.send(Stop(save=True))
        runner.join(JOIN_TIMEOUT_S)
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if isinstance(result, tuple) and result[0] == "restart":
        return result[1]
    return None
