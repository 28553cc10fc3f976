"""The run's server against a fake runner, over real Unix sockets: history without gap or repeat,
commands with the viewer's name, bad input closing one connection only, and bounded viewer queues."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gantui.protocol import (
    Finished,
    HistoryReset,
    Intervention,
    MetricsBatch,
    Notice,
    SetK,
    StateChanged,
    ToggleFreeze,
    frozen_array,
)
from gantui.remote import codec
from gantui.remote.client import RemoteController, Target, query_status
from gantui.remote.messages import Bye, Error, HistoryEnd, Welcome
from gantui.remote.outbox import Outbox
from gantui.remote.server import Limits
from tests.engine_helpers import Events
from tests.fakes import image_samples, metrics_batch, run_state, toy_samples
from tests.remote_helpers import FakeRunner, RawClient, hello, private_dir, serving


@pytest.fixture
def runtime() -> Iterator[Path]:
    with private_dir() as path:
        yield path


def steps_of(events: Events) -> np.ndarray:
    batches = events.of(MetricsBatch)
    return np.concatenate([b.column("step") for b in batches]) if batches else np.zeros(0)


def attach(server) -> tuple[RemoteController, Events]:
    controller = RemoteController(Target(socket=server.info.socket))
    events = Events()
    controller.start(events)
    assert controller.history_done.wait(10.0)
    return controller, events


def write_run_folder(path: Path, last_step: int) -> None:
    """What an earlier process of a resumed run left: rows every 20 steps, one viewer's k, a checkpoint."""
    path.mkdir()
    rows = [{"step": s, "t": s / 100, "k": 1, "d_real": 0.6, "loss_d": 1.2}
            for s in range(20, last_step + 1, 20)]
    torn = '{"step": 99'  # a line still being written
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + torn)
    records = [{"step": 400, "t": 4.0, "kind": "k", "detail": "k = 2", "by": "viewer 1 (pid 7)"},
               {"step": 500, "t": 5.0, "kind": "checkpoint", "detail": "saved periodic-0000500.pt"}]
    (path / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_late_viewer_gets_the_whole_history_then_the_live_rows_once(runtime: Path,
                                                                      tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_run_folder(run_dir, 2000)
    runner = FakeRunner()
    with serving(runner, runtime, run_dir=run_dir, preset="ring8") as server:
        server.publish(StateChanged(state=run_state(step=2000)))
        server.publish(metrics_batch(1020, 50))  # a resumed run re-sends its tail (1020..2000): seen already
        server.publish(metrics_batch(2020, 5))
        server.publish(toy_samples(2100))
        controller, events = attach(server)
        server.publish(metrics_batch(2120, 5))  # live, after the history: 2120..2200
        server.publish(metrics_batch(2220, 2))
        server.sync()
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step")[-1] == 2240)
        controller.detach()
        assert controller.join(5.0)
    assert steps_of(events).tolist() == list(range(20, 2241, 20))
    marks = events.of(Intervention)
    assert [(m.step, m.detail, m.origin) for m in marks] == [(400, "k = 2", "viewer 1 (pid 7)")]
    assert any(n.message == "saved periodic-0000500.pt" for n in events.of(Notice))  # a log line, no marker
    assert events.of(StateChanged)[-1].state.step == 2000
    assert isinstance(events.items[-1], Finished) and events.items[-1].reason == "detached"


def test_commands_reach_the_runner_under_the_viewers_name(runtime: Path) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        controller, _ = attach(server)
        controller.send(SetK(2))
        controller.send(ToggleFreeze("d"))
        received = runner.wait_for(2)
        controller.detach()
    name = f"viewer 1 (pid {os.getpid()})"
    assert received == [(SetK(2), name), (ToggleFreeze("d"), name)]


@pytest.mark.parametrize(("frames", "why"), [
    (b"\x00\x00\x00\x05hello", "not a gantui frame"),
    ((1 << 30).to_bytes(4, "big"), "limit"),  # announces a gigabyte: never read
    (codec.encode(Notice(0, "info", "an event")), "unexpected message kind"),  # an event, not a command
    (codec.encode(SetK(2))[:-1] + b"\xc3", "bad SetK"),  # k = True
    (codec.encode(Bye()), None),  # a goodbye before the hello: closed without a word
])
def test_a_bad_first_message_closes_that_connection_only(runtime: Path, frames: bytes, why: str | None,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        good, _ = attach(server)
        bad = RawClient(server.info.socket)
        bad.send(frames)
        replies = bad.messages_until_closed()
        bad.close()
        good.send(SetK(3))
        assert runner.wait_for(1) == [(SetK(3), f"viewer 1 (pid {os.getpid()})")]
        good.detach()
    if why is not None:
        assert any(isinstance(r, Error) for r in replies), replies
        assert why in caplog.text


def test_a_bad_command_after_the_hello_closes_that_viewer_only(runtime: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        good, _ = attach(server)
        bad = RawClient(server.info.socket)
        bad.send(hello() + codec.encode(SetK(4)) + b"\x00\x00\x00\x03\x93\x01\xa4")  # good, then broken
        replies = bad.messages_until_closed()
        good.send(SetK(5))
        received = runner.wait_for(2)
        good.detach()
    assert [c for c, _ in received] == [SetK(4), SetK(5)]
    assert isinstance(replies[0], Welcome) and isinstance(replies[-1], Error)
    assert "viewer 2" in caplog.text and "bad message" in caplog.text


def test_a_viewer_killed_mid_frame_or_mid_handshake_is_harmless(runtime: Path) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        for data in (hello()[:7], hello() + codec.encode(SetK(9))[:6], b""):
            raw = RawClient(server.info.socket)
            raw.send(data)
            raw.close()  # gone, mid-frame
        server.publish(metrics_batch(20, 3))
        controller, events = attach(server)
        controller.send(SetK(2))
        assert runner.wait_for(1)[0][0] == SetK(2)
        controller.detach()
    assert steps_of(events).tolist() == [20, 40, 60]


def test_a_viewer_that_never_reads_is_dropped_and_publishing_stays_bounded(runtime: Path) -> None:
    """A stuck viewer's pending bytes never pass its budget; it is dropped with a message, while a
    viewer that reads gets every row. Nothing here measures time."""
    limits = Limits(outbox_bytes=512 << 10)
    runner = FakeRunner()
    with serving(runner, runtime, limits=limits) as server:
        stuck = RawClient(server.info.socket)
        stuck.send(hello())
        assert isinstance(stuck.recv_message(), Welcome)  # viewer 1; from here on it never reads
        good, events = attach(server)
        peak = 0
        for i in range(60):  # 60 batches of 1,000 rows: ~9.6 MB, far past socket buffers and the budget
            first = 20 + i * 20_000
            server.publish(metrics_batch(first, 1000))
            server.publish(image_samples(i))  # latest-only: compaction keeps the newest
            server.sync()
            # The reading viewer keeps up (paced here, as a real run's few kB/s would pace it).
            events.wait_for(lambda e, last=first + 999 * 20: isinstance(e, MetricsBatch)
                            and e.column("step")[-1] == last)
            assert len(server._inbox) <= limits.inbox_events
            peak = max([peak, *(v.outbox.bytes for v in server.viewers.values())])
        assert server.dropped == [f"viewer 1 (pid {os.getpid()})"]
        assert peak <= limits.outbox_bytes
        last = 20 + 59 * 20_000 + 999 * 20
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step")[-1] == last)
        good.detach()
        stuck.close()
    assert len(steps_of(events)) == 60_000
    assert any("viewer 1" in n.message and "fell behind" in n.message for n in events.of(Notice))


def test_the_outbox_keeps_the_newest_samples_and_merges_batches_but_never_across_a_reset() -> None:
    box = Outbox(budget_bytes=1)  # every put compacts
    events = [metrics_batch(20, 2), toy_samples(1), metrics_batch(60, 2), HistoryReset(step=40, reason="u"),
              metrics_batch(20, 2), toy_samples(2), metrics_batch(60, 1)]
    for e in events:
        box.put(e, codec.encode(e))
    kinds = []
    while len(box):
        kinds.append(codec.decode(box.pop()[4:], codec.SERVER_KINDS))
    assert [type(k).__name__ for k in kinds] == ["MetricsBatch", "HistoryReset", "MetricsBatch", "ToySamples"]
    assert kinds[0].column("step").tolist() == [20, 40, 60, 80]
    assert kinds[2].column("step").tolist() == [20, 40, 60]
    assert kinds[3].step == 2
    assert box.bytes == 0


def test_a_rollback_truncates_the_history_a_new_viewer_gets(runtime: Path) -> None:
    runner = FakeRunner()
    with serving(runner, runtime) as server:
        server.publish(metrics_batch(20, 20))  # 20..400
        early, early_events = attach(server)
        server.publish(HistoryReset(step=200, reason="rolled back"))
        server.publish(metrics_batch(20, 10))  # the kept history again: 20..200
        server.publish(metrics_batch(220, 5))  # new rows after the rollback
        server.sync()
        late, late_events = attach(server)
        early_events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step")[-1] == 300)
        early.detach()
        late.detach()
    assert steps_of(late_events).tolist() == list(range(20, 301, 20))
    # The early viewer saw what a local dashboard sees: its history, the reset, the resent rows, the new ones.
    assert steps_of(early_events).tolist() == [*range(20, 401, 20), *range(20, 201, 20), *range(220, 301, 20)]
    assert early_events.of(HistoryReset)[0].step == 200


def test_status_and_version_checks(runtime: Path) -> None:
    runner = FakeRunner()
    with serving(runner, runtime, preset="grid25") as server:
        server.publish(StateChanged(state=run_state(step=40)))
        server.publish(metrics_batch(20, 3))
        server.sync()
        welcome = query_status(Target(socket=server.info.socket))
        old = RawClient(server.info.socket)
        old.send(hello(schema="0123456789abcdef", gantui="0.0.1"))
        replies = old.messages_until_closed()
    assert (welcome.status.status, welcome.status.step, welcome.status.viewers) == ("running", 60, 0)
    assert welcome.status.steps_per_sec == 100.0 and welcome.run.preset == "grid25"
    assert isinstance(replies[0], Error) and "use the same gantui on both ends" in replies[0].message


def test_closing_says_goodbye_after_the_last_events_and_removes_every_file(runtime: Path,
                                                                           tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    server_files = []
    with serving(FakeRunner(), runtime, run_dir=run_dir) as server:
        raw = RawClient(server.info.socket)
        raw.send(hello())
        assert isinstance(raw.recv_message(), Welcome)
        server.publish(Finished(step=50, reason="steps", checkpoint="final-0000050.pt"))
        server.sync()
        server_files = sorted(p.name for p in runtime.iterdir())
        assert (run_dir / "attach.json").stat().st_mode & 0o777 == 0o600
    replies = raw.messages_until_closed()
    kinds = [type(m).__name__ for m in replies]
    assert isinstance(replies[kinds.index("HistoryEnd")], HistoryEnd)
    assert kinds[-2:] == ["Finished", "Bye"] and replies[-1].reason == "the run has ended"
    assert {Path(n).suffix for n in server_files} == {".sock", ".json", ".rows"}
    assert list(runtime.iterdir()) == [] and not (run_dir / "attach.json").exists()


def test_the_log_lines_name_the_viewer(runtime: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gantui.remote")
    with serving(FakeRunner(), runtime) as server:
        controller, _ = attach(server)
        controller.detach()
        controller.join(5.0)
        server.sync()
    assert f"viewer 1 (pid {os.getpid()}) attached" in caplog.text


def test_rows_with_other_columns_are_stored_by_name(runtime: Path) -> None:
    with serving(FakeRunner(), runtime) as server:
        server.publish(MetricsBatch(columns=("loss_d", "step"), values=frozen_array(np.array([[1.5, 20.0]]))))
        server.sync()
        _, events = attach(server)
    batch = events.of(MetricsBatch)[0]
    assert batch.columns == ("step", "loss_d") and batch.values.tolist() == [[20.0, 1.5]]


def test_publishing_never_waits_even_for_a_stuck_server_loop(runtime: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The trainer's side is an append to a bounded inbox: with the loop blocked, publishing goes on
    (and loses events past the bound rather than memory)."""
    import threading

    limits = Limits(inbox_events=1000)
    with serving(FakeRunner(), runtime, limits=limits) as server:
        release = threading.Event()
        server._loop.call_soon_threadsafe(release.wait, 30.0)  # the loop is stuck from here
        batch = metrics_batch(20, 1)
        for _ in range(20_000):
            server.publish(batch)
        queued, lost = len(server._inbox), server.inbox_dropped
        release.set()
        server.sync()
    assert queued == 1000 and lost == 19_000
    assert "19000 events lost while the server was stuck" in caplog.text


def test_a_served_runner_fans_each_event_out_to_the_local_sink_and_the_server(runtime: Path) -> None:
    from gantui.remote.served import ServedRunner

    class Runner(FakeRunner):
        def start(self, sink) -> None:
            self.sink = sink

        def join(self, timeout: float) -> bool:
            return True

    runner = Runner()
    with serving(runner, runtime) as server:
        served = ServedRunner(runner, server)
        local = Events()
        served.start(local)
        runner.sink(metrics_batch(20, 2))
        served.set_local(lambda e: 1 / 0)  # a local display that broke: the viewers still get the rows
        runner.sink(metrics_batch(60, 1))
        server.sync()
        _, remote = attach(server)
        served.send(SetK(2), origin="local")
    assert steps_of(local).tolist() == [20, 40]
    assert steps_of(remote).tolist() == [20, 40, 60]
    assert runner.received == [(SetK(2), "local")]
