"""``gantui attach | ls | stop | view``: the subcommands for runs that live apart from a terminal.

None of them imports torch: a viewer starts in a fraction of a second and leaves the trainer's
machine to the trainer. ``dispatch`` answers None for any other command line, so ``gantui.cli`` only
has to try it first. Exit status: 0 done, 1 no such run (or it could not be reached), 2 a usage
mistake; every problem is one line on stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gantui.remote.paths import RemoteError
from gantui.text import printable

__all__ = ["SUBCOMMANDS", "dispatch"]

SUBCOMMANDS = ("attach", "ls", "stop", "view")
EXIT_NO_RUN = 1
EXIT_USAGE = 2
STOP_TIMEOUT_S = 600.0  # a final checkpoint of a large model can take minutes


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        name = self.prog.split()[-1]
        self.exit(EXIT_USAGE, f"gantui {name}: error: {message} (see gantui {name} --help)\n")


def _parser(name: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"gantui {name}", description=_DESCRIPTIONS[name])
    if name in ("attach", "stop"):
        p.add_argument("run", nargs="?" if name == "attach" else None, metavar="RUN_DIR|PID|HOST:PORT",
                       help="a run folder, a pid (gantui ls), or a TCP address with --key-file")
        p.add_argument("--key-file", type=Path, metavar="F", help="the run's attach.json (for HOST:PORT)")
    if name == "stop":
        p.add_argument("--timeout", type=float, default=STOP_TIMEOUT_S, metavar="S",
                       help="seconds to wait for the final checkpoint (default 600)")
    if name == "view":
        p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                       help="finished or crashed run folders; with several, the first is shown and the "
                            "others' metrics are drawn over its plots (A, B, …: one colour a run)")
    if name in ("attach", "view"):
        p.add_argument("--colors", choices=("auto", "truecolor", "256", "16"), default="auto",
                       help="colour depth (auto: from COLORTERM and TERM)")
    return p


_DESCRIPTIONS = {
    "attach": "Open the dashboard on a live run (q detaches; the run goes on training).",
    "ls": "List this user's live runs on this machine.",
    "stop": "Stop a live run, saving a final checkpoint (as q does in its own dashboard).",
    "view": "Open a finished (or crashed) run folder read-only in the dashboard; several to compare them.",
}


def dispatch(argv: Sequence[str]) -> int | None:
    """Run a subcommand and return its exit status; None when ``argv`` names none."""
    if not argv or argv[0] not in SUBCOMMANDS:
        return None
    name, rest = argv[0], list(argv[1:])
    args = _parser(name).parse_args(rest)
    try:
        return {"attach": _attach, "ls": _ls, "stop": _stop, "view": _view}[name](args)
    except RemoteError as exc:
        print(f"gantui {name}: {exc}", file=sys.stderr)
        return EXIT_NO_RUN
    except KeyboardInterrupt:
        return 130


# ------------------------------------------------------------------------------------ ls
def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def format_runs(runs: list) -> list[str]:
    """The ``gantui ls`` table, one line a run (numbered, for the attach picker)."""
    header = ("#", "RUN", "PRESET", "STEP", "STATUS", "IT/S", "VIEWERS", "UPTIME", "PID")
    rows = []
    for i, run in enumerate(runs, 1):
        info, st = run.info, run.status
        rate = st and st.steps_per_sec
        rows.append((str(i), printable(info.run_dir or info.socket), printable(info.preset or "-"),
                     f"{st.step:,}" if st else "?", printable(st.status) if st else "not answering",
                     f"{rate:,.1f}" if st and math.isfinite(rate) else "-", str(st.viewers) if st else "?",
                     _duration(st.uptime) if st else "?", str(info.pid)))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]


def _ls(args: argparse.Namespace) -> int:
    from gantui.remote.registry import live_runs

    runs = live_runs()
    if not runs:
        print("no live gantui runs of yours on this machine")
        return 0
    print("\n".join(format_runs(runs)))
    return 0


# ------------------------------------------------------------------------------------ attach, stop
def _target(args: argparse.Namespace):
    from gantui.remote.registry import AmbiguousRun, resolve_target

    try:
        return resolve_target(args.run, key_file=args.key_file)
    except AmbiguousRun as many:
        lines = format_runs(many.runs)
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise RemoteError(f"{many}\n" + "\n".join(lines)) from None
        print("\n".join(lines))
        answer = input(f"attach to which run? [1-{len(many.runs)}] ").strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(many.runs):
            raise RemoteError(f"{printable(answer)!r}: not a number from the list") from None
        return many.runs[int(answer) - 1].target


def _attach(args: argparse.Namespace) -> int:
    from gantui.remote.client import RemoteController
    from gantui.remote.registry import has_ended

    if args.run is not None and Path(args.run).is_dir() and has_ended(Path(args.run)):
        return _offer_resume(Path(args.run))
    target = _target(args)
    controller = RemoteController(target)
    welcome = controller.connect()
    app = _app(controller, losses=welcome.losses, presets=welcome.presets, colors=args.colors)
    try:
        app.run(mouse=False)
    finally:
        controller.detach()
        controller.join(2.0)
    where = printable(welcome.run.run_dir or target)
    if controller.run_finished:
        print(f"the run in {where} has ended")
    else:
        print(f"detached from {where}, which goes on training: gantui attach {where}")
    return 0


def _offer_resume(run_dir: Path) -> int:
    """A run folder whose run has ended: offer to resume it, by the rules of ``gantui --resume`` (the
    reliability rules: its own configuration, the newest good checkpoint). At a terminal the user is
    asked; elsewhere (a script) the command is printed and the exit status is 1, as for no live run."""
    from gantui.cli import resume_command
    from gantui.engine.checkpoint_names import latest

    where = printable(run_dir)
    found = latest(run_dir)
    if found is None:
        raise RemoteError(f"{where}: the run has ended and left no checkpoint to resume from "
                          f"(gantui view {where} opens it read-only)")
    limit = _step_limit(run_dir)
    reached = bool(limit) and found.step >= limit  # resuming it as it was would stop at once
    command = resume_command(run_dir, steps_done=found.step if reached else None)
    what = f"the run in {where} has ended at step {found.step:,} ({printable(found.path.name)})"
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(f"gantui attach: {what}: continue with {command}", file=sys.stderr)
        return EXIT_NO_RUN
    answer = input(f"{what}. Resume it with {command}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print(f"not resumed; later: {command}")
        return 0
    from gantui import cli

    return cli.main(shlex.split(command)[1:])


def _step_limit(run_dir: Path) -> int | None:
    """``[train] steps`` from the run's config.toml (0: no limit), None where it cannot be read."""
    from gantui.config import ConfigError
    from gantui.tomlio import read_toml

    try:
        steps = read_toml(run_dir / "config.toml")["train"]["steps"]
    except (ConfigError, KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def _stop(args: argparse.Namespace) -> int:
    from gantui.protocol import Finished, Stop
    from gantui.remote.client import Connection, ConnectionClosed

    target = _target(args)
    conn = Connection(target, client="stop", mode="control")
    welcome = conn.open()
    where = printable(welcome.run.run_dir or target)
    try:
        conn.send(Stop(save=True))
        print(f"stopping {where} at step {welcome.status.step:,}: saving a final checkpoint…", flush=True)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            message = conn.recv()
            if isinstance(message, Finished):
                saved = f"; checkpoint {printable(message.checkpoint)}" if message.checkpoint else ""
                print(f"stopped at step {message.step:,}{saved}")
                return 0
    except (ConnectionClosed, OSError):
        print(f"{where}: the run closed the connection (it has ended)")
        return 0
    finally:
        conn.close()
    raise RemoteError(f"{where}: no Finished within {args.timeout:.0f} s (the run may still be saving)")


# ------------------------------------------------------------------------------------ view
def _view(args: argparse.Namespace) -> int:
    from gantui.remote.filecontroller import FileController

    controller = FileController(args.runs[0], compare=args.runs[1:])
    _app(controller, losses={}, presets=(), colors=args.colors).run(mouse=False)
    return 0


def _app(controller, *, losses, presets, colors: str):
    for stale in ("COLUMNS", "LINES"):  # as the dashboard does: they would pin the layout
        os.environ.pop(stale, None)
    from gantui.ui.app import GanApp

    return GanApp(controller, losses=losses, presets=presets, colors=colors)
