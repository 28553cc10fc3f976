"""Every run serves its live state (issue 12): the wiring between a runner and its RunServer.

A run with a run folder listens on a private Unix socket (and on TCP with ``--listen``) from its first
event to its last, so ``gantui attach`` can watch and steer it from any terminal of the same user. A
run that cannot serve (an unsafe runtime directory, say) still trains, and says why it cannot be
attached; with ``--listen`` it is refused instead, since the user asked for it.
"""

from __future__ import annotations

from collections.abc import Callable

from gantui.engine.losses import LOSSES
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import list_presets
from gantui.protocol import Event, Notice
from gantui.remote.paths import RemoteError
from gantui.remote.served import ServedRunner
from gantui.remote.server import RunServer
from gantui.text import printable

__all__ = ["Served", "serve"]


class Served:
    """What a front end drives: the runner (served, when it could be), and the server to close."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.server: RunServer | None = None
        self.controller: Runner | ServedRunner = runner
        self._notice_sink: Callable[[Event], None] = lambda event: None

    def local(self, sink: Callable[[Event], None]) -> None:
        """Where the server's own notices go (the local display, never the viewers twice)."""
        self._notice_sink = sink

    def notice(self, notice: Notice) -> None:
        self._notice_sink(notice)

    def close(self, reason: str = "the run has ended") -> None:
        if self.server is not None:
            self.server.close(reason)


def serve(session: Session, runner: Runner, *, listen: str | None = None,
          say: Callable[[str], None] = lambda line: None) -> Served:
    """Start serving ``runner``; ``say`` gets one line on how to attach (or why it cannot be).

    Raises RemoteError (one line) only when ``listen`` was asked for and cannot be had.
    """
    served = Served(runner)
    if session.folder is None:
        return served
    server = RunServer(runner, run_dir=session.folder.path, preset=session.config.preset,
                       losses={name: loss.description for name, loss in LOSSES.items()},
                       presets=[p.name for p in list_presets()], listen=listen, on_notice=served.notice)
    try:
        server.start()
    except RemoteError as exc:
        if listen:
            raise
        say(f"warning: this run cannot be attached ({exc})")
        return served
    served.server = server
    served.controller = ServedRunner(runner, server)
    where = printable(session.folder.path)
    tcp = f", or from another machine: gantui attach {printable(listen)} --key-file {where}/attach.json" \
        if listen else ""
    say(f"watch and steer it from any terminal: gantui attach {where}{tcp}")
    return served
