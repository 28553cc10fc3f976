"""Who may connect: the same user on a Unix socket, the holder of the run's key over TCP.

Unix socket: on top of the 0700 runtime directory, every connection's peer credentials are read
from the kernel (``SO_PEERCRED`` on Linux, ``LOCAL_PEERCRED`` on macOS and the BSDs) and only the
run's own uid is admitted. Root is refused like any other user: root can read every file anyway, so
a flag would protect nothing, while refusing keeps ``sudo gantui attach`` from steering a colleague's
run by accident; an administrator who means it runs ``sudo -u USER gantui attach``, and the
intervention is then recorded under that user's viewer. Where the platform reports no peer
credentials, connections are refused (fail closed).

TCP (``--listen``): a random 256-bit key lives in the run folder's ``attach.json`` (mode 0600). The
run sends a nonce; the viewer answers with HMAC-SHA256(key, "client" ‖ run nonce ‖ its nonce) and its
own nonce; the run answers with HMAC(key, "server" ‖ viewer nonce ‖ run nonce). Each side proves it
holds the key without sending it, fresh nonces defeat replays, and the labels defeat reflection. The
stream itself is neither encrypted nor signed after that: across untrusted networks use ``ssh -L``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import struct
import sys
from pathlib import Path

from gantui.remote.paths import RemoteError
from gantui.text import printable

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "client_mac",
    "load_key",
    "new_key",
    "new_nonce",
    "peer_credentials",
    "server_mac",
]

KEY_BYTES = 32
NONCE_BYTES = 32
_LABEL = b"gantui-attach-v1 "


def peer_credentials(sock: socket.socket) -> tuple[int, int] | None:
    """(uid, pid) of the process at the other end of a connected Unix socket; pid 0 if unknown.

    None where the platform cannot say (the caller then refuses the connection).
    """
    if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid_t pid; uid_t uid; gid_t gid;}
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return uid, pid
    if sys.platform == "darwin" or sys.platform.startswith(("freebsd", "openbsd", "netbsd", "dragonfly")):
        # getpeereid(3) is LOCAL_PEERCRED at level 0: struct xucred {u_int version; uid_t uid; ...}.
        local_peercred = getattr(socket, "LOCAL_PEERCRED", 1)
        raw = sock.getsockopt(0, local_peercred, 76)
        _version, uid = struct.unpack_from("Ii", raw)
        return uid, 0
    return None


def new_key() -> str:
    """A fresh key, as hex text (what attach.json stores)."""
    return secrets.token_hex(KEY_BYTES)


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def client_mac(key: bytes, server_nonce: bytes, client_nonce: bytes) -> bytes:
    return hmac.new(key, _LABEL + b"client" + server_nonce + client_nonce, hashlib.sha256).digest()


def server_mac(key: bytes, server_nonce: bytes, client_nonce: bytes) -> bytes:
    return hmac.new(key, _LABEL + b"server" + client_nonce + server_nonce, hashlib.sha256).digest()


def parse_key(text: str) -> bytes | None:
    """A hex key as bytes, or None if ``text`` is not one."""
    text = text.strip()
    if len(text) != 2 * KEY_BYTES:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def load_key(path: Path) -> bytes:
    """The key in a run folder's attach.json (or a file holding only the hex key); RemoteError if none."""
    path = Path(path)
    if path.is_dir():
        path = path / "attach.json"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RemoteError(f"{printable(path)}: cannot read the key file ({exc.strerror})") from None
    key = parse_key(text)
    if key is None:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        key = parse_key(str(doc.get("key", ""))) if isinstance(doc, dict) else None
    if key is None:
        raise RemoteError(f"{printable(path)}: no key (expected attach.json with a \"key\", or "
                          f"{2 * KEY_BYTES} hex digits): the run must have been started with --listen")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise RemoteError(f"{printable(path)}: the key file is readable by other users (chmod 600 it)")
    return key
