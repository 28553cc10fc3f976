"""Conditional runs end to end: a short digits run on the runner's thread, checkpoints, refusals, and the
trainer's contract (no host sync in a step, any loss, looking never changes the run)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gantui.config import ConfigError
from gantui.engine import checkpoint as ckpt
from gantui.engine.losses import LOSSES
from gantui.engine.observe import Observer
from gantui.engine.runner import Runner
from gantui.engine.session import Session, open_checkpoint, resume_config
from gantui.presets import load_config
from gantui.protocol import Finished, ImageSamples, MetricsBatch
from tests.engine_helpers import Events
from tests.quality_helpers import digits_classifier, quality_cache


def session(preset: str, *overrides: str) -> Session:
    return Session.create(load_config(preset, ["train.threads=1", *overrides]), write=False)


def params(s: Session) -> list[torch.Tensor]:
    return [p.detach().clone() for p in (*s.trainer.G.parameters(), *s.trainer.D.parameters())]


@pytest.fixture
def classifier_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder holding the digits classifier (trained once per test session, then copied)."""
    digits_classifier()
    root = tmp_path / "cache"
    shutil.copytree(quality_cache() / "classifiers", root / "gantui" / "classifiers")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    return root


def as_unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@pytest.mark.slow
def test_a_short_digits_cgan_run_draws_the_classes_it_is_asked_for(classifier_cache) -> None:
    s = session("digits-cgan", "train.steps=500", "cond.eval_every=100", "log.samples_every_s=0.2")
    runner = Runner(s, exit_when_done=True)
    events = Events()
    runner.start(events)
    events.wait_for(lambda e: isinstance(e, Finished), timeout=120)
    assert runner.join(10)
    rows = [r for e in events.of(MetricsBatch) for r in e.rows() if "label_accuracy" in r]
    assert rows, "no label_accuracy was read out"
    # A generator that ignores its label scores 1/10 on balanced labels (± 0.01 on 1000 images): 0.2 is
    # ten standard deviations above chance.
    assert rows[-1]["label_accuracy"] > 0.2, [(r["step"], r["label_accuracy"]) for r in rows]
    # The grid's rows are the requested classes: the classifier's majority verdict on row r is r.
    grid = events.of(ImageSamples)[-1]
    assert grid.label_kind == "class" and grid.label_names == tuple(str(i) for i in range(10))
    assert grid.labels.tolist() == np.repeat(np.arange(10), grid.columns).tolist()
    with torch.no_grad():
        verdict = digits_classifier().network(as_unit(grid.fake)).argmax(1).view(10, grid.columns)
    majority = torch.mode(verdict, dim=1).values
    assert int((majority == torch.arange(10)).sum()) >= 7, majority.tolist()
    # The panel's caption shows the read-outs: a grid sent after a measurement carries its value.
    measured = {r["label_accuracy"] for r in rows}
    assert any(dict(e.scores).get("label_accuracy") in measured for e in events.of(ImageSamples))


def test_infogan_reads_out_its_bounds_beside_the_ceiling() -> None:
    s = session("digits-infogan")
    t = s.trainer
    for _ in range(3):
        t.iteration()
    row = t.readout()
    assert 0.0 <= row["mi_bound"] <= np.log(10) and row["mi_cont"] >= 0.0
    observer = Observer(t)
    observer.condition_metrics(row, lambda level, message: None)
    scores = dict(observer.samples().scores)
    assert scores["mi_ceiling"] == pytest.approx(np.log(10)) and scores["mi_bound"] == row["mi_bound"]


@pytest.mark.parametrize(("preset", "keys"), [
    ("digits-cgan", {"G": "embed.weight", "D": "embed.weight"}),
    ("digits-infogan", {"D": "aux.2.weight"}),
    ("digits-cgan --set cond.d=acgan", {"D": "aux.weight"}),
])
def test_resume_keeps_the_embedding_and_q_and_continues_exactly(tmp_path: Path, preset: str, keys) -> None:
    name, *extra = preset.split(" --set ")
    cfg = load_config(name, ["train.threads=1", "train.k=2", *extra])
    straight = Session.create(cfg, write=False)
    for _ in range(30):
        straight.trainer.iteration()

    first = Session.create(cfg, write=False)
    observer = Observer(first.trainer)
    for step in range(15):
        first.trainer.iteration()
        if step % 4 == 0:  # being looked at (read-outs, the conditional grid) must not change the future
            first.trainer.readout()
            observer.samples()
    state = ckpt.capture(first.trainer, config=first.config.as_dict(), history=[])
    for who, key in keys.items():
        assert key in state[who]
    path = ckpt.save(tmp_path / "mid.pt", state)

    resumed = Session.create(resume_config(open_checkpoint(path)), write=False, resume=open_checkpoint(path))
    for _ in range(15):
        resumed.trainer.iteration()
    for a, b in zip(params(straight), params(resumed), strict=True):
        assert torch.equal(a, b)


