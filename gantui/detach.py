"""A dashboard run that loses (or leaves) its terminal goes on training in the background.

The dashboard saves a final checkpoint and ends; a new process resumes the run from it, headless and
in its own session (so no terminal's hang-up reaches it), with its output in the run folder's
``gantui.log``, serving as every run does, so ``gantui attach RUN`` picks it up where the dashboard
left it. Resuming is exact (a checkpoint holds every random stream), so the run's trajectory is the
one it would have had; the price is the few seconds the new process takes to start. A run with
``train.steps`` ends at it as usual; one without trains until ``gantui stop RUN``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["LOG_NAME", "spawn_background"]

LOG_NAME = "gantui.log"


def spawn_background(run_dir: Path, *, listen: str | None = None) -> int:
    """Start ``gantui --resume RUN --headless`` detached from any terminal; return its pid."""
    argv = [sys.executable, "-m", "gantui", "--resume", str(run_dir), "--headless", "--detached"]
    if listen:
        argv += ["--listen", listen]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    log = open(Path(run_dir) / LOG_NAME, "ab")  # noqa: SIM115 - the child inherits it
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True, close_fds=True)
    finally:
        log.close()
    return child.pid
