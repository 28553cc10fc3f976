"""The viewer's end: a connection to a live run, and ``RemoteController``, the UI's Controller over it.

``GanApp(RemoteController(target), ...)`` drives a run in another process exactly as it drives a
local runner: ``start(sink)`` delivers the history and then the live events to ``sink`` from a reader
thread, ``send(command)`` sends a command, ``join(timeout)`` waits for the reader to end. A lost
connection ends in a warning and ``Finished(reason="disconnected")``, so the app says so and q quits.

Plain blocking sockets on one thread: the viewer has one connection, and the UI's loop stays its own.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gantui import __version__
from gantui.protocol import Command, Event, Finished, MetricsBatch, Notice, StateChanged
from gantui.remote import codec
from gantui.remote.auth import client_mac, new_nonce, server_mac
from gantui.remote.messages import (
    AuthChallenge,
    AuthProof,
    AuthResponse,
    Bye,
    Error,
    Hello,
    HistoryEnd,
    Ping,
    Pong,
    Welcome,
)
from gantui.remote.paths import RemoteError
from gantui.text import printable

__all__ = ["Connection", "ConnectionClosed", "RemoteController", "Target", "query_status"]

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Target:
    """Where a run listens: its Unix socket, or a TCP address and the key from its attach.json."""

    socket: str = ""
    host: str = ""
    port: int = 0
    key: bytes | None = None
    label: str = ""  # how to name it to the user (the run folder, usually)

    def __str__(self) -> str:
        return self.label or self.socket or f"{self.host}:{self.port}"


class ConnectionClosed(Exception):
    """The run closed the connection (or it broke)."""


class Connection:
    """One blocking connection: ``open()`` authenticates and says hello; then ``recv`` and ``send``."""

    def __init__(self, target: Target, *, client: str = "viewer", mode: str = "view",
                 timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.target = target
        self.client = client
        self.mode = mode
        self.timeout = timeout
        self.bytes_received = 0
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()

    def open(self) -> Welcome:
        t = self.target
        try:
            if t.socket:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(t.socket)
            else:
                sock = socket.create_connection((t.host, t.port), timeout=self.timeout)
        except OSError as exc:
            raise RemoteError(f"cannot connect to {printable(t)}: {exc.strerror or exc}") from None
        self._sock = sock
        try:
            if not t.socket:
                self._authenticate()
            self.send(Hello(version=codec.PROTOCOL_VERSION, schema=codec.SCHEMA, gantui=__version__,
                            client=self.client, pid=os.getpid(), mode=self.mode))  # type: ignore[arg-type]
            welcome = self.recv()
        except (ConnectionClosed, OSError, codec.DecodeError) as exc:
            self.close()
            raise RemoteError(f"{printable(t)}: the run closed the connection during the handshake "
                              f"({printable(exc) or type(exc).__name__})") from None
        if isinstance(welcome, Error):
            self.close()
            raise RemoteError(f"{printable(t)}: {printable(welcome.message)}")
        if not isinstance(welcome, Welcome):
            self.close()
            raise RemoteError(f"{printable(t)}: expected a welcome, got {type(welcome).__name__}")
        sock.settimeout(None)
        return welcome

    def _authenticate(self) -> None:
        if self.target.key is None:
            raise RemoteError(f"{printable(self.target)}: a TCP run needs its key "
                              "(--key-file RUN_DIR/attach.json)")
        challenge = self.recv()
        if not isinstance(challenge, AuthChallenge):
            raise ConnectionClosed(f"expected an authentication challenge, got {type(challenge).__name__}")
        nonce = new_nonce()
        self.send(AuthResponse(nonce=nonce, mac=client_mac(self.target.key, challenge.nonce, nonce)))
        proof = self.recv()
        if isinstance(proof, Error):
            raise RemoteError(f"{printable(self.target)}: {printable(proof.message)}")
        expected = server_mac(self.target.key, challenge.nonce, nonce)
        if not isinstance(proof, AuthProof) or not hmac.compare_digest(proof.mac, expected):
            raise RemoteError(f"{printable(self.target)}: the server could not prove it holds the run's key: "
                              "refusing to talk to it")

    def recv(self) -> object:
        header = self._recv_exactly(codec.HEADER.size)
        body = self._recv_exactly(codec.check_length(header, codec.MAX_FRAME))
        return codec.decode(body, codec.SERVER_KINDS)

    def _recv_exactly(self, n: int) -> bytes:
        sock = self._sock
        if sock is None:
            raise ConnectionClosed("not connected")
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = sock.recv_into(view[got:])
            if k == 0:
                raise ConnectionClosed("end of stream" if got == 0 else "end of stream inside a frame")
            got += k
        self.bytes_received += n
        return bytes(buf)

    def send(self, message: object) -> None:
        frame = codec.encode(message)
        with self._send_lock:
            if self._sock is None:
                raise ConnectionClosed("not connected")
            self._sock.sendall(frame)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def shutdown(self) -> None:
        """Unblock a reader on another thread (it sees the end of the stream)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