def test_a_conditional_checkpoint_is_refused_by_an_unconditional_configuration(tmp_path: Path) -> None:
    s = session("digits-cgan")
    path = ckpt.save(tmp_path / "c.pt", ckpt.capture(s.trainer, config=s.config.as_dict(), history=[]))
    with pytest.raises(ckpt.CheckpointError) as info:
        Session.create(load_config("digits-mlp"), write=False, resume=open_checkpoint(path))
    message = str(info.value)
    assert message.startswith(f"{path}: holds a conditional GAN (class labels), but this configuration has "
                              "cond.kind = 'none'") and "\n" not in message
    with pytest.raises(ConfigError, match=r"--set cond.kind=none: cannot change when resuming"):
        resume_config(open_checkpoint(path), ["cond.kind=none"])


def test_an_unconditional_checkpoint_is_refused_by_infogan(tmp_path: Path) -> None:
    s = session("digits-mlp")
    path = ckpt.save(tmp_path / "u.pt", ckpt.capture(s.trainer, config=s.config.as_dict(), history=[]))
    with pytest.raises(ckpt.CheckpointError, match=r"holds an unconditional GAN, but this configuration has "
                                                    r"cond.kind = 'infogan'"):
        Session.create(load_config("digits-infogan"), write=False, resume=open_checkpoint(path))


@pytest.mark.parametrize("overrides", [["cond.kind=cgan", "cond.d=acgan"], ["cond.kind=infogan"],
                                       ["cond.kind=cgan", "cond.d=concat"]])
def test_conditional_iterations_never_synchronise_with_the_host(monkeypatch, overrides) -> None:
    t = session("digits-mlp", *overrides, "loss.name=wgan-gp", "train.k=2").trainer

    def forbid(name: str):
        original = getattr(torch.Tensor, name)

        def guarded(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if f"torch{os.sep}optim{os.sep}" not in caller:
                raise AssertionError(f"host read-back ({name}) inside a training step, from {caller}")
            return original(self, *args, **kwargs)

        return guarded

    for name in ("item", "tolist", "__float__", "__bool__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, forbid(name))
    for _ in range(2):
        t.iteration()
    monkeypatch.undo()
    assert t.readout()["finite"] == 1.0


@pytest.mark.parametrize("preset", ["digits-cgan", "digits-infogan"])
def test_every_loss_works_on_a_conditional_run_and_can_be_switched_mid_run(preset: str) -> None:
    t = session(preset).trainer
    for name in LOSSES:
        t.set_loss(name)
        t.iteration()
        row = t.readout()
        assert row["finite"] == 1.0, name
    assert "conditional on y" in t.loss.description or "InfoGAN" in t.loss.description


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("overrides", [["cond.kind=cgan"], ["cond.kind=cgan", "cond.d=acgan"],
                                       ["cond.kind=infogan"], ["cond.kind=cgan", "loss.name=wgan-gp"]])
def test_cuda_graph_replays_of_conditional_iterations_match_eager_training(overrides) -> None:
    from gantui.engine.data import build_sampler
    from gantui.engine.graphs import WARMUP_ITERATIONS
    from gantui.engine.trainer import Trainer

    device = torch.device("cuda")

    def build(graph: bool) -> Trainer:
        cfg = load_config("digits-mlp", ["train.threads=1", "train.k=2", "train.device=cuda", *overrides,
                                         f"train.cuda_graph={str(graph).lower()}"])
        torch.manual_seed(cfg.train.seed)
        sampler = build_sampler(cfg.data, device=device, seed=cfg.train.seed)
        return Trainer(cfg, sampler=sampler, device=device)

    eager, fast = build(False), build(True)
    for _ in range(20):
        eager.iteration()
        fast.iteration()
    assert fast.graph_status == "on", fast.graph_status
    assert fast.graph.replays == 20 - WARMUP_ITERATIONS
    players = [(eager.G, fast.G), (eager.D, fast.D)]
    for a, b in ((p, q) for e, f in players for p, q in zip(e.parameters(), f.parameters(), strict=True)):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)
    row_e, row_f = eager.readout(), fast.readout()
    for name in ("loss_d", "loss_g", "mi_bound", "ac_real"):
        if name in row_e:
            assert row_f[name] == pytest.approx(row_e[name], rel=1e-3, abs=1e-4), name
