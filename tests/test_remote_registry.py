"""The registry of live runs: entries appear while a run serves, stale ones (dead pid, reused pid,
leftover socket, garbage) are removed and never listed, and a run folder names its live run."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gantui.protocol import StateChanged
from gantui.remote.messages import RunInfo
from gantui.remote.paths import RemoteError
from gantui.remote.registry import (
    AmbiguousRun,
    check_run_folder_free,
    has_ended,
    live_runs,
    resolve_target,
    write_attach_file,
    write_entry,
)
from tests.fakes import metrics_batch, run_state
from tests.remote_helpers import FakeRunner, private_dir, serving


@pytest.fixture
def runtime() -> Iterator[Path]:
    with private_dir() as path:
        yield path


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True, timeout=30)
    return int(done.stdout)


def info(pid: int, directory: Path, run_id: str, run_dir: str = "") -> RunInfo:
    return RunInfo(run_id=run_id, run_dir=run_dir, preset="ring8", host=socket.gethostname(), pid=pid,
                   started=1.0, socket=str(directory / f"{run_id}.sock"))


def test_a_serving_run_is_listed_with_its_live_status(runtime: Path, tmp_path: Path) -> None:
    with serving(FakeRunner(), runtime, run_dir=tmp_path, preset="grid25") as server:
        server.publish(StateChanged(state=run_state(step=100)))
        server.publish(metrics_batch(120, 4))
        server.sync()
        runs = live_runs(runtime)
    assert len(runs) == 1
    run = runs[0]
    expected = (str(tmp_path.resolve()), "grid25", os.getpid())
    assert (run.info.run_dir, run.info.preset, run.info.pid) == expected
    assert (run.status.status, run.status.step, run.status.steps_per_sec, run.status.viewers) == (
        "running", 180, 100.0, 0)
    assert run.status.uptime >= 0
    assert live_runs(runtime) == []  # closed: gone


def test_stale_entries_are_removed_and_never_listed(runtime: Path) -> None:
    gone = dead_pid()
    stale = info(gone, runtime, f"{gone}-0000aaaa")
    write_entry(runtime, stale)
    Path(stale.socket).touch()  # the socket a crashed run left
    (runtime / f"{gone}-0000aaaa.rows").write_bytes(b"\x00" * 160)
    reused = info(os.getpid(), runtime, f"{os.getpid()}-0000bbbb")  # our pid, but not our start time
    write_entry(runtime, reused)
    doc = json.loads((runtime / f"{reused.run_id}.json").read_text())
    doc["create_time"] = 12345.0
    (runtime / f"{reused.run_id}.json").write_text(json.dumps(doc))
    Path(reused.socket).touch()
    (runtime / "99-0000cccc.json").write_text("{not json")
    orphan = runtime / f"{gone}-0000dddd.sock"  # a socket whose entry is already gone
    orphan.touch()
    (runtime / "notes.txt").write_text("not ours to remove")
    assert live_runs(runtime) == []
    assert sorted(p.name for p in runtime.iterdir()) == ["notes.txt"]


def test_an_entry_without_its_socket_is_stale(runtime: Path) -> None:
    write_entry(runtime, info(os.getpid(), runtime, f"{os.getpid()}-0000eeee"))
    assert live_runs(runtime, status=False) == []


def test_a_run_folder_names_its_live_run_and_refuses_a_second_trainer(runtime: Path, tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = tmp_path / "run"
        folder.mkdir()
        entry = info(other.pid, runtime, f"{other.pid}-0000ffff", str(folder))
        write_attach_file(folder, entry)
        assert (folder / "attach.json").stat().st_mode & 0o777 == 0o600
        with pytest.raises(RemoteError, match=f"already being trained by pid {other.pid}"):
            check_run_folder_free(folder)
        assert not has_ended(folder)
    finally:
        other.kill()
        other.wait(10)
    check_run_folder_free(folder)  # the process is gone: the folder is free
    assert has_ended(folder)  # and gantui attach offers to resume it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_attach_file(elsewhere, dataclasses.replace(entry, host="node-that-is-not-this-one"))
    assert not has_ended(elsewhere)  # only that machine can tell
    with pytest.raises(RemoteError, match=f"the run has ended \\(pid {other.pid} is gone\\)"):
        resolve_target(str(folder), directory=runtime)


def test_targets_from_what_the_user_typed(runtime: Path, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="no live gantui run of yours"):
        resolve_target(None, directory=runtime)
    (tmp_path / "a").mkdir()
    with serving(FakeRunner(), runtime, run_dir=tmp_path / "a") as first:
        assert resolve_target(None, directory=runtime).socket == first.info.socket
        assert resolve_target(str(tmp_path / "a"), directory=runtime).socket == first.info.socket
        assert resolve_target(str(os.getpid()), directory=runtime).socket == first.info.socket
        with serving(FakeRunner(), runtime) as second:
            with pytest.raises(AmbiguousRun) as many:
                resolve_target(None, directory=runtime)
            assert {r.info.socket for r in many.value.runs} == {first.info.socket, second.info.socket}
    with pytest.raises(RemoteError, match="needs --key-file"):
        resolve_target("node3:7000", directory=runtime)
    with pytest.raises(RemoteError, match="no live gantui run of yours has pid 1"):
        resolve_target("1", directory=runtime)
    with pytest.raises(RemoteError, match="not a run folder, a pid or HOST:PORT"):
        resolve_target("no-such-thing", directory=runtime)
    with pytest.raises(RemoteError, match="no live run there"):
        resolve_target(str(tmp_path), directory=runtime)
