"""Image-quality evaluations in a real run: on schedule and on request, in chunks, with the EMA, logged
with the step they judged, kept across a checkpoint (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gantui.engine import checkpoint as ckpt
from gantui.engine.runner import Runner
from gantui.engine.session import Session, open_checkpoint, resume_config
from gantui.presets import load_config
from gantui.protocol import (
    Evaluate,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    Pause,
    Progress,
    Step,
    Stop,
)
from tests.engine_helpers import Events, smoke_config

DIGITS = ("train.threads=1", "train.steps=0", "eval.every=200", "eval.samples=500", "eval.budget=1",
          "log.png_every=0", "log.checkpoint_every=0")


def test_a_digits_run_evaluates_on_schedule_with_its_ema_and_logs_the_step_it_judged(tmp_path: Path) -> None:
    runner = Runner(Session.create(load_config("digits-mlp", list(DIGITS)), run_dir=tmp_path / "r"),
                    exit_when_done=False)
    events = Events()
    runner.start(events)
    try:
        # A periodic evaluation is a line in the log (a marker only when the user asked for it).
        done = events.wait_for(lambda e: isinstance(e, Notice) and "for G's EMA at step" in e.message,
                               timeout=120)
        row = events.wait_for(lambda e: isinstance(e, MetricsBatch) and "eval_at" in e.columns
                              and (e.column("eval_at") == e.column("eval_at")).any())
        assert any(isinstance(e, Progress) and e.task == "evaluated" and e.done == e.total == 500
                   for e in events.items)
        samples = events.wait_for(lambda e: isinstance(e, ImageSamples))
        assert samples.generator == "ema"
        runner.send(Pause())
        events.wait_for(lambda e: getattr(e, "reason", "") == "paused")
        while runner.quality.busy:  # a periodic one may still be finishing: its result comes first
            events.wait_for(lambda e: isinstance(e, Notice), after=len(events) - 1, timeout=60)
        runner.send(Step("iteration"))  # a step of its own: two results at one step merge into one row
        mark = len(events)
        runner.send(Evaluate())
        asked = events.wait_for(lambda e: isinstance(e, Intervention) and e.kind == "eval", after=mark,
                                timeout=120)
        assert asked.label == "eval"
    finally:
        runner.send(Stop(save=True))
        assert runner.join(60)
    assert "for G's EMA at step 200" in done.message
    assert any("digits classifier" in e.message and "test accuracy" in e.message for e in events.of(Notice))
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    judged = [r for r in rows if "eval_at" in r]
    assert judged and judged[0]["eval_at"] == 200 and judged[0]["step"] >= 200 and judged[0]["eval_ema"] == 1
    for key in ("fd_classifier", "kid", "precision", "recall", "density", "coverage", "classes_covered"):
        assert key in judged[0], key
    assert isinstance(judged[0]["classes_covered"], int) and row is not None
    state = torch.load(next((tmp_path / "r" / "checkpoints").glob("final-*.pt")), weights_only=True)
    assert state["g_ema"]["updates"] == state["g_steps"]


def test_the_ema_survives_a_checkpoint_exactly(tmp_path: Path) -> None:
    cfg = load_config("digits-mlp", ["train.threads=1", "eval.every=0"])
    first = Session.create(cfg, write=False)
    for _ in range(30):
        first.trainer.iteration()
    path = ckpt.save(tmp_path / "c.pt", ckpt.capture(first.trainer, config=cfg.as_dict(), history=[]))
    for _ in range(10):
        first.trainer.iteration()
    resumed = open_checkpoint(path)
    again = Session.create(resume_config(resumed), write=False, resume=resumed)
    for _ in range(10):
        again.trainer.iteration()
    for a, b in zip(first.trainer.ema.model.parameters(), again.trainer.ema.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_evaluating_a_toy_run_says_why_not(tmp_path: Path) -> None:
    runner = Runner(Session.create(smoke_config("train.steps=0"), write=False), exit_when_done=False)
    events = Events()
    runner.start(events)
    try:
        runner.send(Evaluate())
        note = events.wait_for(lambda e: isinstance(e, Notice) and "image data" in e.message)
        assert note.level == "warning"
    finally:
        runner.send(Stop(save=False))
        assert runner.join(20)
