"""The messages of a viewer connection beyond the protocol's own commands and events.

A connection goes: (TCP only) ``AuthChallenge`` → ``AuthResponse`` → ``AuthProof``; then ``Hello``
from the viewer and ``Welcome`` from the run; then the history (protocol events), ``HistoryEnd``, and
the live events. The viewer sends protocol commands, ``Ping`` (answered by ``Pong``) and ``Bye``.
Either side may send ``Error`` (then closes) or ``Bye`` (a clean goodbye with its reason).

Like the protocol's, these are frozen dataclasses of plain values, so the codec handles both alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AuthChallenge",
    "AuthProof",
    "AuthResponse",
    "Bye",
    "Control",
    "Error",
    "Hello",
    "HistoryEnd",
    "Ping",
    "Pong",
    "RunInfo",
    "RunStatus",
    "Welcome",
]

HelloMode = Literal["view", "control", "status"]


@dataclass(frozen=True, slots=True)
class Control:
    """Base class of the connection's own messages (never passed to a sink or a runner)."""


@dataclass(frozen=True, slots=True)
class AuthChallenge(Control):
    """TCP only, the run's first frame: prove you hold the key by signing this nonce."""

    nonce: bytes


@dataclass(frozen=True, slots=True)
class AuthResponse(Control):
    """The viewer's proof (an HMAC over both nonces) and its own nonce for the run to sign."""

    nonce: bytes
    mac: bytes


@dataclass(frozen=True, slots=True)
class AuthProof(Control):
    """The run's proof that it holds the key too: a viewer never talks to an impostor."""

    mac: bytes


@dataclass(frozen=True, slots=True)
class Hello(Control):
    """The viewer's first message: who it is and what it wants.

    ``mode`` "view" streams the history and then the live events; "control" only the live events
    (``gantui stop`` waits there for the run to finish); "status" gets only the ``Welcome``
    (``gantui ls``). Only "view" connections count as viewers.
    """

    version: int  # codec.PROTOCOL_VERSION of the viewer
    schema: str  # codec.SCHEMA: a digest of every message's fields; both ends must agree
    gantui: str  # the viewer's gantui version, for the error message when they do not
    client: str = "viewer"  # a word for humans: "viewer", "ls", "stop"
    pid: int = 0
    mode: HelloMode = "view"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run's identity, as written to attach.json and the registry."""

    run_id: str  # "<pid>-<8 hex>": names its socket and registry entry
    run_dir: str  # "" for a run without a folder
    preset: str
    host: str
    pid: int
    started: float  # Unix time the run started serving
    socket: str = ""
    tcp: str = ""  # "host:port" when served over TCP too
    gantui: str = ""


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What ``gantui ls`` shows of a live run, from the events the run last reported."""

    status: str  # the RunState status ("running", "paused", "failed", "finished"), or "starting"
    step: int
    steps_per_sec: float  # NaN before the first measured window
    viewers: int
    uptime: float  # seconds since the run started serving


@dataclass(frozen=True, slots=True)
class Welcome(Control):
    """The run's answer to a Hello: its identity, status, and what the viewer's menus should offer."""

    version: int
    schema: str
    gantui: str
    viewer: str  # the name this viewer's commands are recorded under, e.g. "viewer 2 (pid 1234)"
    run: RunInfo
    status: RunStatus
    history_rows: int = 0  # metric rows in the history that follows
    losses: dict[str, str] = field(default_factory=dict)  # every loss the run can switch to
    presets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryEnd(Control):
    """Everything before this was the history (with no gap to what follows); everything after is live."""

    rows: int


@dataclass(frozen=True, slots=True)
class Ping(Control):
    seq: int


@dataclass(frozen=True, slots=True)
class Pong(Control):
    seq: int


@dataclass(frozen=True, slots=True)
class Bye(Control):
    """A clean goodbye: a viewer detaching, or the run ending or dropping a viewer that fell behind."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Error(Control):
    """What went wrong, in one line; the sender closes the connection after it."""

    message: str
