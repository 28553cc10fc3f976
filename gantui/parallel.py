"""Data-parallel runs from the command line: the ranks under a launcher, and ``gantui --gpus N``.

Under ``torchrun`` (any launcher that sets ``RANK`` and ``WORLD_SIZE``) every process runs ``gantui``
with the same arguments: :func:`run_rank` makes rank 0 the run exactly as ``--headless`` runs it (its
run folder, console and exit status), and every other rank a follower. ``gantui --gpus N`` is the
launcher itself (gantui/launch.py): it starts N ranks on this machine, each running this module's
:func:`run_rank`, and opens the dashboard attached to rank 0's run.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from gantui.cli import (
    EXIT_FAILED,
    EXIT_USAGE,
    _check_args,
    _check_headless,
    _derived_overrides,
    _os_error,
    error,
)
from gantui.config import Config, ConfigError
from gantui.text import printable

__all__ = ["FRONT_ENV", "RANK_LOG_ENV", "run_parallel"]

FRONT_ENV = "GANTUI_PARALLEL_FRONT"  # "serve": rank 0 serves its run to gantui --gpus's dashboard
RANK_LOG_ENV = "GANTUI_RANK_LOG"  # the followers' log level (default warning; gantui --gpus: info)
EXIT_INTERRUPTED = 130
JOIN_TIMEOUT_S = 180.0  # the final checkpoint of a large model, then every rank's exit


def run_parallel(args: argparse.Namespace, argv: list[str]) -> int:
    """``gantui`` as one rank of a launched run, or as the launcher (``--gpus``)."""
    from gantui.engine.distributed.group import LaunchError, launched

    try:
        place = launched()
    except LaunchError as exc:
        return error(str(exc))
    if args.gpus is not None:
        if place is not None:
            return error("--gpus inside a launcher: torchrun has started the ranks already (drop --gpus)")
        from gantui.launch import launch

        return launch(args, argv)
    return run_rank(args, place)


def _front_check(args: argparse.Namespace, config: Config, *, serve: bool) -> None:
    if serve:
        return
    if not args.headless:
        raise ConfigError("a rank started by torchrun has no terminal for the dashboard: add --headless "
                          "(or start the ranks with gantui --gpus N, which opens the dashboard)")
    _check_headless(args, config)


def _config(args: argparse.Namespace, overrides: list[str]) -> Config | None:
    """The configuration of a new run (validated before torch is imported), or None for a resume."""
    from gantui.presets import DEFAULT_PRESET, load_config

    if args.resume is not None:
        return None
    return load_config(args.preset if args.preset is not None else DEFAULT_PRESET, overrides)


# ------------------------------------------------------------------------------------ the ranks
def run_rank(args: argparse.Namespace, place) -> int:
    """One rank of a launched run: rank 0 runs it, the others follow. Returns the exit status."""
    serve = os.environ.get(FRONT_ENV) == "serve"
    try:
        _check_args(args)
        overrides = _derived_overrides(args)
        config = _config(args, overrides)
        if config is not None:
            _front_check(args, config, serve=serve)
            from gantui.engine.distributed.startup import check_config

            check_config(config, place.world)
    except ConfigError as exc:  # every rank finds the same mistake: rank 0 says it
        return error(str(exc)) if place.leads else EXIT_USAGE
    from gantui.engine.distributed.group import join

    ranks = join(place)
    try:
        if place.leads:
            return _lead(args, config, overrides, ranks, serve=serve)
        return _follow(ranks)
    finally:
        ranks.leave()


def _lead(args: argparse.Namespace, config: Config | None, overrides: list[str], ranks, *,
          serve: bool) -> int:
    from gantui.engine.distributed.startup import abort, check_config, describe, lead_start
    from gantui.engine.errors import USER_ERRORS
    from gantui.engine.session import Session, open_checkpoint, resume_config

    try:
        resumed = None
        if args.resume is not None:
            resumed = open_checkpoint(args.resume)
            config = resume_config(resumed, overrides)
            _front_check(args, config, serve=serve)
            check_config(config, ranks.world)
        assert config is not None
        session = Session.create(config, run_dir=args.run_dir, resume=resumed,
                                 mode="overwrite" if args.overwrite else "new")
    except USER_ERRORS as exc:
        abort(ranks, EXIT_USAGE)
        return error(str(exc))
    except OSError as exc:
        abort(ranks, EXIT_USAGE)
        return error(_os_error(exc))
    leader = lead_start(session, ranks, resumed=resumed)
    print(f"gantui: {describe(ranks, session.trainer, session.config)}", file=sys.stderr, flush=True)
    if resumed is not None:
        print(f"gantui: resuming {printable(session.folder.path if session.folder else resumed.run_dir)} "
              f"from {printable(resumed.path.name)} (step {resumed.step:,})", file=sys.stderr, flush=True)
    try:
        if serve:
            return _serve(session)
        from gantui.headless import run_headless

        return run_headless(session)
    finally:
        leader.close()


def _follow(ranks) -> int:
    import traceback

    from gantui.engine.distributed.follower import log
    from gantui.engine.distributed.startup import follow_start
    from gantui.engine.distributed.team import RanksLost
    from gantui.engine.errors import USER_ERRORS

    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("gantui: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(os.environ.get(RANK_LOG_ENV, "warning").upper())
    try:
        follower = follow_start(ranks)
    except USER_ERRORS as exc:
        print(f"gantui: rank {ranks.rank}: error: {printable(exc)}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    if isinstance(follower, int):
        return follower  # rank 0 could not start the run and said why
    follower.ignore_signals()
    try:
        return follower.follow()
    except RanksLost as exc:
        log.warning("rank %d: %s: leaving", ranks.rank, exc)
        return EXIT_FAILED
    except Exception:
        print(f"gantui: rank {ranks.rank} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        return EXIT_FAILED


def _serve(session) -> int:
    """Rank 0 for ``gantui --gpus``: the run served to the launcher's dashboard until it stops."""
    from gantui.engine.heap import freeze_built_run
    from gantui.engine.losses import LOSSES
    from gantui.engine.runner import Runner
    from gantui.protocol import Finished, Stop
    from gantui.remote.paths import RemoteError
    from gantui.remote.server import RunServer

    runner = Runner(session, exit_when_done=False)
    server = RunServer(runner, run_dir=session.folder.path, preset=session.config.preset,
                       losses={name: loss.description for name, loss in LOSSES.items()})
    try:
        server.start()
    except RemoteError as exc:
        return error(str(exc))
    done = threading.Event()
    ended: list[Finished] = []
    received: list[int] = []

    def sink(event: Any) -> None:
        server.publish(event)
        if isinstance(event, Finished):
            ended.append(event)
            done.set()

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        runner.send(Stop(save=True))

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        freeze_built_run()
        runner.start(sink)
        while not done.wait(0.5):
            pass
        runner.join(JOIN_TIMEOUT_S)
    finally:
        server.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    return EXIT_FAILED if ended and ended[0].reason in ("failed", "write-failed") else 0
