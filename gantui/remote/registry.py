"""Which runs are live: ``attach.json`` in each run folder, an entry per run in the runtime directory.

A serving run writes ``RUN_DIR/attach.json`` (0600, atomic: host, pid, socket, TCP address and key if
any) and ``<runtime>/<run_id>.json`` (the same, without the key). An entry whose process is gone
(its pid dead, or reused by another process: the process start time is recorded and compared), or
whose socket has vanished, is stale: listing removes it with its socket and history cache, and it
is never shown as live.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec
import psutil

from gantui.atomic import atomic_write_text
from gantui.remote.auth import load_key, parse_key
from gantui.remote.client import Target, query_status
from gantui.remote.messages import RunInfo, RunStatus
from gantui.remote.paths import RUN_ID, RemoteError, parse_hostport, runtime_dir
from gantui.text import printable

__all__ = [
    "ATTACH_FILE",
    "LiveRun",
    "check_run_folder_free",
    "live_runs",
    "process_start_time",
    "remove_run_files",
    "resolve_target",
    "write_attach_file",
    "write_entry",
]

ATTACH_FILE = "attach.json"
_SUFFIXES = (".json", ".sock", ".rows")


class _Entry(msgspec.Struct):
    run: RunInfo
    create_time: float  # the process's start time: a reused pid is not the run
    key: str = ""


@dataclass(frozen=True)
class LiveRun:
    info: RunInfo
    status: RunStatus | None  # None: alive but not answering (busy, or stuck)

    @property
    def target(self) -> Target:
        return Target(socket=self.info.socket, label=self.info.run_dir or self.info.socket)


def process_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def _alive(pid: int, create_time: float) -> bool:
    started = process_start_time(pid)
    return started is not None and abs(started - create_time) < 1.0


def _json(entry: _Entry) -> str:
    return json.dumps({"version": 1, "run": asdict(entry.run), "create_time": entry.create_time,
                       **({"key": entry.key} if entry.key else {})}, indent=1) + "\n"


def write_attach_file(run_dir: Path, info: RunInfo, *, key: str = "") -> Path:
    """``RUN_DIR/attach.json``, 0600 (atomic_write_text's temporary file is created 0600)."""
    path = Path(run_dir) / ATTACH_FILE
    atomic_write_text(path, _json(_Entry(info, process_start_time(info.pid) or 0.0, key)))
    os.chmod(path, 0o600)
    return path


def write_entry(directory: Path, info: RunInfo) -> Path:
    path = Path(directory) / f"{info.run_id}.json"
    atomic_write_text(path, _json(_Entry(info, process_start_time(info.pid) or 0.0)))
    return path


def remove_run_files(directory: Path, run_id: str) -> None:
    """A run's entry, socket and history cache (names checked: never a path from a file's contents)."""
    if not RUN_ID.fullmatch(run_id):
        return
    for suffix in _SUFFIXES:
        with contextlib.suppress(OSError):
            (Path(directory) / f"{run_id}{suffix}").unlink()


def _read_entry(path: Path) -> _Entry | None:
    try:
        doc = json.loads(path.read_bytes())
        entry = msgspec.convert(doc, _Entry, strict=True)
    except (OSError, ValueError, msgspec.ValidationError):
        return None
    return entry


def _entries(directory: Path, *, clean: bool) -> list[RunInfo]:
    """This user's live entries; stale ones (and leftovers without an entry) removed when ``clean``."""
    live, seen = [], set()
    for path in sorted(directory.glob("*.json")):
        run_id = path.stem
        if not RUN_ID.fullmatch(run_id):
            continue
        seen.add(run_id)
        entry = _read_entry(path)
        ok = (entry is not None and entry.run.run_id == run_id and _alive(entry.run.pid, entry.create_time)
              and Path(entry.run.socket).exists())
        if ok:
            live.append(entry.run)  # type: ignore[union-attr]
        elif clean:
            remove_run_files(directory, run_id)
    if clean:  # a socket or cache whose entry is gone (a crash between the two removals)
        for path in directory.iterdir():
            if path.suffix in (".sock", ".rows") and RUN_ID.fullmatch(path.stem) and path.stem not in seen:
                pid = int(path.stem.split("-")[0])
                if process_start_time(pid) is None:
                    with contextlib.suppress(OSError):
                        path.unlink()
    return live


def live_runs(directory: Path | None = None, *, status: bool = True, timeout: float = 1.0) -> list[LiveRun]:
    """This user's live runs on this machine, oldest first, each with its status when ``status``."""
    runs = sorted(_entries(directory or runtime_dir(), clean=True), key=lambda r: r.started)
    if not status:
        return [LiveRun(r, None) for r in runs]

    def ask(info: RunInfo) -> LiveRun:
        try:
            return LiveRun(info, query_status(Target(socket=info.socket), timeout=timeout).status)
        except RemoteError:
            return LiveRun(info, None)

    if not runs:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(runs))) as pool:
        return list(pool.map(ask, runs))


