"""Random command sequences thrown at a real runner: no uncaught exception, ever, and it stays steerable."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import (
    Failure,
    Finished,
    Freeze,
    Notice,
    Pause,
    Probe,
    Resume,
    Rollback,
    SaveCheckpoint,
    SavePreset,
    SetK,
    SetLoss,
    SetLR,
    StateChanged,
    Step,
    Stop,
)
from tests.engine_helpers import Events, smoke_config

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6))
commands = st.one_of(
    st.just(Pause()), st.just(Resume()), st.just(Probe()), st.just(Rollback()),
    st.builds(Step, st.sampled_from(["iteration", "d", "g", "x"])),
    st.builds(SetK, st.one_of(st.integers(-3, 120), st.floats(0, 5), st.booleans())),
    st.builds(SetLoss, st.sampled_from(["hinge", "wgan-gp", "minimax", "fgan-kl", "rsgan", "nope", ""])),
    st.builds(SetLR, st.sampled_from(["d", "g", "x"]), numbers),
    st.builds(Freeze, st.sampled_from(["d", "g"]), st.booleans()),
    st.builds(SaveCheckpoint, st.sampled_from(["manual", "x"])),
    st.builds(SavePreset, st.sampled_from(["ok-name", "bad name/..", ""])),
)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=st.lists(commands, min_size=1, max_size=12))
def test_random_command_sequences_never_crash_the_runner(tmp_path_factory, sequence) -> None:
    run = tmp_path_factory.mktemp("run")
    session = Session.create(smoke_config("train.steps=0", "log.probe_steps=5"), run_dir=run)
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    try:
        for command in sequence:
            runner.send(command)
        # The runner still answers: a Pause after the sequence is applied and reported.
        mark = len(events)
        runner.send(Pause())
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "paused",
                        after=mark, timeout=60)
    finally:
        runner.send(Stop(save=False))
        assert runner.join(30.0)
    finished = events.wait_for(lambda e: isinstance(e, Finished))
    assert finished.reason == "stopped"
    assert not [e for e in events.of(Failure) if "crashed" in e.message]
    # Bad values were refused with a warning, never turned into a trainer failure.
    for failure in events.of(Failure):
        assert "refused" not in failure.message
    refused = [e for e in events.of(Notice) if "refused" in e.message]
    bad = [c for c in sequence if isinstance(c, SetK) and (isinstance(c.k, bool) or not isinstance(c.k, int)
                                                         or not 1 <= c.k <= 100)]
    assert len(refused) >= len(bad)


def test_an_unwritable_run_folder_pauses_training(tmp_path: Path) -> None:
    session = Session.create(smoke_config("train.steps=0"), run_dir=tmp_path / "run")

    def disk_full(rows) -> None:
        raise OSError(28, "No space left on device")

    session.folder.append_metrics = disk_full
    runner = Runner(session, exit_when_done=False)
    events = Events()
    runner.start(events)
    try:
        warning = events.wait_for(lambda e: isinstance(e, Notice) and "No space left" in e.message)
        assert "metrics.jsonl" in warning.message and "paused" in warning.message
        state = events.wait_for(lambda e: isinstance(e, StateChanged) and e.state.status == "paused")
        assert state.reason == "paused: run folder not writable"
    finally:
        runner.send(Stop(save=False))
        assert runner.join(10.0)
