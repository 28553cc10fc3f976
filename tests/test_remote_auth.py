"""Who may connect: only the run's own uid on the socket (tested with a second uid), only the holder
of the key over TCP (and the run proves it holds the key too); the runtime directory is refused
when it is not private."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gantui.protocol import SetK
from gantui.remote import codec
from gantui.remote.auth import load_key, new_key, peer_credentials
from gantui.remote.client import Connection, RemoteController, Target
from gantui.remote.messages import AuthChallenge, AuthProof, Error
from gantui.remote.paths import RemoteError, ensure_private_dir, parse_hostport, runtime_dir, socket_path
from tests.remote_helpers import FakeRunner, RawClient, hello, private_dir, serving

ROOT = os.getuid() == 0


def unused_uid() -> int:
    for uid in range(54321, 54421):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("no unused uid")


def connect_as(uid: int, path: str, data: bytes) -> bytes:
    """Fork a child that drops to ``uid``, connects to ``path``, sends ``data`` and reports what came
    back (b"EACCES" when it could not even reach the socket)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: syscalls only, then _exit (never back into pytest)
        out = b"ERR"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5.0)
            try:
                s.connect(path)
            except PermissionError:
                out = b"EACCES"
            else:
                with contextlib.suppress(OSError):  # the run may have closed the connection already
                    s.sendall(data)
                got = b""
                try:
                    while chunk := s.recv(65536):
                        got += chunk
                except OSError:
                    pass
                out = b"OK" + got
        except BaseException as exc:
            out = b"ERR" + repr(exc).encode()[:300]
        finally:
            os.write(w, out[:60000])
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks)


@pytest.fixture
def runtime() -> Iterator[Path]:
    with private_dir() as path:
        yield path


@pytest.mark.skipif(not ROOT or not hasattr(os, "fork"), reason="needs root to act as a second uid")
def test_another_uid_cannot_reach_the_socket_through_the_private_directory(runtime: Path) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        got = connect_as(unused_uid(), server.info.socket, hello() + codec.encode(SetK(7)))
    assert got == b"EACCES"
    assert runner.received == []


@pytest.mark.skipif(not ROOT or not hasattr(os, "fork"), reason="needs root to act as a second uid")
def test_another_uid_is_refused_by_its_peer_credentials_even_when_it_reaches_the_socket(
        runtime: Path, caplog: pytest.LogCaptureFixture) -> None:
    runner = FakeRunner()
    uid = unused_uid()
    with serving(runner, runtime) as server:
        os.chmod(runtime, 0o711)  # as if the directory were not private: the second lock must hold
        os.chmod(server.info.socket, 0o777)
        got = connect_as(uid, server.info.socket, hello() + codec.encode(SetK(7)))
        os.chmod(runtime, 0o700)
        controller = RemoteController(Target(socket=server.info.socket))  # the owner still gets in
        controller.start(lambda e: None)
        controller.send(SetK(2))
        received = runner.wait_for(1)
        controller.detach()
    assert got.startswith(b"OK"), got
    replies = [codec.decode(got[2 + 4:], codec.SERVER_KINDS)]
    assert isinstance(replies[0], Error) and "only the user who started this run" in replies[0].message
    assert [c for c, _ in received] == [SetK(2)]
    assert f"refused a connection from uid {uid}" in caplog.text


def test_peer_credentials_name_this_process() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        creds = peer_credentials(a)
    assert creds is not None and creds[0] == os.getuid()
    if hasattr(socket, "SO_PEERCRED"):
        assert creds[1] == os.getpid()


# ------------------------------------------------------------------------------------ TCP
def tcp_target(server, key: bytes) -> Target:
    host, port = parse_hostport(server.info.tcp)
    return Target(host=host, port=port, key=key)


