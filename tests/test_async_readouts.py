"""The runner with read-outs that arrive late, as on CUDA (issue 14.3): rows keep their own steps, the
good state advances only with windows that came back finite, and a blow-up found late still restores a
good state. The CPU's read-outs are immediate, so a fake lag stands in for the GPU's queue."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gantui.engine.health import first_nonfinite
from gantui.engine.readout import Readouts
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import Failure, MetricsBatch, Stop
from tests.engine_helpers import Events, smoke_config

LAG = 3  # windows in flight before the oldest reaches the host


class LaggingReadouts(Readouts):
    """Windows reach the host LAG closes after their own (or when waited for)."""

    def __init__(self) -> None:
        super().__init__(torch.device("cpu"))
        self.held: list = []

    def push(self, flat, layout, counters) -> None:
        super().push(flat, layout, counters)
        self.held.extend(self._done)
        self._done = []

    def ready(self, *, wait: bool = False):
        keep = 0 if wait else LAG
        out, self.held = self.held[: max(0, len(self.held) - keep)], self.held[max(0, len(self.held) - keep):]
        return out

    @property
    def pending(self) -> int:
        return len(self.held)


def lagging_runner(tmp_path: Path, *overrides: str) -> tuple[Runner, Events]:
    session = Session.create(smoke_config("train.steps=0", "log.checkpoint_every=0", *overrides),
                             run_dir=tmp_path / "r")
    session.trainer._readouts = LaggingReadouts()
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    return runner, events


def test_late_windows_keep_their_steps_and_nothing_is_lost(tmp_path: Path) -> None:
    runner, events = lagging_runner(tmp_path)
    try:
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 200)
    finally:
        runner.send(Stop(save=False))
        assert runner.join(20)
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
             if "loss_d" in x]
    # Every window, once, in order (log.every = 5), then the partial window read out at the stop.
    assert steps[:-1] == list(range(5, steps[-2] + 1, 5)) and steps[-1] > steps[-2]


def test_a_blow_up_found_late_restores_a_state_that_was_good(tmp_path: Path) -> None:
    runner, events = lagging_runner(tmp_path, "log.probe_every=0")
    try:
        events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 40)
        original = runner.trainer._d_update

        def poison() -> None:
            original()
            with torch.no_grad():
                next(iter(runner.trainer.D.parameters()))[0, 0] = float("nan")

        poisoned_after = runner.trainer.step
        runner.trainer._d_update = poison
        failure = events.wait_for(lambda e: isinstance(e, Failure))
        runner.trainer._d_update = original
    finally:
        runner.send(Stop(save=False))
        assert runner.join(20)
    assert runner.trainer.step <= poisoned_after + 5  # back before the windows that carried the NaN
    assert first_nonfinite(runner.trainer.named_live_tensors()) is None
    assert f"restored step {runner.trainer.step:,}" in failure.message