def query_status(target: Target, *, timeout: float = 1.0) -> Welcome:
    """The run's Welcome (identity and status) without attaching as a viewer."""
    conn = Connection(target, client="ls", mode="status", timeout=timeout)
    try:
        return conn.open()
    finally:
        conn.close()


class RemoteController:
    """The UI's Controller for a run in another process (see the module docstring).

    q and b detach (``detach``: the run goes on training); a ``Stop`` from the app (K, behind a
    confirmation) stops the run itself with a final checkpoint.
    """

    quit_detaches = True
    can_detach = True

    def __init__(self, target: Target, *, client: str = "viewer") -> None:
        self.target = target
        self.connection = Connection(target, client=client)
        self.welcome: Welcome | None = None
        self.history_done = threading.Event()
        self.last_step = 0
        self._sink: Callable[[Event], None] = lambda e: None
        self._thread: threading.Thread | None = None
        self._detached = False
        self._finished = False
        self._pongs: dict[int, float] = {}
        self._pong = threading.Condition()
        self._seq = 0

    @property
    def run_finished(self) -> bool:
        """The run reported Finished (it ended), as opposed to this viewer detaching or losing it."""
        return self._finished

    @property
    def bytes_received(self) -> int:
        return self.connection.bytes_received

    def connect(self) -> Welcome:
        """Authenticate and say hello (RemoteError on failure); ``start`` does it if not done yet."""
        if self.welcome is None:
            self.welcome = self.connection.open()
        return self.welcome

    # ------------------------------------------------------------------ Controller
    def start(self, sink: Callable[[Event], None]) -> None:
        self._sink = sink
        try:
            self.connect()
        except RemoteError as exc:
            self._deliver(Notice(step=0, level="warning", message=str(exc)))
            self._deliver(Finished(step=0, reason="disconnected"))
            self.history_done.set()
            return
        self._thread = threading.Thread(target=self._read_loop, name="gantui-viewer", daemon=True)
        self._thread.start()

    def send(self, command: Command) -> None:
        if self._detached:
            return
        try:
            self.connection.send(command)
        except (ConnectionClosed, OSError):
            self._deliver(Notice(step=self.last_step, level="warning",
                                 message=f"not connected: {type(command).__name__} was not sent"))

    def join(self, timeout: float) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ beyond it
    def detach(self) -> None:
        """Leave the run training: say goodbye and close; the app gets Finished(reason="detached")."""
        if self._detached:
            return
        self._detached = True
        with contextlib.suppress(ConnectionClosed, OSError):
            self.connection.send(Bye(reason="detached"))
        if self._thread is None:
            self.connection.close()
        else:
            self.connection.shutdown()

    def ping(self, timeout: float = 5.0) -> float:
        """Round-trip time to the run's server, in seconds (RemoteError if no answer)."""
        with self._pong:
            self._seq += 1
            seq = self._seq
        start = time.perf_counter()
        self.connection.send(Ping(seq=seq))
        with self._pong:
            if not self._pong.wait_for(lambda: seq in self._pongs, timeout=timeout):
                raise RemoteError(f"{printable(self.target)}: no answer to a ping within {timeout:.0f} s")
            return self._pongs.pop(seq) - start

    def _deliver(self, event: Event) -> None:
        with contextlib.suppress(Exception):  # a closing app must not kill the reader
            self._sink(event)

    def _read_loop(self) -> None:
        reason = "the run closed the connection"
        try:
            while True:
                message = self.connection.recv()
                if isinstance(message, Event):
                    self._note_step(message)
                    self._deliver(message)
                elif isinstance(message, HistoryEnd):
                    self.history_done.set()
                elif isinstance(message, Pong):
                    with self._pong:
                        self._pongs[message.seq] = time.perf_counter()
                        self._pong.notify_all()
                elif isinstance(message, (Bye, Error)):
                    reason = printable(message.reason if isinstance(message, Bye) else message.message)
                    break
        except (ConnectionClosed, OSError) as exc:
            reason = f"the connection broke ({printable(exc) or type(exc).__name__})"
        except codec.DecodeError as exc:
            reason = f"a bad message from the run: {exc}"
        finally:
            self.history_done.set()
            self.connection.close()
            if self._detached:
                self._deliver(Finished(step=self.last_step, reason="detached"))
            elif not self._finished:
                self._deliver(Notice(step=self.last_step, level="warning",
                                     message=f"disconnected from {printable(self.target)}: {reason}"))
                self._deliver(Finished(step=self.last_step, reason="disconnected"))

    def _note_step(self, event: Event) -> None:
        if isinstance(event, MetricsBatch) and len(event.values) and "step" in event.columns:
            self.last_step = max(self.last_step, int(event.column("step")[-1]))
        elif isinstance(event, StateChanged):
            self.last_step = max(self.last_step, event.state.step)
        elif isinstance(event, Finished):
            self._finished = True