def test_tcp_needs_the_key_and_the_key_never_travels(runtime: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runner = FakeRunner()
    with serving(runner, runtime, run_dir=run_dir, listen="127.0.0.1:0") as server:
        attach_file = run_dir / "attach.json"
        assert stat.S_IMODE(attach_file.stat().st_mode) == 0o600
        key = load_key(run_dir)
        assert json.loads(attach_file.read_text())["key"] == key.hex() == server.key
        controller = RemoteController(tcp_target(server, key))
        welcome = controller.connect()
        controller.start(lambda e: None)
        controller.send(SetK(3))
        received = runner.wait_for(1)
        assert controller.connection.bytes_received > 0
        controller.detach()
        with pytest.raises(RemoteError, match="authentication failed"):
            Connection(tcp_target(server, bytes(32))).open()
        with pytest.raises(RemoteError, match="needs its key"):
            Connection(tcp_target(server, None)).open()  # type: ignore[arg-type]
    assert welcome.run.tcp.startswith("127.0.0.1:")
    assert received[0][0] == SetK(3) and received[0][1].startswith("viewer 1 (127.0.0.1:")


def test_nothing_large_is_read_before_authentication(runtime: Path, caplog: pytest.LogCaptureFixture) -> None:
    with serving(FakeRunner(), runtime, listen="127.0.0.1:0") as server:
        host, port = parse_hostport(server.info.tcp)
        with socket.create_connection((host, port), timeout=5.0) as s:
            first = s.recv(4096)
            s.sendall((10 << 20).to_bytes(4, "big"))  # announces 10 MiB
            rest = b""
            while chunk := s.recv(4096):
                rest += chunk
    assert isinstance(codec.decode(first[4:], codec.SERVER_KINDS), AuthChallenge)
    assert isinstance(codec.decode(rest[4:], codec.SERVER_KINDS), Error)
    assert "the limit is 1,024" in caplog.text


def test_a_server_that_cannot_prove_it_holds_the_key_is_refused() -> None:
    """An impostor at the run's address (it knows the protocol, not the key) gets no commands."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def impostor() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(codec.encode(AuthChallenge(nonce=os.urandom(32))))
            conn.recv(4096)
            conn.sendall(codec.encode(AuthProof(mac=os.urandom(32))))
            conn.recv(4096)

    thread = threading.Thread(target=impostor)
    thread.start()
    try:
        with pytest.raises(RemoteError, match="could not prove it holds the run's key"):
            Connection(Target(host="127.0.0.1", port=port, key=bytes.fromhex(new_key()))).open()
    finally:
        thread.join(5.0)
        listener.close()


def test_a_taken_port_is_one_line(runtime: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        with (pytest.raises(RemoteError, match=f"--listen 127.0.0.1:{port}: "),
              serving(FakeRunner(), runtime, listen=f"127.0.0.1:{port}")):
            pass
        assert list(runtime.iterdir()) == []  # nothing left behind by the failed start
    finally:
        taken.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("7000", ("127.0.0.1", 7000)), (":7000", ("127.0.0.1", 7000)), ("0.0.0.0:7000", ("0.0.0.0", 7000)),
    ("node12:0", ("node12", 0)), ("[::1]:7000", ("::1", 7000)),
])
def test_listen_addresses_default_to_loopback(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:70000", "host:x", "::1:7000"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_hostport(text)


def test_key_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="cannot read the key file"):
        load_key(tmp_path / "missing.json")
    no_key = tmp_path / "attach.json"
    no_key.write_text('{"run": {}}')
    os.chmod(no_key, 0o600)
    with pytest.raises(RemoteError, match="started with --listen"):
        load_key(no_key)
    loose = tmp_path / "key.txt"
    loose.write_text(new_key())
    os.chmod(loose, 0o644)
    with pytest.raises(RemoteError, match="readable by other users"):
        load_key(loose)
    os.chmod(loose, 0o600)
    assert len(load_key(loose)) == 32


# ------------------------------------------------------------------------------ runtime directory
def test_the_runtime_directory_must_be_private_and_ours(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with pytest.raises(RemoteError, match="mode 755 lets other users in"):
        ensure_private_dir(loose)
    target = tmp_path / "real"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(RemoteError, match="not a directory"):
        ensure_private_dir(link)
    made = ensure_private_dir(tmp_path / "fresh")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    if ROOT:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, unused_uid(), -1)
        with pytest.raises(RemoteError, match="not by you"):
            ensure_private_dir(theirs)


def test_runtime_dir_prefers_xdg_and_falls_back_when_it_is_not_ours(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir() == xdg / "gantui"
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    os.chmod(xdg, 0o755)  # not what the XDG spec promises: not used
    assert runtime_dir() == tmp_path / f"gantui-{os.getuid()}"
    with pytest.raises(RemoteError, match="too long for a Unix socket"):
        socket_path(tmp_path / ("x" * 100), "1-0123abcd")


def test_a_raw_client_that_says_nothing_is_closed_after_the_handshake_timeout(runtime: Path) -> None:
    from gantui.remote.server import Limits

    with serving(FakeRunner(), runtime, limits=Limits(handshake_s=0.2)) as server:
        raw = RawClient(server.info.socket)
        assert raw.messages_until_closed() == []  # closed by the run, not by this test's timeout
        raw.close()
