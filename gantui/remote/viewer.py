"""One connection on the run's side: handshake, the history, the live events, and the commands back.

Every frame is read with a length limit (64 KiB for a command) and decoded against the command
schema; anything else (garbage, a truncated or oversized frame, a wrong type, a message out of turn,
a flood of commands) closes that one connection with a log line. The trainer never waits for a
viewer: the server only appends to the viewer's bounded :class:`~gantui.remote.outbox.Outbox`, and
this viewer's own task writes it to the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gantui import __version__
from gantui.protocol import (
    METRIC_NAMES,
    Command,
    HistoryReset,
    MetricsBatch,
    StateChanged,
    frozen_array,
)
from gantui.remote import codec
from gantui.remote.auth import client_mac, new_nonce, server_mac
from gantui.remote.memory import Snapshot
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
from gantui.remote.outbox import Outbox

if TYPE_CHECKING:
    from gantui.remote.server import RunServer

__all__ = ["Viewer", "handle_connection"]

_AUTH_FRAME = 1024  # nothing before authentication may be larger


class ProtocolError(Exception):
    """The peer broke the protocol: close its connection with this line."""


@dataclass
class Viewer:
    """A connected viewer: its name, its outbox, and the step below which live rows are repeats."""

    number: int
    name: str
    outbox: Outbox
    writer: asyncio.StreamWriter
    watching: bool = True  # a dashboard ("view"), counted as a viewer; False: gantui stop and the like
    floor: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closing: str = ""  # why it is being closed ("" while open)
    commands: float = 0.0  # token bucket for the command rate
    refilled: float = field(default_factory=time.monotonic)

    def offer(self, event: Any, frame: bytes) -> bool:
        """Queue ``event`` (encoded as ``frame``); False when the viewer fell too far behind."""
        if self.floor is not None:
            if isinstance(event, HistoryReset):
                self.floor = None
            elif isinstance(event, MetricsBatch) and "step" in event.columns:
                steps = event.column("step")
                fresh = steps > self.floor
                if not fresh.any():
                    return True
                if not fresh.all():
                    event = MetricsBatch(columns=event.columns, values=frozen_array(event.values[fresh]))
                    frame = codec.encode(event)
                self.floor = None
        ok = self.outbox.put(event, frame)
        self.wake.set()
        return ok


async def read_message(reader: asyncio.StreamReader, limit: int) -> Any:
    header = await reader.readexactly(codec.HEADER.size)
    body = await reader.readexactly(codec.check_length(header, limit))
    return codec.decode(body, codec.CLIENT_KINDS)


def _write(writer: asyncio.StreamWriter, message: Any) -> None:
    writer.write(codec.encode(message))


async def _authenticate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes) -> None:
    nonce = new_nonce()
    _write(writer, AuthChallenge(nonce=nonce))
    await writer.drain()
    answer = await read_message(reader, _AUTH_FRAME)
    if not isinstance(answer, AuthResponse) or not hmac.compare_digest(
            answer.mac, client_mac(key, nonce, answer.nonce)):
        raise ProtocolError("authentication failed")
    _write(writer, AuthProof(mac=server_mac(key, nonce, answer.nonce)))


async def _hello(server: RunServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 tcp: bool) -> Hello:
    if tcp:
        await _authenticate(reader, writer, server.key_bytes)
    hello = await read_message(reader, _AUTH_FRAME)
    if not isinstance(hello, Hello):
        raise ProtocolError(f"expected Hello, got {type(hello).__name__}")
    if hello.version != codec.PROTOCOL_VERSION or hello.schema != codec.SCHEMA:
        raise ProtocolError(f"this run speaks gantui {__version__} (protocol {codec.PROTOCOL_VERSION}, "
                            f"schema {codec.SCHEMA}); the viewer gantui {hello.gantui[:40]} (protocol "
                            f"{hello.version}, schema {hello.schema[:20]}): use the same gantui on both ends")
    return hello


def _welcome(server: RunServer, viewer_name: str, rows: int) -> Welcome:
    return Welcome(version=codec.PROTOCOL_VERSION, schema=codec.SCHEMA, gantui=__version__,
                   viewer=viewer_name, run=server.info, status=server.status(), history_rows=rows,
                   losses=dict(server.losses),
                   presets=tuple(server.presets))


async def handle_connection(server: RunServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            *, tcp: bool) -> None:
    """Serve one connection to its end; never raises (the listening server must keep serving)."""
    peer = server.peer_name(writer, tcp)
    viewer: Viewer | None = None
    pump: asyncio.Task | None = None
    server.connections += 1
    server.writers.add(writer)
    task = asyncio.current_task()
    if task is not None:
        server.handlers.add(task)
    try:
        if peer is None:  # refused (and logged) by peer_name
            _try_write(writer, Error(message="refused: only the user who started this run may attach"))
            return
        if server.connections > server.limits.max_viewers:
            raise ProtocolError(f"too many connections (at most {server.limits.max_viewers})")
        hello = await asyncio.wait_for(_hello(server, reader, writer, tcp), server.limits.handshake_s)
        if hello.mode == "status":
            _write(writer, _welcome(server, "", 0))
            await writer.drain()
            return
        await server.ready()
        if server.ending:
            raise ProtocolError(server.ending)
        viewer, snapshot = server.register(writer, hello, peer)
        _write(writer, _welcome(server, viewer.name, snapshot.rows if snapshot else 0))
        pump = asyncio.create_task(_pump(server, viewer, snapshot))
        await _read_commands(server, reader, viewer)
    except ProtocolError as exc:
        server.log(f"{viewer.name if viewer else peer}: {exc}; connection closed")
        _try_write(writer, Error(message=str(exc)))
    except codec.DecodeError as exc:
        server.log(f"{viewer.name if viewer else peer}: bad message ({exc}); connection closed")
        _try_write(writer, Error(message=f"bad message: {exc}"))
    except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.TimeoutError):
        pass  # the viewer went away (killed mid-frame, detached, timed out in the handshake)
    finally:
        server.connections -= 1
        server.writers.discard(writer)
        if task is not None:
            server.handlers.discard(task)
        if viewer is not None:
            server.unregister(viewer)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump  # (a cancellation of this handler itself only comes from a closing loop)
        await _close(writer)


def _try_write(writer: asyncio.StreamWriter, message: Any) -> None:
    with contextlib.suppress(Exception):
        _write(writer, message)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 2.0)
    with contextlib.suppress(Exception):
        writer.transport.abort()  # a peer that stopped reading cannot hold the transport open


async def _read_commands(server: RunServer, reader: asyncio.StreamReader, viewer: Viewer) -> None:
    limits = server.limits
    while True:
        message = await read_message(reader, limits.command_frame)
        if isinstance(message, Command):
            now = time.monotonic()
            viewer.commands = max(0.0, viewer.commands - (now - viewer.refilled) * limits.commands_per_s)
            viewer.refilled = now
            viewer.commands += 1
            if viewer.commands > limits.command_burst:
                raise ProtocolError(f"more than {limits.command_burst} commands in a burst")
            server.command(message, viewer)
        elif isinstance(message, Ping):
            viewer.offer(Pong(seq=message.seq), codec.encode(Pong(seq=message.seq)))
        elif isinstance(message, Bye):
            return
        elif isinstance(message, Error):
            server.log(f"{viewer.name}: {message.message[:200]!r}")
            return
        else:
            raise ProtocolError(f"{type(message).__name__} out of turn")


def history_frames(server: RunServer, snapshot: Snapshot, chunk_rows: int) -> Any:
    """The history as frames, lazily: metric rows in chunks (only the columns they use), then the log
    and the latest state."""
    store = server.store
    for event in snapshot.tail:  # the header and the controls show the run at once
        if isinstance(event, StateChanged):
            yield codec.encode(event)
    for start in range(0, snapshot.rows, chunk_rows):
        rows = store.read(start, min(snapshot.rows, start + chunk_rows))
        if not len(rows):
            break
        used = ~np.isnan(rows).all(axis=0)
        used[0] = True  # always the step
        columns = tuple(name for name, keep in zip(METRIC_NAMES, used, strict=True) if keep)
        yield codec.encode(MetricsBatch(columns=columns, values=frozen_array(rows[:, used])))
    for event in (*snapshot.log, *snapshot.tail):
        with contextlib.suppress(TypeError):
            yield codec.encode(event)
    yield codec.encode(HistoryEnd(rows=snapshot.rows))


async def _pump(server: RunServer, viewer: Viewer, snapshot: Snapshot | None) -> None:
    """Write the history, then whatever the outbox holds, until the viewer closes."""
    writer = viewer.writer
    if snapshot is not None:
        pending = 0
        for frame in history_frames(server, snapshot, server.limits.history_chunk_rows):
            writer.write(frame)
            pending += len(frame)
            if pending > 1 << 20:
                await writer.drain()
                pending = 0
    await writer.drain()
    while True:
        while len(viewer.outbox):
            writer.write(viewer.outbox.pop())
        await writer.drain()
        if viewer.closing:
            return
        viewer.wake.clear()
        if not len(viewer.outbox):
            await viewer.wake.wait()

