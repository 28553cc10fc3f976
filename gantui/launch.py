"""``gantui --gpus N``: this process launches N ranks on this machine and, unless ``--headless``,
opens the dashboard attached to rank 0's run.

The ranks start through torch's own launcher API (``torch.distributed.run``) on a thread; each rank is
``gantui`` itself with the user's arguments (``--gpus`` removed, the run folder made explicit), so a
rank behaves exactly as under ``torchrun`` (gantui/parallel.py). The dashboard is not drawn by rank 0
for two reasons: torch's launcher starts each rank in a session of its own, with no controlling
terminal (a resized terminal would never reach it), and in a data-parallel run every millisecond rank
0 spends drawing is a millisecond every rank waits. So rank 0 serves its run (as every run does, see
gantui/serving.py) and this process attaches to it as ``gantui attach`` would, except that ``q`` here
stops the run with a final checkpoint, as in a local dashboard.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gantui.cli import EXIT_FAILED, _check_args, _check_headless, _check_terminal, _derived_overrides, error
from gantui.config import Config, ConfigError
from gantui.parallel import EXIT_INTERRUPTED, FRONT_ENV, JOIN_TIMEOUT_S, RANK_LOG_ENV, _config
from gantui.text import printable

__all__ = ["launch"]


def _worker_argv(argv: list[str], run_dir: Path | None) -> list[str]:
    """The ranks' command line: the user's, without ``--gpus N``, with the run folder made explicit."""
    out: list[str] = []
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--gpus":
            skip = i + 1 < len(argv)
            continue
        if word.startswith("--gpus="):
            continue
        out.append(word)
    if run_dir is not None and not any(w == "--run-dir" or w.startswith("--run-dir=") for w in out):
        out += ["--run-dir", str(run_dir)]
    return out


def _check_processes(n: int, config: Config) -> str:
    """The kind of rank this machine can run ``n`` of ("GPU" or "CPU"), or ConfigError."""
    import torch

    if n < 1:
        raise ConfigError(f"--gpus {n}: expected 1 or more (one process per GPU)")
    device = config.train.device
    if device in ("auto", "cuda") and torch.cuda.is_available():
        have = torch.cuda.device_count()
        if n > have:
            raise ConfigError(f"--gpus {n}: this machine has {have} CUDA device{'s' if have != 1 else ''}")
        return "GPU"
    if device.startswith("cuda"):
        raise ConfigError(f"train.device = '{device}': CUDA is not available on this machine "
                          "(use auto or cpu)")
    cores = os.cpu_count() or 1
    if n > cores:
        raise ConfigError(f"--gpus {n}: this machine has no CUDA device, and {cores} CPU core"
                          f"{'s' if cores != 1 else ''}: at most {cores} CPU processes")
    return "CPU"


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """``gantui --gpus N``: start N ranks with torch's launcher; the dashboard attaches to rank 0."""
    import tempfile

    from gantui.engine.distributed.startup import check_config
    from gantui.engine.errors import USER_ERRORS

    try:
        _check_args(args)
        overrides = _derived_overrides(args)
        config = _config(args, overrides)
        run_dir: Path | None = args.run_dir
        if config is None:
            from gantui.engine.session import open_checkpoint, resume_config

            resumed = open_checkpoint(args.resume)
            config = resume_config(resumed, overrides)
            run_dir = run_dir or resumed.run_dir
        _check_headless(args, config)
        _check_terminal(args)
        kind = _check_processes(args.gpus, config)
        check_config(config, args.gpus)
    except USER_ERRORS as exc:
        return error(str(exc))
    if run_dir is None:
        from gantui.engine.runfolder import default_run_dir

        run_dir = default_run_dir(config.preset)
    run_dir = Path(run_dir).absolute()
    logs = Path(tempfile.mkdtemp(prefix="gantui-ranks-"))
    _quiet_launcher_logs(logs / "launcher.log")
    n = args.gpus
    if args.headless:  # rank 0 writes to this console; the others to files
        redirects = ",".join(["0:0", *(f"{i}:3" for i in range(1, n))])
    else:
        redirects = "3"
        os.environ[FRONT_ENV] = "serve"
    os.environ.setdefault(RANK_LOG_ENV, "info")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    from torch.distributed.run import parse_args

    launch_args = parse_args(["--standalone", f"--nproc-per-node={n}", f"--log-dir={logs}",
                              f"--redirects={redirects}", "--module", "gantui",
                              *_worker_argv(argv, run_dir if args.resume is None else args.run_dir)])
    print(f"gantui: starting {n} {kind} rank{'s' if n != 1 else ''} (torch.distributed.run); their logs: "
          f"{printable(logs)}", file=sys.stderr, flush=True)
    if args.headless:
        return _launch_headless(launch_args, logs, run_dir, n)
    return _launch_dashboard(launch_args, logs, run_dir, n, config)


