"""One writer per run folder: an advisory lock on ``RUN/.lock``, held for as long as the run writes.

Two processes writing one run folder interleave their metrics and overwrite each other's checkpoints,
so the second one is refused with a line that names the first (pid, host, since when). The lock is
``flock``'s: the kernel releases it when the holder dies, however it dies, so a crashed run never
leaves a folder locked. The pid written inside is only for the message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from gantui.text import printable

__all__ = ["LOCK_NAME", "RunFolderError", "RunLock", "check_free", "holder"]

LOCK_NAME = ".lock"


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (in use, already holding a run): one line."""


def holder(folder: Path) -> dict[str, object]:
    """What the lock file says about its holder ({} when unreadable)."""
    try:
        info = json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def check_free(folder: Path) -> None:
    """Raise RunFolderError now if another process holds ``folder`` (a resume says so before it reads
    anything else); the lock itself is taken later, when the run folder is opened."""
    if not (Path(folder) / LOCK_NAME).exists():
        return
    lock = RunLock(folder)
    lock.acquire()
    lock.release()


class RunLock:
    """``acquire()`` or raise RunFolderError; ``release()`` (also on process exit, by the kernel)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None
        self.warning = ""  # set when the file system cannot lock (some NFS mounts): we run unlocked

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderError(self._in_use_message()) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                os.close(fd)
                raise
            self.warning = (f"{printable(self.folder)}: this file system cannot lock files "
                            f"({exc.strerror}); make sure no other gantui writes this run folder")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        with contextlib.suppress(OSError):  # the message is a courtesy; the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def _in_use_message(self) -> str:
        info = holder(self.folder)
        who = f"gantui pid {info.get('pid', '?')}"
        if info.get("host") and info.get("host") != socket.gethostname():
            who += f" on {printable(info['host'])}"
        since = f" since {printable(info['since'])}" if info.get("since") else ""
        return (f"{printable(self.folder)}: in use by {who}{since}; a run folder has one writer "
                f"(watch it with: gantui attach {printable(self.folder)})")

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
