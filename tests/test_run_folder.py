"""The run folder is owned and always consistent (issue 10): one writer, whole lines, checkpoints chosen
and pruned by step, no orphans, and writes that fail lose nothing."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from gantui.engine import checkpoint as ckpt
from gantui.engine.jsonlog import JsonLog, read_log
from gantui.engine.runfolder import KEEP_PERIODIC, RunFolder, RunFolderError
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import (
    Finished,
    HistoryReset,
    MetricsBatch,
    Pause,
    Rollback,
    SaveCheckpoint,
    StateChanged,
    Stop,
    TogglePause,
)
from tests.engine_helpers import Events, smoke_config


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------- the lock
def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = RunFolder(tmp_path / "r", smoke_config())
    with pytest.raises(RunFolderError, match=rf"in use by gantui pid {os.getpid()}"):
        RunFolder(tmp_path / "r", smoke_config(), mode="resume", resume_step=0)
    first.close()
    RunFolder(tmp_path / "r", smoke_config(), mode="resume", resume_step=0).close()  # free again


def test_a_new_run_does_not_reuse_a_folder_holding_one_unless_asked(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "r", smoke_config())
    folder.append_metrics([{"step": 5, "loss_d": 1.0}])
    folder.close()
    with pytest.raises(RunFolderError, match=r"already holds a run: continue it with --resume"):
        RunFolder(tmp_path / "r", smoke_config())
    again = RunFolder(tmp_path / "r", smoke_config(), mode="overwrite")
    assert not again.metrics_path.exists()
    again.close()


def test_orphan_temporary_files_are_removed_under_the_lock(tmp_path: Path) -> None:
    (tmp_path / "r" / "checkpoints").mkdir(parents=True)
    orphan = tmp_path / "r" / "checkpoints" / ".periodic-0000025.pt.abc123.tmp"
    orphan.write_bytes(b"x" * 1000)
    folder = RunFolder(tmp_path / "r", smoke_config(), mode="overwrite")
    assert not orphan.exists() and folder.orphans_removed == 1
    folder.close()


# ------------------------------------------------------------------------ checkpoint files
def make_checkpoints(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_pruning_keeps_the_newest_periodic_checkpoints_by_step(tmp_path: Path) -> None:
    """Sorted as text, periodic-10000000 came before periodic-9999999 and was deleted."""
    folder = RunFolder(tmp_path / "r", smoke_config())
    steps = [9_999_997, 9_999_998, 9_999_999, 10_000_000, 10_000_001]
    make_checkpoints(folder.path / "checkpoints", [ckpt.checkpoint_name("periodic", s) for s in steps])
    folder.prune_periodic()
    assert [f.step for f in folder.checkpoints()] == steps[-KEEP_PERIODIC:]
    folder.close()


def test_the_newest_checkpoint_is_chosen_by_step_not_by_modification_time(tmp_path: Path) -> None:
    checkpoints = tmp_path / "r" / "checkpoints"
    make_checkpoints(checkpoints, ["periodic-0000025.pt", "final-0000050.pt", "last-good-0000050.pt"])
    os.utime(checkpoints / "periodic-0000025.pt", (2e9, 2e9))  # 'touch': the newest file by far
    assert ckpt.find_latest(tmp_path / "r").name == "final-0000050.pt"
    assert ckpt.find_latest(checkpoints).name == "final-0000050.pt"  # RUN/checkpoints works too


# ---------------------------------------------------------------------------- whole lines


def test_a_write_that_fails_half_way_leaves_no_torn_line(tmp_path: Path, monkeypatch) -> None:
    log = JsonLog(tmp_path / "m.jsonl", numeric=True)
    log.append([{"step": 1, "loss_d": 1.0}])
    real_open = open

    def half_writing_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        if "a" in mode:
            write = f.write

            def half(data):
                write(data[: len(data) // 2])
                f.flush()
                raise OSError(errno.ENOSPC, "No space left on device")

            f.write = half
        return f

    monkeypatch.setattr("builtins.open", half_writing_open)
    with pytest.raises(OSError):
        log.append([{"step": 2, "loss_d": 2.0}, {"step": 3, "loss_d": 3.0}])
    monkeypatch.undo()
    assert (tmp_path / "m.jsonl").read_text() == '{"step":1,"loss_d":1.0}\n'
    log.append([{"step": 2, "loss_d": 2.0}])
    assert [r["step"] for r in lines(tmp_path / "m.jsonl")] == [1, 2]


def test_a_torn_tail_is_repaired_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"step":1}\n{"step":2,"los')  # a crash mid-append
    JsonLog(path, numeric=True).append([{"step": 3}])
    assert path.read_text() == '{"step":1}\n{"step":3}\n'


def test_readers_skip_and_count_unusable_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"step":1,"loss_d":0.5}\n{"loss_d":1}\n{"step":"x"}\n[1,2]\nnot json\n'
        '{"step":2,"loss_d":"nan?","k":true,"loss":"hinge"}\n{"step":3.5}\n{"step":-1}\n'
    )
    read = read_log(path, numeric=True)
    assert [r["step"] for r in read.rows] == [1, 2] and read.skipped == 6
    assert read.rows[1] == {"step": 2, "loss_d": "nan?", "loss": "hinge"}  # strings kept, a bool dropped


# ----------------------------------------------------------------------- failing writes
def start(cfg, run_dir: Path, *, headless: bool = False) -> tuple[Runner, Events]:
    runner = Runner(Session.create(cfg, run_dir=run_dir), exit_when_done=headless)
    events = Events()
    runner.start(events)
    return runner, events


def stop(runner: Runner) -> None:
    runner.send(Stop(save=False))
    assert runner.join(30)


def test_a_failing_write_pauses_loses_no_row_and_resumes_by_itself(tmp_path: Path, monkeypatch) -> None:
    """Issue 10.5: every write failure pauses with a message, loses no metric row, leaves no torn line,
    and training resumes by itself once writing works (here: the run folder was deleted, then back)."""
    from gantui.engine import recorder

    monkeypatch.setattr(recorder, "BACKOFF_S", (0.05,))
    runner, events = start(
        smoke_config("train.steps=0", "log.checkpoint_every=0", "log.png_every=0"), tmp_path / "r"
    )
    try:
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 20)
        broken = {"on": True}
        real = runner.folder.append_metrics

        def full_disk(rows):
            if broken["on"]:
                raise OSError(errno.ENOSPC, "No space left on device", str(runner.folder.metrics_path))
            real(rows)

        monkeypatch.setattr(runner.folder, "append_metrics", full_disk)
        paused = events.wait_for(lambda e: isinstance(e, StateChanged) and "not writable" in e.reason)
        assert paused.state.status == "paused"
        warning = events.wait_for(lambda e: "No space left on device" in getattr(e, "message", ""))
        assert "resumes by itself" in warning.message
        broken["on"] = False
        mark = len(events)
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason.startswith("resumed"), after=mark)
        events.wait_for(
            lambda e: isinstance(e, MetricsBatch) and e.column("step").max() > paused.state.step + 20,
            after=mark,
        )
    finally:
        stop(runner)
    sent = sorted({int(s) for e in events.of(MetricsBatch) for s in e.column("step")})
    written = [r["step"] for r in lines(tmp_path / "r" / "metrics.jsonl")]
    assert written == sent, "every row the dashboard saw is in metrics.jsonl, once, in order"


def test_headless_gives_up_on_a_folder_that_stays_unwritable_and_rescues_the_state(
    tmp_path: Path, monkeypatch
) -> None:
    from gantui.engine import recorder

    monkeypatch.setattr(recorder, "BACKOFF_S", (0.05,))
    monkeypatch.setattr("gantui.engine.keeper.rescue_dirs", lambda run: [tmp_path / "rescue"])
    cfg = smoke_config("train.steps=100000", "log.write_retry_s=1", "log.checkpoint_every=0")
    runner, events = start(cfg, tmp_path / "r", headless=True)
    events.wait_for(lambda e: isinstance(e, MetricsBatch))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(runner.folder, "append_metrics", read_only)
    monkeypatch.setattr(runner.folder, "append_events", read_only)
    real_save = ckpt.save

    def save_only_elsewhere(path, state):
        return read_only() if "rescue" not in str(path) else real_save(path, state)

    monkeypatch.setattr(ckpt, "save", save_only_elsewhere)
    finished = events.wait_for(lambda e: isinstance(e, Finished), timeout=60)
    assert runner.join(30)
    assert finished.reason == "write-failed" and finished.extra["rescued"]
    assert Path(finished.checkpoint).parent == tmp_path / "rescue" and Path(finished.checkpoint).is_file()


# ------------------------------------------------------------------------------ rollback
def test_rollback_leaves_only_the_branch_being_trained(tmp_path: Path) -> None:
    """Issue 10.8: after u, metrics.jsonl kept the discarded rows and then went backwards."""
    runner, events = start(smoke_config("train.steps=0", "log.checkpoint_every=0"), tmp_path / "r")
    try:
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 30)
        runner.send(SaveCheckpoint())
        saved = events.wait_for(lambda e: getattr(e, "kind", "") == "checkpoint")
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= saved.step + 50)
        runner.send(Pause())
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.state.status == "paused")
        mark = len(events)
        runner.send(Rollback())
        reset = events.wait_for(lambda e: isinstance(e, HistoryReset), after=mark)
        at = events.items.index(reset)
        replayed = events.wait_for(lambda e: isinstance(e, MetricsBatch), after=at)
        assert reset.step == saved.step and replayed.column("step").max() <= saved.step
        events.wait_for(
            lambda e: isinstance(e, StateChanged) and e.reason.startswith("rolled back"), after=mark
        )
        runner.send(TogglePause())
        events.wait_for(
            lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= saved.step + 20, after=mark
        )
    finally:
        stop(runner)
    steps = [r["step"] for r in lines(tmp_path / "r" / "metrics.jsonl")]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    events = lines(tmp_path / "r" / "events.jsonl")
    assert [e["step"] for e in events] == sorted(e["step"] for e in events), (
        "no event of the abandoned branch"
    )
    assert any(e["kind"] == "rollback" for e in events)