def read_attach_file(run_dir: Path) -> tuple[RunInfo, float, str] | None:
    entry = _read_entry(Path(run_dir) / ATTACH_FILE)
    return None if entry is None else (entry.run, entry.create_time, entry.key)


def check_run_folder_free(run_dir: Path) -> None:
    """RemoteError if a live process on this machine already trains in ``run_dir``."""
    found = read_attach_file(run_dir)
    if found is None:
        return
    info, create_time, _key = found
    if info.host == socket.gethostname() and info.pid != os.getpid() and _alive(info.pid, create_time):
        raise RemoteError(f"{printable(run_dir)}: already being trained by pid {info.pid} "
                          f"(gantui attach {printable(run_dir)})")


class AmbiguousRun(RemoteError):
    """Several live runs and no way to choose: the caller lists them (``runs``)."""

    def __init__(self, runs: list[LiveRun]) -> None:
        super().__init__(f"{len(runs)} live runs: say which (a run folder or a pid; see gantui ls)")
        self.runs = runs


def resolve_target(spec: str | None, *, key_file: Path | None = None,
                   directory: Path | None = None) -> Target:
    """What ``gantui attach|stop SPEC`` means: nothing (the only live run), a run folder, a pid,
    or HOST:PORT (with ``key_file``). RemoteError (AmbiguousRun for several) when it names no live run."""
    if spec is None:
        runs = live_runs(directory, status=False)
        if not runs:
            raise RemoteError("no live gantui run of yours on this machine (gantui ls lists them)")
        if len(runs) > 1:
            raise AmbiguousRun(live_runs(directory))
        return runs[0].target
    path = Path(spec)
    if path.is_dir():
        return _run_folder_target(path, key_file)
    if spec.isdigit():
        for run in live_runs(directory, status=False):
            if run.info.pid == int(spec):
                return run.target
        raise RemoteError(f"no live gantui run of yours has pid {spec} (gantui ls lists them)")
    if ":" in spec or key_file is not None:
        try:
            host, port = parse_hostport(spec)
        except ValueError as exc:
            raise RemoteError(str(exc)) from None
        if key_file is None:
            raise RemoteError(f"{printable(spec)}: a TCP address needs --key-file (the run's attach.json)")
        return Target(host=host, port=port, key=load_key(key_file), label=spec)
    raise RemoteError(f"{printable(spec)}: not a run folder, a pid or HOST:PORT")


def has_ended(run_dir: Path) -> bool:
    """No live run serves from ``run_dir``: no attach.json, or its process on this machine is gone. A
    run on another machine is never called ended from here (only that machine can tell)."""
    found = read_attach_file(run_dir)
    if found is None:
        return True
    info, create_time, _key = found
    return info.host == socket.gethostname() and not _alive(info.pid, create_time)


def _run_folder_target(run_dir: Path, key_file: Path | None) -> Target:
    found = read_attach_file(run_dir)
    if found is None:
        raise RemoteError(f"{printable(run_dir)}: no live run there (no {ATTACH_FILE}); "
                          f"gantui view {printable(run_dir)} opens it read-only")
    info, create_time, key = found
    label = info.run_dir or str(run_dir)
    if info.host == socket.gethostname():
        if not _alive(info.pid, create_time):
            raise RemoteError(f"{printable(run_dir)}: the run has ended (pid {info.pid} is gone): "
                              f"gantui view or gantui --resume {printable(run_dir)}")
        return Target(socket=info.socket, label=label)
    if not info.tcp:
        raise RemoteError(f"{printable(run_dir)}: the run trains on {printable(info.host)} without --listen: "
                          "attach there")
    host, port = parse_hostport(info.tcp)
    secret = load_key(key_file) if key_file is not None else parse_key(key)
    if secret is None:
        raise RemoteError(f"{printable(run_dir)}: {ATTACH_FILE} holds no key")
    return Target(host=host, port=port, key=secret, label=label)
