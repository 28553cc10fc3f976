"""A real runner on its thread, served, and a viewer attached over the socket: the viewer's history
meets the live rows with no gap and no repeat, and the dashboard (Pilot) driving the remote run sees
the history, and its key press is applied by the runner and recorded under the viewer's name."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gantui.engine.losses import LOSSES
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import Finished, Intervention, MetricsBatch, Stop
from gantui.remote.client import RemoteController, Target
from gantui.remote.server import RunServer
from gantui.ui.app import DETACHED, GanApp
from gantui.ui.screens.confirm import ConfirmDialog
from tests.engine_helpers import Events, smoke_config
from tests.fakes import run_async
from tests.remote_helpers import private_dir


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Runner, RunServer, Events]]:
    """A dashboard-style smoke run (no step limit) serving on a private socket, with a local sink."""
    session = Session.create(smoke_config("train.steps=0"), run_dir=tmp_path / "run")
    runner = Runner(session, exit_when_done=False)
    local = Events()
    with private_dir() as runtime:
        server = RunServer(runner, run_dir=session.folder.path, preset="smoke", runtime=runtime,
                           losses={name: loss.description for name, loss in LOSSES.items()})
        server.start()

        def fan_out(event: object) -> None:
            local(event)
            server.publish(event)

        runner.start(fan_out)
        try:
            yield runner, server, local
        finally:
            runner.send(Stop(save=False))
            assert runner.join(20.0), "the trainer did not stop"
            server.close()


def logged_past(events: Events, step: int) -> None:
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and len(e.values) and e.column("step")[-1] >= step,
                    timeout=30.0)


def test_a_late_viewer_sees_every_row_once(served) -> None:
    _runner, server, local = served
    logged_past(local, 100)  # the run has a history by now
    controller = RemoteController(Target(socket=server.info.socket))
    seen = Events()
    controller.start(seen)
    assert controller.history_done.wait(10.0)
    attached_at = controller.last_step
    logged_past(seen, attached_at + 100)  # and it follows live
    controller.detach()
    assert controller.join(5.0)
    steps = np.concatenate([b.column("step") for b in seen.of(MetricsBatch)])
    assert steps[0] == 5 and (np.diff(steps) == 5).all(), steps  # log.every = 5: no gap, no repeat
    assert steps[-1] >= attached_at + 100


@run_async
async def test_the_dashboard_drives_a_remote_run(served) -> None:
    runner, server, local = served
    logged_past(local, 50)
    controller = RemoteController(Target(socket=server.info.socket))
    welcome = controller.connect()
    app = GanApp(controller, losses=welcome.losses, presets=welcome.presets)

    async def until(condition, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            await pilot.pause(0.05)

    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: controller.history_done.is_set() and app.run_state is not None)
        history_rows = len(app.history)
        assert history_rows >= 10 and app.run_state.k == 1
        assert app.history.step_range()[0] == 5  # from the first row the run logged
        await until(lambda: len(app.history) > history_rows)  # live rows follow
        await pilot.press("plus")
        await until(lambda: app.run_state.k == 2)
        await until(lambda: bool(local.of(Intervention)))
    assert welcome.viewer == f"viewer 1 (pid {os.getpid()})"
    mark = local.of(Intervention)[-1]
    assert (mark.kind, mark.origin) == ("k", welcome.viewer)  # the local dashboard sees who did it
    records = [json.loads(line) for line in (server.run_dir / "events.jsonl").read_text().splitlines()]
    assert [r.get("by") for r in records if r["kind"] == "k"] == [welcome.viewer]
    # The viewer closing detached it: the run is still training.
    assert runner.status == "running"
    logged_past(local, local.of(MetricsBatch)[-1].column("step")[-1] + 20)


async def until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


@run_async
async def test_q_in_a_viewer_detaches_and_k_stops_the_run_after_a_yes(served) -> None:
    runner, server, local = served
    logged_past(local, 20)
    first = RemoteController(Target(socket=server.info.socket))
    app = GanApp(first, losses=first.connect().losses)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: first.history_done.is_set() and app.run_state is not None)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_value == DETACHED and not first.run_finished
    logged_past(local, local.of(MetricsBatch)[-1].column("step")[-1] + 20)  # it trains on
    assert runner.status == "running"

    second = RemoteController(Target(socket=server.info.socket))
    app = GanApp(second, losses=second.connect().losses)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: second.history_done.is_set() and app.run_state is not None)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running)
    assert app.return_value is None and second.run_finished
    finished = local.of(Finished)[-1]
    assert finished.reason == "stopped" and finished.checkpoint
    assert runner.join(20.0)
