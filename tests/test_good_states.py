"""A state called good is good (issue 10): remembered, restored and saved states are finite everywhere,
optimiser state included, and a blow-up says which tensor of which player went bad."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from gantui.engine import checkpoint as ckpt
from gantui.engine.good_state import GoodState
from gantui.engine.health import first_nonfinite
from gantui.engine.runner import Runner
from gantui.engine.session import Session, open_checkpoint, resume_config
from gantui.protocol import Failure, Finished, Stop
from tests.engine_helpers import Events, smoke_config


def finite_state(state: dict) -> bool:
    tensors = [*state["G"].values(), *state["D"].values()]
    for opt in (state["opt_d"], state["opt_g"]):
        for per_param in opt["state"].values():
            tensors += [v for v in per_param.values() if isinstance(v, torch.Tensor)]
    return all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def test_restoring_the_initial_state_removes_the_optimiser_state_a_blow_up_created() -> None:
    """The first version restored nothing here: Adam's state did not exist at step 0, so the saved and
    live tensor lists differed in length and restore() returned without a word."""
    t = Session.create(
        smoke_config("train.lr_d=10", "train.lr_g=10", "loss.name=fgan-kl"), write=False
    ).trainer
    initial = [p.detach().clone() for p in t.G.parameters()]
    good = GoodState()
    good.remember(t)
    for _ in range(300):
        t.iteration()
        if first_nonfinite(t.named_live_tensors()) is not None:
            break
    assert first_nonfinite(t.named_live_tensors()) is not None, "the run should have blown up"
    good.restore(t)
    assert t.step == 0 and not t.opt_d.state and not t.opt_g.state
    assert all(torch.equal(a, b) for a, b in zip(initial, t.G.parameters(), strict=True))
    assert first_nonfinite(t.named_live_tensors()) is None


def test_restore_copies_optimiser_state_back_in_place() -> None:
    t = Session.create(smoke_config(), write=False).trainer
    for _ in range(5):
        t.iteration()
    good = GoodState()
    good.remember(t)
    saved = {k: v.clone() for k, v in next(iter(t.opt_d.state.values())).items()}
    live = next(iter(t.opt_d.state.values()))["exp_avg_sq"]
    for _ in range(5):
        t.iteration()
    good.restore(t)
    after = next(iter(t.opt_d.state.values()))
    assert after["exp_avg_sq"] is live  # in place: a captured graph still points at it
    assert torch.equal(after["exp_avg_sq"], saved["exp_avg_sq"]) and t.step == 5


def test_first_nonfinite_names_the_tensor_and_its_player() -> None:
    t = Session.create(smoke_config(), write=False).trainer
    t.iteration()
    assert first_nonfinite(t.named_live_tensors()) is None
    param = next(iter(t.opt_d.state))
    t.opt_d.state[param]["exp_avg_sq"][0] = math.inf
    name = first_nonfinite(t.named_live_tensors())
    assert name is not None and name.startswith("D's optimiser state exp_avg_sq of net.")
    big = torch.full((3,), 1e30)  # huge but finite: a 2-norm would overflow, max |x| does not
    assert first_nonfinite([("big", big)]) is None


def run_to_end(cfg, run_dir: Path) -> tuple[Runner, Events]:
    """A headless-style run: it ends at its steps, or is stopped (saving) at its first failure."""
    runner = Runner(Session.create(cfg, run_dir=run_dir), exit_when_done=True)
    events = Events()
    runner.start(events)
    events.wait_for(lambda e: isinstance(e, (Failure, Finished)), timeout=60)
    runner.send(Stop(save=True))
    events.wait_for(lambda e: isinstance(e, Finished), timeout=60)
    assert runner.join(30)
    return runner, events


def test_a_blow_up_before_the_first_read_out_saves_a_resumable_last_good(tmp_path: Path) -> None:
    """Issue 10.1: the diverged step was saved as last-good (exp_avg_sq non-finite); resuming failed."""
    cfg = smoke_config(
        "train.steps=3000",
        "train.lr_d=10",
        "train.lr_g=10",
        "loss.name=fgan-kl",
        "log.every=20",
        "log.checkpoint_every=0",
    )
    _runner, events = run_to_end(cfg, tmp_path / "r")
    failure = events.of(Failure)[0]
    assert "restored step" in failure.message and "non-finite" in failure.message
    saved = list((tmp_path / "r" / "checkpoints").glob("last-good-*.pt"))
    assert len(saved) == 1
    state = torch.load(saved[0], weights_only=True)
    assert finite_state(state)
    resumed = open_checkpoint(tmp_path / "r")
    again = Session.create(
        resume_config(resumed, ["train.lr_d=1e-4", "train.lr_g=1e-4"]), write=False, resume=resumed
    )
    for _ in range(20):
        again.trainer.iteration()
    assert first_nonfinite(again.trainer.named_live_tensors()) is None


def test_checkpoints_between_read_outs_are_never_written_non_finite(tmp_path: Path) -> None:
    """Issue 10.2: checkpoint_every = 7 with every = 10 wrote NaN checkpoints between read-outs."""
    cfg = smoke_config(
        "train.steps=400",
        "train.optimizer=sgd",
        "train.lr_d=10",
        "train.lr_g=10",
        "log.every=10",
        "log.checkpoint_every=7",
    )
    run_to_end(cfg, tmp_path / "r")
    files = list((tmp_path / "r" / "checkpoints").glob("*.pt"))
    assert files
    for path in files:
        assert finite_state(ckpt.load(path)), path.name  # load() validates finiteness too
    events = [json.loads(line) for line in (tmp_path / "r" / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "failure" for e in events)


def test_a_non_finite_checkpoint_is_refused_with_the_tensor_named(tmp_path: Path) -> None:
    session = Session.create(smoke_config(), write=False)
    session.trainer.iteration()
    state = ckpt.capture(session.trainer, config=session.config.as_dict(), history=[])
    first = next(iter(state["opt_g"]["state"].values()))
    first["exp_avg"].fill_(float("nan"))
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    try:
        ckpt.load(path)
    except ckpt.CheckpointError as exc:
        assert "non-finite" in str(exc) and "opt_g.state" in str(exc) and "exp_avg" in str(exc)
    else:
        raise AssertionError("a non-finite checkpoint must be refused")


def test_the_failure_message_names_what_blew_up(tmp_path: Path) -> None:
    runner = Runner(
        Session.create(smoke_config("train.steps=0"), run_dir=tmp_path / "r"), exit_when_done=False
    )
    events = Events()
    runner.start(events)
    try:
        events.wait_for(lambda e: getattr(e, "reason", "") == "started")
        original = runner.trainer._d_update

        def poison() -> None:
            original()
            with torch.no_grad():
                next(iter(runner.trainer.D.parameters()))[0, 0] = float("nan")

        runner.trainer._d_update = poison
        failure = events.wait_for(lambda e: isinstance(e, Failure))
        first = next(iter(runner.trainer.D.named_parameters()))[0]
        assert failure.message.startswith(f"loss_d, grad_norm_d, D parameter {first}"), failure.message
    finally:
        runner.send(Stop(save=False))
        assert runner.join(20)
