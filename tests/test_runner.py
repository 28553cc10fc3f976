"""The runner on its real thread: commands apply between iterations, events report what happened.

Every wait is bounded (Events.wait_for); nothing sleeps to synchronise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import (
    Failure,
    Finished,
    Freeze,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Pause,
    Probe,
    Resume,
    SaveCheckpoint,
    SavePreset,
    SetK,
    SetLoss,
    SetLR,
    StateChanged,
    Step,
    Stop,
    ToySamples,
)
from tests.engine_helpers import Events, smoke_config


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Runner, Events]]:
    """A dashboard-style runner (it pauses, not exits, at train.steps) on the smoke preset."""
    cfg = smoke_config("train.steps=0")
    session = Session.create(cfg, run_dir=tmp_path / "run")
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    yield runner, events
    runner.send(Stop(save=False))
    assert runner.join(10.0), "the trainer thread did not stop"


def state_after(events: Events, reason: str, after: int = 0) -> StateChanged:
    return events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == reason, after=after)


def pause(runner: Runner, events: Events) -> StateChanged:
    mark = len(events)
    runner.send(Pause())
    return state_after(events, "paused", after=mark)


def test_first_event_reports_the_configured_state(running) -> None:
    _runner, events = running
    first = events.wait_for(lambda e: isinstance(e, StateChanged))
    s = first.state
    assert (s.status, s.k, s.loss, s.lr_d) == ("running", 1, "nonsaturating", 1e-3)
    assert (s.is_toy, s.dataset) == (True, "ring8")
    assert s.loss_description
    assert s.critic is False  # a BCE logit: the dashboard may show σ(v) as D's probability


def test_the_state_says_whether_d_is_a_critic_under_the_applied_loss(running) -> None:
    runner, events = running
    pause(runner, events)
    for loss, critic in [("wgan-gp", True), ("lsgan", True), ("fgan-js", False), ("minimax", False)]:
        mark = len(events)
        runner.send(SetLoss(loss))
        assert state_after(events, f"loss = {loss}", after=mark).state.critic is critic


def test_pause_stops_progress_and_step_advances_exactly_one_iteration(running) -> None:
    runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch))
    paused = pause(runner, events).state
    step, d_steps = paused.step, paused.d_steps
    # While paused nothing moves: a round trip through the queue proves the thread is idle.
    mark = len(events)
    runner.send(SetK(3))
    assert state_after(events, "k = 3", after=mark).state.step == step
    mark = len(events)
    runner.send(Step("iteration"))
    after = state_after(events, "one iteration", after=mark).state
    assert (after.step, after.d_steps, after.status) == (step + 1, d_steps + 3, "paused")
    mark = len(events)
    runner.send(Step("d"))
    after_d = state_after(events, "one D-step", after=mark).state
    assert (after_d.step, after_d.d_steps, after_d.g_steps) == (step + 1, d_steps + 4, after.g_steps)
    mark = len(events)
    runner.send(Step("g"))
    after_g = state_after(events, "one G-step", after=mark).state
    assert (after_g.d_steps, after_g.g_steps) == (d_steps + 4, after.g_steps + 1)


def test_commands_are_answered_with_the_applied_state(running) -> None:
    runner, events = running
    pause(runner, events)
    for command, reason, check in [
        (SetLoss("hinge"), "loss = hinge", lambda s: s.loss == "hinge"),
        (SetLR("d", 0.25), "lr_d = 0.25", lambda s: s.lr_d == 0.25),
        (SetLR("g", 0.5), "lr_g = 0.5", lambda s: s.lr_g == 0.5),
        (Freeze("d", True), "D frozen", lambda s: s.frozen_d),
        (Freeze("d", False), "D unfrozen", lambda s: not s.frozen_d),
    ]:
        mark = len(events)
        runner.send(command)
        assert check(state_after(events, reason, after=mark).state)
    kinds = [e.kind for e in events.of(Intervention)]
    assert kinds[-5:] == ["loss", "lr_d", "lr_g", "freeze", "freeze"]


def test_resume_continues_training(running) -> None:
    runner, events = running
    step = pause(runner, events).state.step
    mark = len(events)
    runner.send(Resume())
    state_after(events, "resumed", after=mark)
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() > step + 10, after=mark)


def test_metrics_are_batched_not_sent_per_step(running) -> None:
    _runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 200)
    batches = events.of(MetricsBatch)
    rows = sum(len(b.values) for b in batches)
    steps = max(b.column("step").max() for b in batches)
    # One row per log.every = 5 iterations, and several rows per event once training is fast.
    assert rows <= steps / 5 + 2
    assert len(batches) < rows or rows < 4


def test_toy_runs_report_true_jsd_modes_and_probe(running) -> None:
    _runner, events = running
    # smoke: toy_metrics_every = 25 and probe_every = 50 iterations.
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and np.isfinite(e.column("jsd_probe")).any(),
                    timeout=60)
    rows = [r for b in events.of(MetricsBatch) for r in b.rows()]
    toy = next(r for r in rows if "jsd_true" in r)
    assert 0.0 <= toy["jsd_true"] <= math.log(2) and 0 <= toy["modes"] <= 8 and 0.0 <= toy["hq"] <= 1.0
    probe = next(r for r in rows if "jsd_probe" in r)
    assert 0.0 <= probe["jsd_probe"] <= math.log(2) and probe["probe_at"] <= probe["step"]
    assert probe["probe_steps"] > 0 and probe["probe_converged"] in (0, 1)
    samples = events.wait_for(lambda e: isinstance(e, ToySamples))
    assert samples.d_surface.shape == (64, 64) and samples.modes.shape == (8, 2)
    assert samples.d_surface.min() >= 0.0 and samples.d_surface.max() <= 1.0
    assert not samples.fake.flags.writeable


def test_probe_on_request_while_paused(running) -> None:
    runner, events = running
    pause(runner, events)
    mark = len(events)
    runner.send(Probe())
    batch = events.wait_for(lambda e: isinstance(e, MetricsBatch)
                            and np.isfinite(e.column("jsd_probe")).any(),
                            after=mark, timeout=60)
    assert 0.0 <= np.nanmax(batch.column("jsd_probe")) <= math.log(2)


def test_an_exception_in_training_pauses_and_reports_it(running) -> None:
    runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch))
    original = runner.trainer.sampler.sample
    runner.trainer.sampler.sample = lambda n: (_ for _ in ()).throw(RuntimeError("disk on fire"))
    failure = events.wait_for(lambda e: isinstance(e, Failure))
    assert "RuntimeError: disk on fire" in failure.message and "Traceback" in failure.detail
    assert state_after(events, "failed").state.status == "failed"
    # The thread is alive and still answers commands.
    runner.trainer.sampler.sample = original
    mark = len(events)
    runner.send(Resume())
    assert state_after(events, "resumed", after=mark).state.status == "running"


def test_a_non_finite_loss_restores_the_last_good_state(running) -> None:
    runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 20)
    original = runner.trainer.sampler.sample
    runner.trainer.sampler.sample = lambda n: original(n) * float("nan")
    failure = events.wait_for(lambda e: isinstance(e, Failure))
    assert "non-finite" in failure.message
    state = state_after(events, "failed").state
    assert state.status == "failed" and state.step % 5 == 0  # back at a good read-out (log.every = 5)
    assert all(torch.isfinite(p).all() for p in runner.trainer.D.parameters())
    assert all(torch.isfinite(p).all() for p in runner.trainer.G.parameters())
    runner.trainer.sampler.sample = original


def test_the_remembered_good_state_carries_no_autograd_history(running) -> None:
    """Each read-out copies parameters into the saved good state; under autograd that copy chained a
    CopyBackwards node per read-out onto the copies, a graph (and RSS) that grew for as long as the
    run lasted. The copies must stay plain tensors equal to the state they were taken from."""
    runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 40)  # >= 8 read-outs
    pause(runner, events)
    runner.good.remember(runner.trainer)  # paused: nothing moves between this copy and the comparison
    good, live = runner.good.all_tensors(), runner.trainer.live_tensors()
    assert good is not None and len(good) == len(live)
    assert all(g.grad_fn is None and not g.requires_grad for g in good)
    assert all(torch.equal(g, x) for g, x in zip(good, live, strict=True))


def test_checkpoint_and_preset_on_request(running, tmp_path: Path) -> None:
    runner, events = running
    pause(runner, events)
    mark = len(events)
    runner.send(SaveCheckpoint())
    saved = events.wait_for(lambda e: isinstance(e, Intervention) and e.kind == "checkpoint", after=mark)
    assert Path(saved.detail.removeprefix("saved ")).is_file()
    mark = len(events)
    runner.send(SetK(4))
    runner.send(SavePreset("my-ring"))
    note = events.wait_for(lambda e: type(e).__name__ == "Notice" and "my-ring" in e.message, after=mark)
    from gantui.presets import load_config

    assert load_config("my-ring").train.k == 4, note.message


def test_stop_joins_quickly_and_saves_a_final_checkpoint(tmp_path: Path) -> None:
    session = Session.create(smoke_config("train.steps=0"), run_dir=tmp_path / "run")
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    events.wait_for(lambda e: isinstance(e, MetricsBatch))
    start = time.monotonic()
    runner.send(Stop(save=True))
    assert runner.join(2.0)
    assert time.monotonic() - start < 2.0
    finished = events.wait_for(lambda e: isinstance(e, Finished))
    assert finished.reason == "stopped" and Path(finished.checkpoint).name.startswith("final-")


def test_headless_runner_finishes_at_train_steps(tmp_path: Path) -> None:
    session = Session.create(smoke_config("train.steps=30"), run_dir=tmp_path / "run")
    runner = Runner(session, exit_when_done=True)
    events = Events()
    runner.start(events)
    finished = events.wait_for(lambda e: isinstance(e, Finished), timeout=60)
    assert runner.join(5.0)
    assert (finished.step, finished.reason) == (30, "steps")


def test_image_runs_send_uint8_grids(tmp_path: Path) -> None:
    cfg = smoke_config("data.name=fake", "data.image_size=8", "data.channels=3", "data.fake_size=64",
                       "train.steps=0")
    session = Session.create(cfg, write=False)
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    try:
        grid = events.wait_for(lambda e: isinstance(e, ImageSamples))
        assert grid.fake.dtype == np.uint8 and grid.fake.shape == (64, 8, 8, 3)
        assert grid.real.shape == (64, 8, 8, 3)
    finally:
        runner.send(Stop(save=False))
        assert runner.join(10.0)


def test_out_of_memory_is_explained_and_pauses(running) -> None:
    runner, events = running
    events.wait_for(lambda e: isinstance(e, MetricsBatch))

    def oom() -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    runner.trainer.iteration = oom
    failure = events.wait_for(lambda e: isinstance(e, Failure))
    assert "out of memory at batch size 32" in failure.message
    assert "--set train.batch_size=16" in failure.message
    assert state_after(events, "failed").state.status == "failed"
