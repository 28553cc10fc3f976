"""Rank 0's side of scripted data-parallel tests: the run driven by commands, as a user drives it.

``tests/ddp_worker.py`` runs one of these in place of ``run_headless`` on rank 0. Every wait is
bounded (``Events.wait_for``); what rank 0 applied is written to ``out`` as JSON for the test to
compare with what the other rank logged.
"""

from __future__ import annotations

import json
from pathlib import Path

from gantui.engine.runner import Runner
from gantui.protocol import (
    ChangeK,
    Finished,
    Intervention,
    MetricsBatch,
    Pause,
    Probe,
    Resume,
    Rollback,
    SaveCheckpoint,
    ScaleLR,
    SetLoss,
    SetLR,
    StateChanged,
    Step,
    Stop,
    ToggleFreeze,
)
from tests.engine_helpers import Events

WAIT_S = 60.0


def _reached(events: Events, step: int) -> None:
    """Wait for a metrics row at ``step`` or later, sent from now on (not a row of an abandoned branch)."""
    events.wait_for(lambda e: isinstance(e, MetricsBatch) and len(e.values) and e.rows()[-1]["step"] >= step,
                    after=len(events), timeout=WAIT_S)


def _answered(events: Events, reason: str, after: int) -> StateChanged:
    return events.wait_for(lambda e: isinstance(e, StateChanged) and reason in e.reason, after=after,
                           timeout=WAIT_S)


def commands(session, out: str) -> int:
    """Every kind of key, while paused and while training; then what rank 0 applied, at which step."""
    runner = Runner(session, exit_when_done=True)
    events = Events()
    runner.start(events)
    _reached(events, 10)
    n = len(events)
    runner.send(Pause())
    _answered(events, "paused", n)
    for command in (ChangeK(2), ScaleLR("d", 0.5), SetLR("g", 2e-3), Step("iteration"), Step("d"), Step("g"),
                    SetLoss("hinge"), ToggleFreeze("g"), SaveCheckpoint(), ToggleFreeze("g")):
        runner.send(command)
    n = len(events)
    runner.send(Resume())
    state = _answered(events, "resumed", n).state
    _reached(events, state.step + 20)
    n = len(events)
    runner.send(Pause())
    _answered(events, "paused", n)
    n = len(events)
    runner.send(Rollback())
    state = _answered(events, "rolled back", n).state
    runner.send(Resume())
    _reached(events, state.step + 10)
    runner.send(SetLoss("wgan-gp", reset_optimizers=True))
    runner.send(Probe())
    state = _answered(events, "loss = wgan-gp", 0).state
    _reached(events, state.step + 10)
    runner.send(Stop(save=True))
    events.wait_for(lambda e: isinstance(e, Finished), timeout=WAIT_S)
    runner.join(WAIT_S)
    applied = []  # each marker once: a rollback sends the kept ones again (after its HistoryReset)
    for e in events.of(Intervention):
        record = {"step": e.step, "kind": e.kind, "detail": e.detail}
        if record not in applied:
            applied.append(record)
    steps = [{"step": e.state.step, "reason": e.reason} for e in events.of(StateChanged)
             if e.reason.startswith("one ")]
    knobs = vars(session.trainer.knobs).copy()
    Path(out).write_text(json.dumps({"applied": applied, "single_steps": steps, "knobs": knobs,
                                     "history": runner.history}))
    return 0