def _quiet_launcher_logs(path: Path) -> None:
    """torch's launcher logs to stderr, which the dashboard owns: into a file instead."""
    logger = logging.getLogger("torch.distributed")
    logger.handlers = [logging.FileHandler(path)]
    logger.propagate = False


class _Launched:
    """torch.distributed.run's launcher on a thread; what it ended with."""

    def __init__(self, launch_args) -> None:
        self.launch_args = launch_args
        self.status: int | None = None
        self.failures: dict[int, int] = {}  # rank -> exit status, for the ranks that failed
        self.thread = threading.Thread(target=self._run, name="gantui-launcher", daemon=True)

    def _run(self) -> None:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import run

        try:
            run(self.launch_args)
            self.status = 0
        except ChildFailedError as exc:
            self.failures = {int(rank): int(f.exitcode) for rank, f in exc.failures.items()}
            self.status = self.failures.get(0, next(iter(self.failures.values()), EXIT_FAILED)) or EXIT_FAILED
        except BaseException as exc:  # the launcher itself failed (a rendezvous that timed out, ...)
            self.failures = {-1: EXIT_FAILED}
            self.status = EXIT_FAILED
            logging.getLogger("torch.distributed").error("launcher failed: %r", exc)

    def start(self) -> None:
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


def _rank0_error(logs: Path) -> str:
    """Rank 0's last line on stderr (its one-line error, when it could not start the run)."""
    for path in sorted(logs.glob("*/attempt_*/0/stderr.log")):
        with contextlib.suppress(OSError):
            lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
            if lines:
                return lines[-1]
    return ""


def _say_failure(launched: _Launched, logs: Path) -> int:
    line = _rank0_error(logs)
    if line:
        print(line if line.startswith("gantui") else f"gantui: rank 0: {line}", file=sys.stderr)
    lost = sorted(r for r in launched.failures if r > 0)
    if lost:
        print(f"gantui: rank{'s' if len(lost) > 1 else ''} {', '.join(map(str, lost))} failed: see "
              f"{printable(logs)}", file=sys.stderr)
    return launched.status or EXIT_FAILED


def _launch_headless(launch_args, logs: Path, run_dir: Path, n: int) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException

    launched = _Launched(launch_args)
    try:
        launched._run()
    except SignalException as exc:  # the launcher forwarded it to the ranks; rank 0 saved
        return 128 + int(exc.sigval)
    if launched.status:
        return _say_failure(launched, logs)
    return 0


