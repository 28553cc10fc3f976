"""The run's socket under random and mutated frames (hypothesis): every connection ends cleanly, only
valid commands reach the runner, and a well-behaved viewer is served as before afterwards."""

from __future__ import annotations

import dataclasses
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gantui.protocol import Command, SetK, SetLR, Step, Stop, ToggleFreeze
from gantui.remote import codec
from gantui.remote.client import RemoteController, Target
from tests.fakes import metrics_batch
from tests.remote_helpers import FakeRunner, RawClient, hello, private_dir, serving

VALID = [hello(), codec.encode(SetK(3)), codec.encode(SetLR("d", 1e-3)), codec.encode(ToggleFreeze("g")),
         codec.encode(Step("d")), codec.encode(Stop(save=False)), codec.encode(metrics_batch(0, 2))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A plausible conversation (a hello, some frames) with bytes flipped, cut, inserted or re-sized."""
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=5))))
    if draw(st.booleans()):
        data[:0] = hello()
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(("flip", "cut", "insert", "length")))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif len(data) >= 4:
            data[0:4] = draw(st.integers(0, (1 << 32) - 1)).to_bytes(4, "big")
    return bytes(data)


def send_and_hang_up(path: str, data: bytes) -> None:
    raw = RawClient(path, timeout=10.0)
    try:
        raw.send(data)
        raw.sock.shutdown(socket.SHUT_WR)
        raw.messages_until_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the run closed the connection before reading everything: that is its right
    except codec.DecodeError as exc:  # the run itself must only ever send valid frames
        raise AssertionError(f"the run sent a bad frame: {exc}") from exc
    finally:
        raw.close()


def test_the_socket_survives_random_and_mutated_frames() -> None:
    runner = FakeRunner()
    with private_dir() as runtime, serving(runner, runtime) as server:
        server.publish(metrics_batch(20, 50))
        path = server.info.socket

        garbage_after_hello = st.binary(max_size=64).map(lambda b: hello() + b)

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.one_of(mutated(), st.binary(max_size=3000), garbage_after_hello))
        def one_connection(data: bytes) -> None:
            send_and_hang_up(path, data)

        one_connection()
        for command, origin in runner.received:  # what got through was a real, well-typed command
            assert isinstance(command, Command) and origin.startswith("viewer ")
            for field in dataclasses.fields(command):
                assert isinstance(getattr(command, field.name), (str, int, float, bool))
        received = len(runner.received)
        controller = RemoteController(Target(socket=path))
        seen = []
        controller.start(seen.append)
        assert controller.history_done.wait(10.0)
        controller.send(SetK(2))
        assert runner.wait_for(received + 1)[-1][0] == SetK(2)
        controller.detach()
        assert controller.join(5.0)
        server.sync()
        assert server.connections == 0 and not server.viewers
