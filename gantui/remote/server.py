"""``RunServer``: a training process serving its live run to viewers in other processes.

It runs on its own thread with its own asyncio loop (one task per viewer, no thread per client).
The trainer reaches it only through :meth:`RunServer.publish`, the sink the process fans each event
out to beside its local display: an O(1) append to a bounded inbox and, at most once per drain, a
wake-up byte to the loop, so the trainer never waits for a viewer. The loop keeps what a late viewer
needs (every metric row in a :class:`~gantui.remote.rowstore.RowStore`, the log of interventions,
notices and alerts, the latest state and samples) and forwards each event to every viewer's bounded
outbox. Commands from viewers go to ``runner.send(command, origin="viewer 2 (pid 1234)")``.

Start it before the runner starts (so that it sees every event of this process), and close it after
the runner's ``Finished``::

    server = RunServer(runner, run_dir=folder, preset=cfg.preset, losses=..., presets=...)
    server.start()                       # RemoteError: say it, or run unserved
    runner.start(lambda e: (app.sink(e), server.publish(e)))
    ...
    server.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from gantui import __version__
from gantui.protocol import Command, Event, Notice
from gantui.remote import codec, registry
from gantui.remote.auth import new_key, parse_key, peer_credentials
from gantui.remote.memory import RunMemory, Snapshot
from gantui.remote.messages import Bye, Hello, RunInfo, RunStatus
from gantui.remote.outbox import Outbox
from gantui.remote.paths import RemoteError, ensure_private_dir, parse_hostport, runtime_dir, socket_path
from gantui.remote.rowstore import RowStore
from gantui.remote.runlog import read_events
from gantui.remote.viewer import Viewer, handle_connection
from gantui.text import printable

__all__ = ["Limits", "RunServer"]

logger = logging.getLogger("gantui.remote")
logger.addHandler(logging.NullHandler())  # the process decides where these lines go (never a dashboard's tty)


class Steerable(Protocol):
    def send(self, command: Command, *, origin: str = "") -> None: ...


@dataclass(frozen=True)
class Limits:
    """The bounds that keep a viewer from costing the trainer anything."""

    outbox_bytes: int = 8 << 20  # pending bytes per viewer before compaction, then a drop
    inbox_events: int = 10_000  # events waiting for the loop (it drains them within milliseconds)
    max_viewers: int = 16
    command_frame: int = 64 << 10
    commands_per_s: float = 50.0
    command_burst: int = 200
    handshake_s: float = 5.0
    history_chunk_rows: int = 65_536  # ~10 MiB a frame at 20 columns
    log_keep: int = 2_000  # log events replayed to a late viewer (the dashboard keeps 1,000 lines)
    close_s: float = 2.0  # how long close() lets viewers receive the last events


def new_run_id() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


class RunServer:
    """Serves one run; see the module docstring. ``start``, ``publish``, ``close``."""

    def __init__(self, runner: Steerable, *, run_dir: Path | str | None = None, preset: str = "",
                 losses: Mapping[str, str] | None = None, presets: Sequence[str] = (),
                 listen: str | tuple[str, int] | None = None, runtime: Path | None = None,
                 limits: Limits = Limits(), on_notice: Callable[[Notice], None] | None = None) -> None:
        self.runner = runner
        self.run_dir = Path(run_dir).resolve() if run_dir else None
        self.preset = preset
        self.losses = dict(losses or {})
        self.presets = tuple(presets)
        self.listen = parse_hostport(listen) if isinstance(listen, str) else listen
        self.limits = limits
        self.on_notice = on_notice
        self.run_id = new_run_id()
        self.runtime = runtime
        self.key = ""  # the TCP key (hex), only with ``listen``
        self.key_bytes = b""
        self.info = RunInfo(run_id=self.run_id, run_dir=str(self.run_dir or ""), preset=preset,
                            host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                            gantui=__version__)
        self.connections = 0
        self.writers: set[Any] = set()  # every open connection's writer (closed by close())
        self.handlers: set[asyncio.Task] = set()
        self.ending = ""  # why the server is closing ("" while it serves)
        self._background: list[asyncio.Task] = []
        self.viewers: dict[int, Viewer] = {}
        self.dropped: list[str] = []  # names of viewers dropped for falling behind (for tests, logs)
        self.inbox_dropped = 0
        self._dropped_logged = 0
        self._numbers = 0
        self._inbox: deque[Event] = deque()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._closed = False
        self._ready: asyncio.Event | None = None
        self.store: RowStore  # set by start(), with the memory
        self.memory: RunMemory

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Bind the socket (and the TCP port), write attach.json and the registry entry, start serving.

        RemoteError (one line) when the runtime directory is unsafe or the address is taken.
        """
        directory = ensure_private_dir(self.runtime) if self.runtime else runtime_dir()
        self.runtime = directory
        path = socket_path(directory, self.run_id)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            unix.bind(str(path))
            os.chmod(path, 0o600)  # the 0700 directory already keeps others out; this is a second lock
            unix.listen(16)
        except OSError as exc:
            unix.close()
            raise RemoteError(f"{printable(path)}: cannot listen ({exc.strerror or exc})") from None
        try:
            tcp = self._bind_tcp() if self.listen else None
        except RemoteError:
            unix.close()
            path.unlink(missing_ok=True)
            raise
        self.info = replace(self.info, socket=str(path), tcp=self._tcp_name(tcp) if tcp else "")
        self.store = RowStore(directory / f"{self.run_id}.rows")
        self.memory = RunMemory(self.store, log_keep=self.limits.log_keep)
        sizes = self._file_sizes()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gantui-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(unix, tcp, sizes), self._loop).result(10.0)
        registry.write_entry(directory, self.info)
        if self.run_dir is not None:
            try:
                registry.write_attach_file(self.run_dir, self.info, key=self.key)
            except OSError as exc:
                self.log(f"cannot write {self.run_dir / registry.ATTACH_FILE}: {exc.strerror or exc}")

    def _bind_tcp(self) -> socket.socket:
        host, port = self.listen  # type: ignore[misc]
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family)
        except OSError as exc:
            raise RemoteError(f"--listen {printable(host)}:{port}: {exc.strerror or exc}") from None
        self.key = new_key()
        self.key_bytes = parse_key(self.key) or b""
        return sock

    @staticmethod
    def _tcp_name(sock: socket.socket) -> str:
        host, port = sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):  # every interface: name the machine, so the address works elsewhere
            host = socket.gethostname()
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _file_sizes(self) -> tuple[int, int]:
        """How much of events.jsonl is from before this process (the rest arrives live)."""
        if self.run_dir is None:
            return 0, 0
        try:
            return (self.run_dir / "events.jsonl").stat().st_size, 0
        except OSError:
            return 0, 0

    async def _serve(self, unix: socket.socket, tcp: socket.socket | None, sizes: tuple[int, int]) -> None:
        self._ready = asyncio.Event()
        self._servers.append(await asyncio.start_unix_server(
            functools.partial(handle_connection, self, tcp=False), sock=unix))
        if tcp is not None:
            self._servers.append(await asyncio.start_server(
                functools.partial(handle_connection, self, tcp=True), sock=tcp))
        self._background.append(asyncio.get_running_loop().create_task(self._load_history(sizes[0])))

    async def _load_history(self, events_bytes: int) -> None:
        """The run folder's earlier history (a resumed run): metrics.jsonl rows into the store, and the
        events of earlier processes into the log; live rows wait meanwhile, then follow."""
        try:
            if self.run_dir is not None:
                events = self.run_dir / "events.jsonl"
                self.memory.prepend_log(await asyncio.to_thread(read_events, events, limit=events_bytes))
                await asyncio.to_thread(self.memory.load_rows, self.run_dir / "metrics.jsonl")
        except Exception as exc:  # an unreadable folder must not stop the serving
            self.log(f"cannot read the run's history: {exc}")
        self.memory.loaded()
        assert self._ready is not None
        self._ready.set()

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until every event published so far has been handled (for tests and benchmarks)."""
        assert self._loop is not None

        async def handled() -> None:
            self._drain()
            await self.ready()

        asyncio.run_coroutine_threadsafe(handled(), self._loop).result(timeout)

    async def ready(self) -> None:
        assert self._ready is not None
        await self._ready.wait()

    def close(self, reason: str = "the run has ended") -> None:
        """Say goodbye to every viewer (after the events already published), stop, remove the files."""
        if self._loop is None or self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(reason), self._loop).result(
                self.limits.close_s + 3.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
        if not self._loop.is_running():
            self._loop.close()
        self.store.close()
        if self.runtime is not None:
            registry.remove_run_files(self.runtime, self.run_id)
        if self.run_dir is not None:
            found = registry.read_attach_file(self.run_dir)
            if found is not None and found[0].run_id == self.run_id:
                with contextlib.suppress(OSError):
                    (self.run_dir / registry.ATTACH_FILE).unlink()

    async def _shutdown(self, reason: str) -> None:
        """Goodbye to each viewer after what it has pending, then every connection closed: their
        handlers see the end of the stream and finish on their own."""
        self._drain()
        self.ending = reason  # a connection still in its handshake is refused from now on
        for server in self._servers:
            server.close()
        bye = codec.encode(Bye(reason=reason))
        for viewer in list(self.viewers.values()):
            viewer.closing = reason
            viewer.offer(Bye(reason=reason), bye)
        deadline = time.monotonic() + self.limits.close_s
        while any(len(v.outbox) for v in self.viewers.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # the viewers' own tasks are writing
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        handlers = [t for t in self.handlers if not t.done()]
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)
        for task in [*self.handlers, *self._background]:
            task.cancel()

    # ------------------------------------------------------------------------------ the trainer's side
    def publish(self, event: Event) -> None:
        """The sink: called on the trainer's thread; O(1), never blocks, never raises."""
        if self._closed or self._loop is None:
            return
        if len(self._inbox) >= self.limits.inbox_events:
            self.inbox_dropped += 1  # the loop is stuck: lose events rather than memory
            return
        self._inbox.append(event)
        if not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._wake_pending = False  # before draining: a publish from now on schedules another drain
        if self.inbox_dropped != self._dropped_logged:
            self.log(f"{self.inbox_dropped - self._dropped_logged} events lost while the server was stuck: "
                     "a viewer attaching from now on may miss some rows")
            self._dropped_logged = self.inbox_dropped
        while self._inbox:
            event = self._inbox.popleft()
            try:
                self._take(event)
            except Exception as exc:  # one odd event must not stop the serving
                self.log(f"cannot serve {type(event).__name__}: {exc}")

    def _take(self, event: Event) -> None:
        """Remember what a late viewer needs of ``event``, then forward it to every viewer."""
        self.memory.take(event)
        self._forward(event)

    def _forward(self, event: Any) -> None:
        if not self.viewers:
            return
        frame = codec.encode(event)
        for viewer in list(self.viewers.values()):
            if not viewer.closing and not viewer.offer(event, frame):
                self._drop(viewer, f"fell behind by {viewer.outbox.bytes / 2**20:.1f} MiB: attach again")

    def _drop(self, viewer: Viewer, reason: str) -> None:
        viewer.closing = reason
        self.dropped.append(viewer.name)
        self.log(f"{viewer.name} dropped: {reason}")
        self.unregister(viewer)
        with contextlib.suppress(Exception):
            viewer.writer.write(codec.encode(Bye(reason=reason)))  # past the outbox: it may get there
            viewer.writer.close()
        assert self._loop is not None
        self._loop.call_later(5.0, viewer.writer.transport.abort)

    # ------------------------------------------------------------------------------ the viewers' side
    def peer_name(self, writer: Any, tcp: bool) -> str | None:
        """How a connection is named in logs; None (after a log line) when its peer is refused."""
        if tcp:
            host, port = writer.get_extra_info("peername")[:2]
            return f"{host}:{port}"
        creds = peer_credentials(writer.get_extra_info("socket"))
        if creds is None:
            self.log("refused a connection: this platform cannot tell who connects")
            return None
        uid, pid = creds
        if uid != os.getuid():
            self.log(f"refused a connection from uid {uid} (pid {pid}): only uid {os.getuid()} may attach")
            return None
        return f"pid {pid}"

    def register(self, writer: Any, hello: Hello, peer: str) -> tuple[Viewer, Snapshot | None]:
        """A new viewer from now on gets every forwarded event; its history is the snapshot taken here,
        in the same loop callback, so the two meet with no gap."""
        self._drain()
        self._numbers += 1
        live = hello.mode == "view"
        name = f"viewer {self._numbers} ({peer})" if live else f"gantui {hello.client[:20]} ({peer})"
        viewer = Viewer(number=self._numbers, name=printable(name), outbox=Outbox(self.limits.outbox_bytes),
                        writer=writer, watching=live)
        snapshot = None
        if live:
            snapshot = self.memory.snapshot()
            viewer.floor = snapshot.floor if math.isfinite(snapshot.floor) else None
        self.viewers[viewer.number] = viewer
        if live:
            self.announce(f"{viewer.name} attached")
        return viewer, snapshot

    def unregister(self, viewer: Viewer) -> None:
        if self.viewers.pop(viewer.number, None) is not None and viewer.watching:
            self.announce(f"{viewer.name} detached" + (f" ({viewer.closing})" if viewer.closing else ""))

    def command(self, command: Command, viewer: Viewer) -> None:
        try:
            self.runner.send(command, origin=viewer.name)
        except Exception as exc:
            self.log(f"{viewer.name}: {type(command).__name__} not passed on: {exc}")

    def announce(self, message: str) -> None:
        """A line for every viewer's log and the local display's."""
        notice = Notice(step=self.memory.last_step, level="info", message=message)
        self.log(message, level=logging.INFO)
        if not self._closed:
            self._take(notice)
        if self.on_notice is not None:
            with contextlib.suppress(Exception):
                self.on_notice(notice)

    def status(self) -> RunStatus:
        return self.memory.status(viewers=sum(1 for v in self.viewers.values() if v.watching),
                                  uptime=time.time() - self.info.started)

    def log(self, message: str, *, level: int = logging.WARNING) -> None:
        logger.log(level, "%s", printable(message))

    @property
    def address(self) -> str:
        return self.info.tcp or self.info.socket
