"""The wire format: every command, event and control message survives a round trip; nothing else
decodes, and a bad frame is always a DecodeError (never another exception, never a pickle)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import typing

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gantui.protocol import (
    Alert,
    Command,
    ComparedRows,
    Finished,
    HostStats,
    ImageSamples,
    MetricsBatch,
    SetLR,
    StateChanged,
    ToySamples,
    frozen_array,
)
from gantui.remote import codec, messages
from tests.fakes import image_samples, metrics_batch, run_state, toy_samples

ALL_KINDS = {**codec.COMMANDS, **codec.EVENTS, **codec.CONTROLS}
BOTH = {**codec.CLIENT_KINDS, **codec.SERVER_KINDS}

# Events with arrays need shapes that mean something; every other kind is built from its field types.
ARRAY_EXAMPLES = {
    "MetricsBatch": metrics_batch(20, 7),
    "ComparedRows": ComparedRows(index=1, label="B", this="A", columns=metrics_batch(20, 7).columns,
                                 values=metrics_batch(20, 7).values),
    "ImageSamples": image_samples(),
    "ToySamples": toy_samples(),
}


def _value(hint: object, name: str) -> object:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return True
    if hint is int:
        return 7
    if hint is float:
        return 0.25
    if hint is str:
        return f"{name} ✓"
    if hint is bytes:
        return b"\x00\xffnonce"
    if origin is typing.Literal:
        return args[-1]
    if origin is tuple:
        return ("a", "b") if args[-1] is Ellipsis else tuple(_value(a, name) for a in args)
    if origin is dict or hint is dict:
        return {"fid": 12.5} if not args else {"hinge": "relu margins"}
    if dataclasses.is_dataclass(hint):
        return _example(hint)
    raise AssertionError(f"no example value for {hint!r} ({name})")


def _example(cls: type) -> object:
    if cls.__name__ in ARRAY_EXAMPLES:
        return ARRAY_EXAMPLES[cls.__name__]
    if cls is messages.RunStatus:
        return messages.RunStatus(status="running", step=3, steps_per_sec=math.nan, viewers=1, uptime=2.0)
    hints = typing.get_type_hints(cls)
    fields = {f.name: _value(hints[f.name], f.name) for f in dataclasses.fields(cls)}
    if issubclass(cls, Command):  # a command's names become file names: plain ones (see the codec)
        fields = {k: k if hints[k] is str else v for k, v in fields.items()}
    return cls(**fields)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if not (x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)):
                return False
        elif dataclasses.is_dataclass(x):
            if not _same(x, y):
                return False
        elif isinstance(x, float) and math.isnan(x):
            if not (isinstance(y, float) and math.isnan(y)):
                return False
        elif x != y:
            return False
    return True


def roundtrip(message: object) -> object:
    frame = codec.encode(message)
    length = codec.check_length(frame[:4], codec.MAX_FRAME)
    assert length == len(frame) - 4
    return codec.decode(frame[4:], BOTH)


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_every_message_kind_round_trips(kind: str) -> None:
    message = _example(ALL_KINDS[kind])
    back = roundtrip(message)
    assert _same(message, back), (message, back)


def test_the_kinds_are_discovered_from_the_protocol() -> None:
    """A new event or command is carried without touching the codec: it is found by its base class."""
    commands = {"SetK", "ChangeK", "TogglePause", "ScaleLR", "ToggleFreeze", "Evaluate", "Stop"}
    events = {"MetricsBatch", "Alert", "HostStats", "Progress", "HistoryReset", "PresetSaved"}
    assert commands <= set(codec.COMMANDS) and events <= set(codec.EVENTS)
    assert not set(codec.CLIENT_KINDS) & set(codec.EVENTS)  # a run never accepts an event
    assert not set(codec.SERVER_KINDS) & set(codec.COMMANDS)  # a viewer never accepts a command


def test_decoded_arrays_are_read_only_and_exact() -> None:
    batch = metrics_batch(0, 50)
    back = roundtrip(batch)
    assert not back.values.flags.writeable
    assert back.values.dtype == np.float64 and np.array_equal(back.values, batch.values, equal_nan=True)
    state = roundtrip(StateChanged(state=run_state(k=5, lr_d=3e-4)))
    assert state.state.k == 5 and state.state.lr_d == 3e-4
    assert roundtrip(Finished(step=9, reason="steps", extra={"fid": [1.5, 2]})).extra == {"fid": [1.5, 2]}
    host = HostStats(step=1, t=0.5, cpu_percent=90.0, rss_bytes=10, device="cpu")
    assert math.isnan(roundtrip(host).utilization)


def _body(kind: str, fields: object, version: int = codec.PROTOCOL_VERSION) -> bytes:
    return msgspec.msgpack.encode([version, kind, fields])


@pytest.mark.parametrize(("body", "why"), [
    (_body("SetK", {"k": True}), "Expected `int`, got `bool`"),
    (_body("SetK", {"k": 2.0}), "Expected `int`"),
    (_body("SetK", {}), "missing required field"),
    (_body("SetLR", {"player": "x", "lr": 1.0}), "Invalid enum value 'x'"),
    (_body("SetK", {"k": 2}, version=99), "protocol version 99"),
    (_body("ScaleLR", {"player": "d", "factor": float("inf")}), "factor = inf: not a finite number"),
    (_body("SetLR", {"player": "g", "lr": float("nan")}), "lr = nan"),
    (_body("SaveCheckpoint", {"tag": "../../etc/x"}), "not a plain name"),
    (_body("SavePreset", {"name": "a/b"}), "not a plain name"),
    (_body("Shutdown", {}), "unexpected message kind"),
    (_body("MetricsBatch", {}), "unexpected message kind"),  # an event sent to the run
    (b"\x93\x01", "not a gantui frame"),
    (b"\xc1garbage", "not a gantui frame"),
    (msgspec.msgpack.encode({"pickle": b"\x80\x04cos\nsystem\n"}), "not a gantui frame"),
])
def test_a_run_refuses_what_is_not_a_valid_command(body: bytes, why: str) -> None:
    with pytest.raises(codec.DecodeError, match=why):
        codec.decode(body, codec.CLIENT_KINDS)


def _array(dtype: str, shape: list[int], data: bytes) -> dict:
    return {"dtype": dtype, "shape": shape, "data": data}


@pytest.mark.parametrize(("values", "why"), [
    (_array("|O", [1, 1], b"\x00" * 8), "dtype '|O' is not allowed"),  # object arrays would mean pickle
    (_array(">f8", [1, 1], b"\x00" * 8), "dtype '>f8' is not allowed"),
    (_array("<f8", [2, 2], b"\x00" * 8), "with 8 bytes"),
    (_array("<f8", [1, 1, 1, 1, 1], b"\x00" * 8), "shape"),
    (_array("<f8", [-1, 1], b""), "shape"),
    (_array("<f8", [1 << 30, 1 << 10], b""), "with 0 bytes"),
    (_array("<f4", [1, 2], b"\x00" * 8), "MetricsBatch values float32"),
    (_array("<f8", [1, 3], b"\x00" * 24), "for 2 columns"),
    ({"dtype": "<f8", "shape": [1, 2], "data": b"\x00" * 16, "extra": 1}, "unknown field"),
])
def test_arrays_are_whitelisted_and_sized(values: dict, why: str) -> None:
    with pytest.raises(codec.DecodeError, match=why):
        codec.decode(_body("MetricsBatch", {"columns": ["step", "t"], "values": values}), codec.SERVER_KINDS)


def test_samples_arrays_must_have_the_shapes_the_ui_draws() -> None:
    image = image_samples()
    bad = ImageSamples(step=1, fake=frozen_array(image.fake[..., 0]), real=image.real)  # no channel axis
    with pytest.raises(codec.DecodeError, match=r"ImageSamples\.fake"):
        codec.decode(codec.encode(bad)[4:], codec.SERVER_KINDS)
    toy = toy_samples()
    bad_toy = dataclasses.replace(toy, fake=frozen_array(toy.fake.astype(np.float64)))
    with pytest.raises(codec.DecodeError, match=r"ToySamples\.fake"):
        codec.decode(codec.encode(bad_toy)[4:], codec.SERVER_KINDS)


def test_a_conditional_grid_travels_and_its_labels_are_checked() -> None:
    image = image_samples(n=4)
    grid = dataclasses.replace(image, labels=frozen_array(np.array([0, 0, 1, 1])), label_names=("0", "1"),
                               label_kind="class", columns=2, sweeps=(), scores=(("label_accuracy", 0.5),),
                               real_labels=frozen_array(np.array([0, 0, 1, 1])))
    back = codec.decode(codec.encode(grid)[4:], codec.SERVER_KINDS)
    assert back.labels.tolist() == [0, 0, 1, 1] and back.label_names == ("0", "1") and back.columns == 2
    assert back.scores == (("label_accuracy", 0.5),)
    short = dataclasses.replace(grid, labels=frozen_array(np.array([0, 1])))  # labels for 2 of 4 images
    with pytest.raises(codec.DecodeError, match=r"ImageSamples\.labels"):
        codec.decode(codec.encode(short)[4:], codec.SERVER_KINDS)


def test_frame_lengths_are_checked_before_anything_is_read() -> None:
    with pytest.raises(codec.FrameTooLarge, match=r"the limit is 65,536"):
        codec.check_length((1 << 20).to_bytes(4, "big"), 65536)
    with pytest.raises(codec.DecodeError, match="empty"):
        codec.check_length(b"\x00\x00\x00\x00", 65536)


def test_only_protocol_messages_can_be_encoded() -> None:
    @dataclasses.dataclass(frozen=True)
    class SetK2:  # not the protocol's, even with a protocol-like name
        k: int

    with pytest.raises(TypeError):
        codec.encode(SetK2(1))
    with pytest.raises(TypeError):
        codec.encode(Alert(step=1, t=0.0, rule="r", title="t", message=object()))  # type: ignore[arg-type]
    assert isinstance(roundtrip(SetLR(player="g", lr=2)).lr, float)  # an int is a fine float


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_decode_error(body: bytes) -> None:
    for accepted in (codec.CLIENT_KINDS, codec.SERVER_KINDS):
        with contextlib.suppress(codec.DecodeError):
            codec.decode(body, accepted)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ALL_KINDS)), st.data())
def test_mutated_frames_never_raise_anything_but_decode_error(kind: str, data: st.DataObject) -> None:
    body = bytearray(codec.encode(_example(ALL_KINDS[kind]))[4:])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(body)))
    for accepted in (codec.CLIENT_KINDS, codec.SERVER_KINDS):
        try:
            message = codec.decode(bytes(body[:cut]), accepted)
        except codec.DecodeError:
            continue
        assert type(message).__name__ in accepted
        if isinstance(message, MetricsBatch):  # what decodes is still what the UI can use
            assert message.values.ndim == 2 and message.values.shape[1] == len(message.columns)
        if isinstance(message, (ToySamples, ImageSamples)):
            assert message.fake.ndim in (2, 4)

