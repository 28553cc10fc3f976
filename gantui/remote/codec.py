"""Frames on the wire: every protocol command and event, and the connection's own messages.

A frame is a 4-byte big-endian length and a msgpack body ``[version, kind, fields]``: ``kind`` is the
dataclass's name, ``fields`` its fields as a map. Decoding looks ``kind`` up among the types the
receiver accepts (a run accepts commands, a viewer events) and converts ``fields`` with msgspec
against that dataclass's own type hints, strictly (no bool for an int, no str for a float, every
``Literal`` checked). Nothing is ever unpickled. The types are discovered from ``gantui.protocol``
and :mod:`gantui.remote.messages`, so a new event or command needs no change here.

numpy arrays travel as ``{dtype, shape, data}`` with a whitelist of dtypes, at most 4 dimensions
and a size limit; known events' arrays are checked for the shapes the UI relies on. Every failure
to decode is a :class:`DecodeError`, never another exception.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import numpy as np

from gantui import __version__, protocol
from gantui.protocol import (
    Command,
    ComparedRows,
    Event,
    ImageSamples,
    MetricsBatch,
    SaveCheckpoint,
    SavePreset,
    ToySamples,
)
from gantui.remote import messages
from gantui.remote.messages import Control

__all__ = [
    "CLIENT_KINDS",
    "HEADER",
    "MAX_ARRAY_BYTES",
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "SCHEMA",
    "SERVER_KINDS",
    "DecodeError",
    "FrameTooLarge",
    "check_length",
    "decode",
    "encode",
]

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # what a viewer accepts (a history chunk is ~10 MiB)
MAX_ARRAY_BYTES = 48 * 1024 * 1024
MAX_DIMS = 4
# Little-endian (or byte-order-free) only: the receiver never has to guess.
DTYPES = {name: np.dtype(name) for name in ("<f8", "<f4", "|u1", "<i8", "<i4", "|b1")}


class DecodeError(ValueError):
    """A frame that is not a valid message for this receiver (garbage, wrong types, wrong version)."""


class FrameTooLarge(DecodeError):
    """A frame's declared length is over the receiver's limit (it is never read)."""


def _kinds(module: Any, base: type) -> dict[str, type]:
    found = {}
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base and dataclasses.is_dataclass(
                obj):
            found[obj.__name__] = obj
    return found


COMMANDS = _kinds(protocol, Command)
EVENTS = _kinds(protocol, Event)
CONTROLS = _kinds(messages, Control)
_FROM_CLIENT = ("AuthResponse", "Hello", "Ping", "Bye", "Error")
_FROM_SERVER = ("AuthChallenge", "AuthProof", "Welcome", "HistoryEnd", "Pong", "Bye", "Error")
# What a run accepts, and what a viewer accepts.
CLIENT_KINDS: Mapping[str, type] = {**COMMANDS, **{k: CONTROLS[k] for k in _FROM_CLIENT}}
SERVER_KINDS: Mapping[str, type] = {**EVENTS, **{k: CONTROLS[k] for k in _FROM_SERVER}}
_ALL = {**COMMANDS, **EVENTS, **CONTROLS}
if len(_ALL) != len(COMMANDS) + len(EVENTS) + len(CONTROLS):  # pragma: no cover - a naming mistake
    raise RuntimeError("a command, event or control message shares its class name with another")


def _schema_digest() -> str:
    """A digest of every kind's fields and their declared types: two ends agree or refuse at hello."""
    parts = []
    for name in sorted(_ALL):
        parts.append(f"{name}{[(f.name, str(f.type)) for f in dataclasses.fields(_ALL[name])]}")
    for nested in (protocol.RunState, messages.RunInfo, messages.RunStatus):
        parts.append(f"{nested.__name__}{[(f.name, str(f.type)) for f in dataclasses.fields(nested)]}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


SCHEMA = _schema_digest()
VERSION = __version__


# ------------------------------------------------------------------------------------ arrays
class _Array(msgspec.Struct, forbid_unknown_fields=True):
    dtype: str
    shape: list[int]
    data: bytes


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        if a.dtype.str not in DTYPES:
            raise TypeError(f"arrays of dtype {a.dtype} are not carried")
        return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.data if a.size else b""}
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _dec_hook(kind: type, obj: Any) -> Any:
    if kind is not np.ndarray:
        raise TypeError(f"unexpected type {kind!r}")
    spec = msgspec.convert(obj, _Array, strict=True)
    dtype = DTYPES.get(spec.dtype)
    if dtype is None:
        raise ValueError(f"array dtype {spec.dtype!r} is not allowed")
    if len(spec.shape) > MAX_DIMS or any(n < 0 for n in spec.shape):
        raise ValueError(f"array shape {spec.shape} is not allowed")
    size = math.prod(spec.shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES or size != len(spec.data):
        raise ValueError(f"array of shape {spec.shape} and dtype {spec.dtype} with {len(spec.data)} bytes")
    return np.frombuffer(spec.data, dtype=dtype).reshape(spec.shape)  # read-only: bytes are immutable


# What the UI relies on beyond field types: checked after decoding, by kind.
def _check_metrics(m: MetricsBatch | ComparedRows) -> None:
    v = m.values
    if v.dtype != np.float64 or v.ndim != 2 or v.shape[1] != len(m.columns):
        raise ValueError(f"{type(m).__name__} values {v.dtype} {v.shape} for {len(m.columns)} columns")


def _check_images(s: ImageSamples) -> None:
    for name, a in (("fake", s.fake), ("real", s.real)):
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] not in (1, 3):
            raise ValueError(f"ImageSamples.{name} {a.dtype} {a.shape}: expected uint8 (N, H, W, 1|3)")
    # A conditional grid: labels for every image or none; the panel checks the layout itself.
    for name, a, images in (("labels", s.labels, s.fake), ("real_labels", s.real_labels, s.real)):
        if a.dtype != np.int64 or a.ndim != 1 or len(a) not in (0, len(images)):
            raise ValueError(f"ImageSamples.{name} {a.dtype} {a.shape}: expected int64 (N,) or empty")
    if s.columns < 0 or s.label_kind not in ("", "class", "code"):
        raise ValueError(f"ImageSamples columns {s.columns}, label_kind {s.label_kind[:20]!r}")


