"""Helpers for the serving tests: a fake runner, a private runtime directory, a raw socket client."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from gantui import __version__
from gantui.protocol import Command
from gantui.remote import codec
from gantui.remote.messages import Hello
from gantui.remote.server import RunServer


class FakeRunner:
    """Records every command with its origin; ``on_command`` may answer (e.g. publish Finished)."""

    def __init__(self) -> None:
        self.received: list[tuple[Command, str]] = []
        self.on_command: Callable[[Command, str], None] | None = None
        self._cond = threading.Condition()

    def send(self, command: Command, *, origin: str = "") -> None:
        with self._cond:
            self.received.append((command, origin))
            self._cond.notify_all()
        if self.on_command is not None:
            self.on_command(command, origin)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[Command, str]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)


@contextlib.contextmanager
def private_dir() -> Iterator[Path]:
    """A 0700 directory with a short path (a socket path must fit in 100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="gt", dir="/tmp"))
    try:
        yield path
    finally:
        for child in path.rglob("*"):
            with contextlib.suppress(OSError):
                child.unlink()
        for child in sorted(path.rglob("*"), reverse=True):
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()


@contextlib.contextmanager
def serving(runner: object, runtime: Path, **kwargs) -> Iterator[RunServer]:
    server = RunServer(runner, runtime=runtime, **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.close()


def hello(**changes) -> bytes:
    fields = {"version": codec.PROTOCOL_VERSION, "schema": codec.SCHEMA, "gantui": __version__,
              "client": "test", "pid": os.getpid(), "mode": "view", **changes}
    return codec.encode(Hello(**fields))


class RawClient:
    """A blocking socket that speaks frames by hand (for garbage, slow readers and other uids)."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_message(self) -> object:
        """One message (blocking, bounded by the timeout)."""
        header = self._recv_exactly(4)
        return codec.decode(self._recv_exactly(int.from_bytes(header, "big")), codec.SERVER_KINDS)

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    def messages_until_closed(self, limit: int = 1000) -> list[object]:
        """Every message the server sends until it closes the connection (bounded by the timeout)."""
        out: list[object] = []
        buf = b""
        while len(out) < limit:
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 4:
                n = int.from_bytes(buf[:4], "big")
                if len(buf) < 4 + n:
                    break
                out.append(codec.decode(buf[4:4 + n], codec.SERVER_KINDS))
                buf = buf[4 + n:]
        return out

    def close(self) -> None:
        self.sock.close()
