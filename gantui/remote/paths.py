"""Where a run is reached: the per-user runtime directory (socket, registry entry, history cache), and
TCP addresses.

``$XDG_RUNTIME_DIR/gantui/`` when that is a directory of ours (systemd makes it 0700 and removes it
at logout), else ``<tempdir>/gantui-<uid>/``. Either way the directory is created 0700 and refused
when it is a symlink, belongs to another user or is group or world accessible: a socket there can
only be reached by its owner (and root). Never the run folder: run folders are often on NFS, where
sockets do not work and modes are not what they seem.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from gantui.text import printable

__all__ = [
    "MAX_SOCKET_PATH", "RUN_ID", "RemoteError", "ensure_private_dir", "parse_hostport", "runtime_dir",
    "socket_path",
]

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
RUN_ID = re.compile(r"[0-9]{1,10}-[0-9a-f]{8}")  # "<pid>-<8 hex>": see server.new_run_id


class RemoteError(Exception):
    """A user-facing problem with serving or attaching, in one line (the CLI prints it, exit 1 or 2)."""


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` 0700 if missing; refuse it unless it is a real directory, ours, and private."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=False, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise RemoteError(f"{printable(path)}: cannot create the runtime directory "
                          f"({exc.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise RemoteError(f"{printable(path)}: not a directory (a symlink?): refusing to use it")
    if st.st_uid != os.getuid():
        raise RemoteError(f"{printable(path)}: owned by uid {st.st_uid}, not by you: refusing to use it")
    if st.st_mode & 0o077:
        raise RemoteError(f"{printable(path)}: mode {stat.S_IMODE(st.st_mode):o} lets other users in "
                          "(chmod 700 it, or remove it)")
    return path


def _xdg_base() -> Path | None:
    """$XDG_RUNTIME_DIR if it is a directory of ours (after su or sudo it may still be someone else's)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if not base or not os.path.isabs(base):
        return None
    try:
        st = os.stat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return Path(base)


def runtime_dir() -> Path:
    """This user's private gantui runtime directory, created if needed (RemoteError if unsafe)."""
    base = _xdg_base()
    if base is not None:
        return ensure_private_dir(base / "gantui")
    return ensure_private_dir(Path(tempfile.gettempdir()) / f"gantui-{os.getuid()}")


def socket_path(directory: Path, run_id: str) -> Path:
    """The run's socket; RemoteError when the path would not fit in a socket address."""
    path = Path(directory) / f"{run_id}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise RemoteError(f"{printable(path)}: too long for a Unix socket address; set XDG_RUNTIME_DIR or "
                          "TMPDIR to a shorter directory")
    return path


def parse_hostport(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` (the loopback interface); ValueError if not."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 0 <= int(port) <= 65535 or (":" in host and not text.startswith("[")):
        raise ValueError(f"{printable(text)!r}: expected HOST:PORT (a port from 0 to 65535)")
    return host or default_host, int(port)