def _check_toy(s: ToySamples) -> None:
    for name in ("real", "fake", "modes"):
        a = getattr(s, name)
        if a.dtype != np.float32 or a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"ToySamples.{name} {a.dtype} {a.shape}: expected float32 (n, 2)")
    if s.d_surface.dtype != np.float32 or s.d_surface.ndim != 2:
        raise ValueError(f"ToySamples.d_surface {s.d_surface.dtype} {s.d_surface.shape}")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_command(c: Command) -> None:
    """No command carries a non-finite number, and a name that becomes a file name is a plain name."""
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} = {value}: not a finite number")
    if isinstance(c, (SaveCheckpoint, SavePreset)):
        name = c.tag if isinstance(c, SaveCheckpoint) else c.name
        if not _PLAIN_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"{name[:40]!r}: not a plain name (letters, digits, '_', '.', '-')")


_CHECKS: dict[type, Callable[[Any], None]] = {
    MetricsBatch: _check_metrics, ComparedRows: _check_metrics, ImageSamples: _check_images,
    ToySamples: _check_toy,
    **{cls: _check_command for cls in COMMANDS.values()}}


# ------------------------------------------------------------------------------------ frames
_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_envelope = msgspec.msgpack.Decoder(tuple[int, str, msgspec.Raw])
_decoders: dict[type, msgspec.msgpack.Decoder] = {}


def encode(message: Any) -> bytes:
    """One whole frame (header included) for a command, an event or a control message."""
    kind = type(message).__name__
    if _ALL.get(kind) is not type(message):
        raise TypeError(f"{kind} is not a message of the protocol")
    buf = bytearray(HEADER.size)
    _encoder.encode_into((PROTOCOL_VERSION, kind, message), buf, HEADER.size)
    HEADER.pack_into(buf, 0, len(buf) - HEADER.size)
    return bytes(buf)


def check_length(header: bytes, limit: int) -> int:
    """The body length a frame header announces; FrameTooLarge past ``limit``, DecodeError for 0."""
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameTooLarge(f"a frame of {length:,} bytes (the limit is {limit:,})")
    if length == 0:
        raise DecodeError("an empty frame")
    return length


def decode(body: bytes, accepted: Mapping[str, type]) -> Any:
    """The message in a frame body (without its header), if it is one of ``accepted``."""
    try:
        version, kind, fields = _envelope.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"not a gantui frame ({exc})") from None
    if version != PROTOCOL_VERSION:
        raise DecodeError(f"protocol version {version} (this side speaks {PROTOCOL_VERSION})")
    cls = accepted.get(kind)
    if cls is None:
        raise DecodeError(f"unexpected message kind {kind[:40]!r}")
    decoder = _decoders.get(cls)
    if decoder is None:
        decoder = _decoders[cls] = msgspec.msgpack.Decoder(cls, dec_hook=_dec_hook)
    try:
        message = decoder.decode(fields)
        if (check := _CHECKS.get(cls)) is not None:
            check(message)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
        raise DecodeError(f"bad {kind}: {exc}") from None
    return message
