"""Every key press counts once, as pressed, and metrics.jsonl says what happened (issue 10.10, 10.11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.engine.steering import factor_label
from gantui.protocol import (
    ChangeK,
    Intervention,
    MetricsBatch,
    Pause,
    Resume,
    ScaleLR,
    StateChanged,
    Step,
    Stop,
    ToggleFreeze,
    TogglePause,
)
from tests.engine_helpers import Events, smoke_config


@pytest.fixture
def paused(tmp_path: Path):
    runner = Runner(
        Session.create(smoke_config("train.steps=0", "train.lr_d=0.001"), run_dir=tmp_path / "r"),
        exit_when_done=False,
    )
    events = Events()
    runner.start(events)
    runner.send(Pause())
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.state.status == "paused")
    yield runner, events
    runner.send(Stop(save=False))
    assert runner.join(20)


def last_state(events: Events, after: int, count: int) -> StateChanged:
    """The state after ``count`` answers since ``after``."""
    events.wait_for(
        lambda e: (
            isinstance(e, StateChanged)
            and sum(isinstance(x, StateChanged) for x in events.items[after:]) >= count
        ),
        after=after,
    )
    return [e for e in events.items[after:] if isinstance(e, StateChanged)][count - 1]


def test_five_quick_presses_double_the_learning_rate_five_times(paused) -> None:
    """The dashboard used to send SetLR(last reported lr × 2) five times: one doubling, five log lines."""
    runner, events = paused
    mark = len(events)
    for _ in range(5):
        runner.send(ScaleLR("d", 2.0))
    state = last_state(events, mark, 5).state
    assert state.lr_d == pytest.approx(0.032)
    details = [e.detail for e in events.items[mark:] if isinstance(e, Intervention)]
    assert details[0] == "lr_d 0.001 → 0.002" and details[-1] == "lr_d 0.016 → 0.032"
    assert {e.label for e in events.items[mark:] if isinstance(e, Intervention)} == {"lr_d ×2"}


def test_k_presses_and_toggles_apply_to_the_current_value_in_order(paused) -> None:
    runner, events = paused
    mark = len(events)
    for command in (
        ChangeK(1),
        ChangeK(1),
        ChangeK(1),
        ChangeK(1),
        ChangeK(-1),
        ToggleFreeze("g"),
        ToggleFreeze("g"),
        ToggleFreeze("d"),
    ):
        runner.send(command)
    state = last_state(events, mark, 8).state
    assert state.k == 4 and not state.frozen_g and state.frozen_d
    mark = len(events)
    runner.send(TogglePause())
    runner.send(TogglePause())  # space space: resumed then paused, not paused twice
    assert last_state(events, mark, 2).state.status == "paused"


def test_k_never_goes_below_one(paused) -> None:
    runner, events = paused
    mark = len(events)
    runner.send(ChangeK(-1))
    assert last_state(events, mark, 1).state.k == 1
    assert any("k stays 1" in getattr(e, "message", "") for e in events.items[mark:])


def test_rows_carry_their_loss_integers_stay_integers_and_single_steps_keep_one_row_per_step(paused) -> None:
    """Issue 10.11: step 11 205 appeared four times after d d d d; step, k and modes were floats."""
    runner, events = paused
    mark = len(events)
    for _ in range(4):
        runner.send(Step("d"))
    last_state(events, mark, 4)
    runner.send(Step("iteration"))
    runner.send(Step("g"))
    last_state(events, mark, 6)
    runner.send(Resume())
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and e.column("step").max() >= 60, after=mark)
    runner.send(Pause())
    last_state(events, mark, 8)
    text = (Path(runner.folder.path) / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in text]
    steps = [r["step"] for r in rows]
    assert len(steps) == len(set(steps)) and steps == sorted(steps)
    assert all(r["loss"] == "nonsaturating" for r in rows)
    assert all(
        '"step":' in line and '"step":' + str(r["step"]) + "," in line
        for line, r in zip(text, rows, strict=True)
    )
    assert all(isinstance(r["k"], int) for r in rows)
    assert all(isinstance(r["modes"], int) for r in rows if "modes" in r)


@pytest.mark.parametrize(
    ("factor", "label"), [(2.0, "×2"), (0.5, "×½"), (0.25, "×¼"), (1.5, "×1.5"), (3.0, "×3")]
)
def test_factor_labels(factor: float, label: str) -> None:
    assert factor_label(factor) == label
