"""The CUDA-graph fast path: when capture is tried, when it falls back, invalidation, counters.

On the CPU a fake backend stands in for CUDA: its "graph" remembers the settings it was captured
under and, on replay, checks that they still hold (a stale graph would fail the test) and then runs
the captured body. The one test that needs a GPU compares real graph replays with eager training.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from gantui.engine.data import build_sampler
from gantui.engine.graphs import WARMUP_ITERATIONS, IterationGraph, graph_blocker
from gantui.engine.trainer import Trainer
from tests.engine_helpers import smoke_config
from tests.test_trainer import make_trainer


class FakeGraph:
    def __init__(self, trainer: Trainer, body) -> None:
        self.trainer, self.body = trainer, body
        self.knobs = dataclasses.replace(trainer.knobs)
        self.objects = (trainer.loss, trainer.opt_d, trainer.opt_d.state, trainer.opt_g, trainer.opt_g.state)

    def replay(self) -> None:
        t = self.trainer
        assert t.knobs == self.knobs, "replayed a graph captured under other settings"
        now = (t.loss, t.opt_d, t.opt_d.state, t.opt_g, t.opt_g.state)
        assert all(a is b for a, b in zip(now, self.objects, strict=True)), "replayed a stale graph"
        self.body()


class FakeBackend:
    def __init__(self, trainer: Trainer, fail: Exception | None = None) -> None:
        self.trainer, self.fail = trainer, fail
        self.warmups = 0
        self.graphs: list[FakeGraph] = []

    def warm_up(self, body) -> None:
        self.warmups += 1
        body()

    def capture(self, body, generators) -> FakeGraph:
        assert list(generators) == [self.trainer.noise, self.trainer.sampler.generator]
        if self.fail is not None:
            raise self.fail
        self.graphs.append(FakeGraph(self.trainer, body))
        return self.graphs[-1]


def graphed(*overrides: str, fail: Exception | None = None,
            check_optimizers: bool = False) -> tuple[Trainer, FakeBackend]:
    """A CPU trainer whose graph machinery uses the fake backend (its CPU Adam is not capturable, so
    the capturable check is skipped unless asked for)."""
    t = make_trainer(*overrides)
    backend = FakeBackend(t, fail)
    t.graph = IterationGraph(generators=[t.noise, t.sampler.generator], blocked=None, backend=backend,
                             optimizers=(lambda: (t.opt_d, t.opt_g)) if check_optimizers else tuple)
    return t, backend


def test_cpu_runs_eagerly_and_says_why() -> None:
    t = make_trainer()
    assert t.graph_status.startswith("off: CUDA graphs need a CUDA device")
    t.iteration()
    assert (t.graph.captures, t.graph.replays) == (0, 0)


def test_blocker_reasons() -> None:
    cuda = torch.device("cuda")
    assert graph_blocker(enabled=False, device=cuda, sampler=None) == "off: train.cuda_graph = false"

    class Streaming:  # a StreamingSampler has no device generator
        pass

    assert "DataLoader" in graph_blocker(enabled=True, device=cuda, sampler=Streaming())


def test_replays_advance_counters_and_parameters_exactly_as_eager() -> None:
    eager = make_trainer("train.k=2")
    fast, backend = graphed("train.k=2")
    for _ in range(7):
        eager.iteration()
        fast.iteration()
    # 3 warm-up iterations, then one capture whose replay is the 4th iteration, then 3 more replays.
    assert (backend.warmups, len(backend.graphs), fast.graph.replays) == (WARMUP_ITERATIONS, 1, 7 - 3)
    assert fast.graph_status == "on"
    assert (fast.step, fast.d_steps, fast.g_steps) == (eager.step, eager.d_steps, eager.g_steps) == (7, 14, 7)
    for a, b in zip(eager.live_tensors(), fast.live_tensors(), strict=True):
        assert torch.equal(a, b)
    row_e, row_f = eager.readout(), fast.readout()
    assert row_e.keys() == row_f.keys()
    assert all(row_e[n] == row_f[n] or (math.isnan(row_e[n]) and math.isnan(row_f[n])) for n in row_e)


@pytest.mark.parametrize("change", [
    lambda t: t.set_k(3),
    lambda t: t.set_lr("d", 0.01),
    lambda t: t.set_lr("g", 0.01),
    lambda t: t.set_loss("hinge"),
    lambda t: t.set_loss("nonsaturating", reset_optimizers=True),
    lambda t: t.freeze("d", True),
    lambda t: t.freeze("g", True),
    lambda t: t.opt_d.load_state_dict(t.opt_d.state_dict()),  # a checkpoint restore replaces state
    lambda t: t.invalidate_graph(),
])
def test_every_change_re_captures_before_the_next_replay(change) -> None:
    t, backend = graphed()
    for _ in range(WARMUP_ITERATIONS + 2):
        t.iteration()
    assert len(backend.graphs) == 1
    change(t)
    for _ in range(WARMUP_ITERATIONS + 1):  # FakeGraph.replay fails if the old graph is replayed
        t.iteration()
    assert (backend.warmups, len(backend.graphs)) == (2 * WARMUP_ITERATIONS, 2)


def test_unchanged_settings_keep_the_graph() -> None:
    t, backend = graphed("train.k=2")
    for _ in range(WARMUP_ITERATIONS + 1):
        t.iteration()
    t.set_k(2)
    t.set_lr("d", t.knobs.lr_d)
    for _ in range(3):
        t.iteration()
    assert len(backend.graphs) == 1 and t.graph.replays == 4


def test_both_players_frozen_does_no_device_work_but_counts_the_iteration() -> None:
    t, backend = graphed()
    t.freeze("d", True)
    t.freeze("g", True)
    for _ in range(5):
        t.iteration()
    assert backend.warmups == 0 and (t.step, t.d_steps, t.g_steps) == (5, 0, 0)


def test_a_failed_capture_falls_back_to_eager_without_losing_the_iteration() -> None:
    eager = make_trainer()
    t, backend = graphed(fail=RuntimeError("operation not permitted when stream is capturing\nmore"))
    for _ in range(WARMUP_ITERATIONS + 3):
        t.iteration()
        eager.iteration()
    assert t.graph_status == ("off: capture failed (RuntimeError: operation not permitted when stream "
                              "is capturing)")
    assert t.step == eager.step and t.d_steps == eager.d_steps
    for a, b in zip(eager.live_tensors(), t.live_tensors(), strict=True):
        assert torch.equal(a, b)
    t.set_k(2)  # no more attempts once off
    t.iteration()
    assert backend.warmups == WARMUP_ITERATIONS


def test_a_non_capturable_optimizer_is_refused_before_capture() -> None:
    t, backend = graphed(check_optimizers=True)  # built on the CPU, so Adam has capturable=False
    for _ in range(WARMUP_ITERATIONS + 1):
        t.iteration()
    assert backend.graphs == [] and t.graph_status == "off: Adam is not capturable"


def test_loading_a_state_keeps_this_optimizers_implementation_flags() -> None:
    t = make_trainer()
    t.iteration()
    flags = ("fused", "foreach", "capturable")
    mine = tuple(t.opt_d.param_groups[0][f] for f in flags)
    assert mine == (True, None, False)  # fused Adam on the CPU
    saved = t.opt_d.state_dict()
    saved["param_groups"][0].update(fused=None, foreach=True, capturable=True)  # as another device saved it
    t.opt_d.load_state_dict(saved)
    assert tuple(t.opt_d.param_groups[0][f] for f in flags) == mine
    assert t.opt_d.state[t.d_params[0]]["step"].device.type == "cpu"
    t.iteration()  # a capturable step on the CPU would raise here


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp", "wgan"])
def test_cuda_graph_replays_match_eager_training(loss: str) -> None:
    device = torch.device("cuda")

    def build(graph: bool) -> Trainer:
        cfg = smoke_config(f"loss.name={loss}", "train.k=2", f"train.cuda_graph={str(graph).lower()}")
        torch.manual_seed(cfg.train.seed)
        sampler = build_sampler(cfg.data, device=device, seed=cfg.train.seed)
        return Trainer(cfg, sampler=sampler, device=device)

    eager, fast = build(False), build(True)
    for _ in range(20):
        eager.iteration()
        fast.iteration()
    assert fast.graph_status == "on", fast.graph_status
    assert fast.graph.replays == 20 - WARMUP_ITERATIONS
    assert (fast.step, fast.d_steps, fast.g_steps) == (eager.step, eager.d_steps, eager.g_steps)
    # Same random streams (registered generators advance as in eager), same kernels: close results.
    for a, b in zip(eager.G.parameters(), fast.G.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)
    row_e, row_f = eager.readout(), fast.readout()
    for name in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert row_f[name] == pytest.approx(row_e[name], rel=1e-3, abs=1e-4), name
    # Read-outs between replays see the updated parameters; a changed k is re-captured.
    fast.set_k(1)
    for _ in range(WARMUP_ITERATIONS + 2):
        fast.iteration()
    assert fast.graph.captures == 2 and fast.graph_status.startswith("on")