def _launch_dashboard(launch_args, logs: Path, run_dir: Path, n: int, config: Config) -> int:
    from gantui.protocol import Finished, Stop
    from gantui.remote.client import RemoteController
    from gantui.remote.paths import RemoteError
    from gantui.ui.app import GanApp

    launched = _Launched(launch_args)
    started = time.time()
    launched.start()
    try:
        target = _wait_for_rank0(run_dir, started, launched)
    except KeyboardInterrupt:
        _end_ranks(launched)
        return EXIT_INTERRUPTED
    if target is None:
        return _say_failure(launched, logs)
    controller = _Watching(RemoteController(target))
    try:
        controller.inner.connect()
    except RemoteError as exc:
        print(f"gantui: {exc}", file=sys.stderr)
        _end_ranks(launched)
        return EXIT_FAILED
    for stale in ("COLUMNS", "LINES"):
        os.environ.pop(stale, None)
    ui = config.ui
    app = GanApp(controller, losses=controller.inner.welcome.losses, presets=(), colors=ui.colors,
                 refresh_hz=ui.refresh_hz, plot_budget=ui.plot_budget, history=ui.history)
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        controller.send(Stop(save=True))
        with contextlib.suppress(RuntimeError):
            import asyncio

            asyncio.get_running_loop().call_soon_threadsafe(app.exit)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        result = app.run(mouse=False)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if controller.finished is None:
            controller.send(Stop(save=True))  # Ctrl+C in the app, or a signal: stop with a checkpoint
        launched.thread.join(JOIN_TIMEOUT_S)
        if launched.running:
            _end_ranks(launched)
        controller.inner.detach()
        controller.inner.join(2.0)
    if isinstance(result, tuple) and result and result[0] == "restart":
        print("gantui: another preset cannot start inside a data-parallel run: start it with gantui --gpus "
              f"{n} --preset {printable(result[1])}", file=sys.stderr)
    finished: Finished | None = controller.finished
    where = f"; checkpoint {printable(finished.checkpoint)}" if finished and finished.checkpoint else ""
    print(f"gantui: run folder {printable(run_dir)}{where}; continue with: "
          f"gantui --resume {printable(run_dir)} --gpus {n}", file=sys.stderr, flush=True)
    if received:
        return 128 + received[0]
    if isinstance(result, tuple) and result and result[0] == "interrupt":
        return EXIT_INTERRUPTED
    if finished is not None and finished.reason in ("failed", "write-failed"):
        return EXIT_FAILED
    return EXIT_FAILED if launched.failures else 0


def _wait_for_rank0(run_dir: Path, started: float, launched: _Launched):
    """Rank 0's address once it serves the run (its attach.json, written after this launch), or None
    when the launcher ended first (rank 0 could not start the run)."""
    from gantui.remote.paths import RemoteError
    from gantui.remote.registry import process_start_time, read_attach_file, resolve_target

    while launched.running:
        found = read_attach_file(run_dir)
        if found is not None:
            info, _create_time, _key = found
            began = process_start_time(info.pid)
            if began is not None and began >= started - 1.0:
                with contextlib.suppress(RemoteError):
                    return resolve_target(str(run_dir))
        time.sleep(0.1)
    return None


def _end_ranks(launched: _Launched) -> None:
    """The ranks did not end by themselves: SIGTERM (rank 0 saves), then SIGKILL after a grace period."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _gone, alive = psutil.wait_procs(children, timeout=30.0)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    launched.thread.join(5.0)


class _Watching:
    """The dashboard's Controller: the remote one, remembering how the run ended. q stops the ranks
    (it is their own dashboard); they cannot be detached from the launcher that owns them."""

    quit_detaches = False
    can_detach = False

    def __init__(self, inner) -> None:
        self.inner = inner
        self.finished = None
        self._sink: Any = None

    def start(self, sink) -> None:
        self._sink = sink
        self.inner.start(self._deliver)

    def _deliver(self, event) -> None:
        from gantui.protocol import Finished

        if isinstance(event, Finished) and event.reason != "disconnected":
            self.finished = event
        self._sink(event)

    def send(self, command) -> None:
        self.inner.send(command)

    def detach(self) -> None:
        """Not offered (``can_detach``): the launcher's ranks end with it."""

    def join(self, timeout: float) -> bool:
        return self.inner.join(timeout)
