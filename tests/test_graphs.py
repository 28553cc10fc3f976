"""The CUDA-graph fast path: when capture is tried, what re-captures and what does not, failures.

On the CPU a strict fake backend stands in for CUDA (tests/graph_fakes.py): a capture records what
the step's Python read, a replay fails the test when any of it changed without a re-capture. The
tests at the end need a GPU and compare real graph replays with eager training.
"""

from __future__ import annotations

import gc
import math
import warnings
import weakref

import pytest
import torch

from gantui.engine import checkpoint as ckpt
from gantui.engine import graphs
from gantui.engine.good_state import GoodState
from gantui.engine.graphs import (
    REWARMUP_STEPS,
    WARMUP_STEPS,
    capture_failure,
    graph_blocker,
    optimizer_blocker,
    root_cause,
)
from gantui.engine.probe import probe_trainer
from tests.graph_fakes import CAPTURE_END, graphed
from tests.test_trainer import make_trainer


def same_state(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.live_tensors(), b.live_tensors(), strict=True))


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
    assert graph_blocker(enabled=True, device=cuda, sampler=Streaming(), compile_mode="max-autotune") == \
        "off: train.compile = max-autotune (torch.compile runs the steps instead)"


@pytest.mark.parametrize(("version", "blocked"), [("2.4.1+cu121", True), ("2.12.0", True),
                                                  ("2.13.0", False), ("2.14.1+cu130", False)])
def test_graphs_need_torch_2_13(monkeypatch, version: str, blocked: bool) -> None:
    # Before 2.13 a failed capture leaves the generators "capturing": the eager fallback would raise.
    monkeypatch.setattr(torch, "__version__", version)
    reason = graph_blocker(enabled=True, device=torch.device("cuda"), sampler=None)
    if blocked:
        assert reason == (f"off: CUDA graphs need torch >= 2.13 (this is torch {version}); "
                          "training runs eagerly")
    else:
        assert "DataLoader" in reason  # past the version check, stopped by the next one


def test_replays_advance_counters_and_parameters_exactly_as_eager() -> None:
    eager = make_trainer("train.k=2")
    fast, backend = graphed(make_trainer("train.k=2"))
    for _ in range(7):
        eager.iteration()
        fast.iteration()
    # D: 3 warm-up steps (iterations 1-2), captured at its 4th step; G: 3 warm-ups, captured at the 4th.
    assert (backend.warmups, len(backend.graphs)) == (2 * WARMUP_STEPS, 2)
    assert (fast.graph.d.replays, fast.graph.g.replays) == (14 - 3, 7 - 3)
    assert fast.graph_status == "on"
    assert (fast.step, fast.d_steps, fast.g_steps) == (eager.step, eager.d_steps, eager.g_steps) == (7, 14, 7)
    assert same_state(eager, fast)
    row_e, row_f = eager.readout(), fast.readout()
    assert row_e.keys() == row_f.keys()
    assert all(row_e[n] == row_f[n] or (math.isnan(row_e[n]) and math.isnan(row_f[n])) for n in row_e)


def warmed(*overrides: str):
    t, backend = graphed(make_trainer(*overrides))
    for _ in range(WARMUP_STEPS + 1):
        t.iteration()
    assert len(backend.graphs) == 2 and t.graph_status == "on"
    return t, backend


@pytest.mark.parametrize("change", [
    lambda t: t.set_k(3),
    lambda t: t.set_k(1),
    lambda t: t.set_lr("d", 0.01),
    lambda t: t.set_lr("g", 0.01),
    lambda t: t.freeze("d", True),
    lambda t: t.freeze("g", True),
    "good state",  # a NaN recovery restores in place: the graph's addresses stay valid
])
def test_cheap_changes_need_no_capture_and_train_as_eager(change) -> None:
    eager = make_trainer("train.k=2")
    for _ in range(WARMUP_STEPS + 1):
        eager.iteration()
    t, backend = warmed("train.k=2")
    if change == "good state":
        saved = [GoodState(), GoodState()]
        for g, trainer in zip(saved, (t, eager), strict=True):
            g.remember(trainer)
            trainer.iteration()
            g.restore(trainer)
    else:
        change(t)
        change(eager)
    for _ in range(3):  # FakeGraph.replay fails if a replay used a value baked before the change
        t.iteration()
        eager.iteration()
    assert (len(backend.graphs), backend.warmups) == (2, 2 * WARMUP_STEPS)
    assert same_state(eager, t)


def test_a_learning_rate_change_keeps_the_tensor_the_graph_reads() -> None:
    t, _ = warmed()
    live = t.lr_tensors["d"]
    t.set_lr("d", 0.125)
    assert t.opt_d.param_groups[0]["lr"] is live and live.item() == 0.125


@pytest.mark.parametrize(("overrides", "change", "recaptured"), [
    ((), lambda t: t.set_loss("hinge"), "DG"),
    ((), lambda t: t.set_loss("nonsaturating", reset_optimizers=True), "DG"),
    ((), lambda t: t.opt_d.load_state_dict(t.opt_d.state_dict()), "DG"),  # load replaces state tensors
    ((), lambda t: ckpt.restore(t, ckpt.capture(t, config={}, history=[])), "DG"),
    ((), lambda t: t.invalidate_graph(), "DG"),
    (("train.optimizer=sgd",), lambda t: t.set_lr("d", 0.01), "D"),  # SGD bakes a Python float lr
    (("train.optimizer=sgd",), lambda t: t.set_lr("g", 0.01), "G"),
    (("loss.name=wgan-gp",), lambda t: setattr(t, "gp_weight", 1.0), "D"),
    (("loss.name=wgan",), lambda t: setattr(t, "clip", 0.5), "D"),
    ((), lambda t: setattr(t, "batch_size", 16), "DG"),
    ((), lambda t: t.opt_g.param_groups[0].update(betas=(0.0, 0.9)), "G"),
])
def test_changes_a_capture_bakes_in_re_capture_that_players_step_only(overrides, change, recaptured) -> None:
    t, backend = warmed(*overrides)
    change(t)
    for _ in range(REWARMUP_STEPS + 2):
        t.iteration()
    assert len(backend.graphs) == 2 + len(recaptured)
    assert backend.warmups == 2 * WARMUP_STEPS + REWARMUP_STEPS * len(recaptured)  # one warm-up, not three
    assert (t.graph.d.captures, t.graph.g.captures) == (1 + ("D" in recaptured), 1 + ("G" in recaptured))
    assert t.graph_status == f"on (re-captured {len(recaptured)} time{'s' if len(recaptured) > 1 else ''})"


def test_the_fake_catches_a_baked_value_that_the_key_forgot(monkeypatch) -> None:
    # If the re-capture key ever misses a value the step reads, replays must fail on the CPU.
    t, _ = warmed("loss.name=wgan-gp")
    monkeypatch.setattr(t, "_d_key", lambda: ((), ()))  # a key that never changes
    t.graph.invalidate()
    for _ in range(REWARMUP_STEPS + 1):
        t.iteration()
    t.gp_weight = 1.0
    with pytest.raises(AssertionError, match=r"baked gp_weight = 10\.0"):
        t.iteration()
    t.gp_weight = 10.0
    t._acc_d = torch.zeros_like(t._acc_d)  # a replaced tensor: the graph would still add to the old one
    with pytest.raises(AssertionError, match="tensors were replaced: _acc_d"):
        t.iteration()


def test_unchanged_settings_keep_the_graphs() -> None:
    t, backend = warmed("train.k=2")
    t.set_k(2)
    t.set_lr("d", t.knobs.lr_d)
    t.set_loss(t.knobs.loss)  # the same registry entry: nothing to re-capture
    for _ in range(3):
        t.iteration()
    assert len(backend.graphs) == 2


def test_probe_and_single_steps_between_replays_keep_the_graphs() -> None:
    eager = make_trainer()
    for _ in range(WARMUP_STEPS + 1):
        eager.iteration()
    t, backend = warmed()
    for trainer in (eager, t):
        probe_trainer(trainer, steps=5)
        trainer.d_step()
        trainer.g_step()
        trainer.readout()
        trainer.iteration()
    assert len(backend.graphs) == 2 and t.graph.d.replays == 3
    assert same_state(eager, t)


def test_both_players_frozen_does_no_device_work_but_counts_the_iteration() -> None:
    t, backend = graphed(make_trainer())
    t.freeze("d", True)
    t.freeze("g", True)
    for _ in range(5):
        t.iteration()
    assert backend.warmups == 0 and (t.step, t.d_steps, t.g_steps) == (5, 0, 0)


def fallback_spy(t):
    """Record, at each eager D-step after the capture failed, whether D's gradients were dropped."""
    seen = []
    original = t._d_update

    def d_update():
        if not t.graph.enabled:
            seen.append(all(p.grad is None for p in t.d_params))
        original()

    t._d_update = d_update
    return seen


def test_a_capture_failing_mid_step_reports_its_cause_drops_its_gradients_and_trains_on() -> None:
    eager = make_trainer()
    cause = RuntimeError("operation not permitted when stream is capturing\n(more detail)")
    t, backend = graphed(make_trainer(), fail_inside=cause)
    seen = fallback_spy(t)
    for _ in range(WARMUP_STEPS + 3):
        t.iteration()
        eager.iteration()
    # The body's error, not capture_end's that followed it, and in one line.
    assert t.graph_status == ("off: capture failed (RuntimeError: operation not permitted when stream "
                              "is capturing)")
    assert seen[0] is True  # the gradients bound during the capture were dropped before the fallback
    gc.collect()
    assert backend.capture_grads and all(ref() is None for ref in backend.capture_grads)
    assert (t.step, t.d_steps) == (eager.step, eager.d_steps)
    assert same_state(eager, t)  # the failed capture ran nothing; the eager fallback did the step
    t.set_loss("hinge")  # no more attempts once off
    t.iteration()
    assert backend.warmups == 2 * WARMUP_STEPS and backend.graphs == []


def test_out_of_memory_during_capture_says_so() -> None:
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    t, _ = graphed(make_trainer(), fail_inside=oom)
    for _ in range(WARMUP_STEPS + 1):
        t.iteration()
    assert t.graph_status == ("off: capture needs more memory than the device has free "
                              "(OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB)")


def test_root_cause_walks_the_chain() -> None:
    try:
        try:
            raise ValueError("first")
        except ValueError:
            raise RuntimeError(CAPTURE_END)  # noqa: B904
    except RuntimeError as exc:
        assert root_cause(exc).args == ("first",)
        assert capture_failure(exc) == "off: capture failed (ValueError: first)"


def test_a_step_that_synchronises_is_never_captured() -> None:
    t, backend = graphed(make_trainer(), sync_at="gantui/engine/trainer.py:212")
    for _ in range(WARMUP_STEPS + 2):
        t.iteration()
    assert backend.graphs == [] and backend.sync_checks == 1
    assert t.graph_status == ("off: the D-step synchronises with the host at gantui/engine/trainer.py:212, "
                              "so it cannot be captured")


def test_a_non_capturable_optimizer_is_refused_before_capture() -> None:
    t, backend = graphed(make_trainer())
    for group in t.opt_d.param_groups:  # as make_optimizer builds it on the CPU
        group["capturable"] = False
    for _ in range(WARMUP_STEPS + 1):
        t.iteration()
    assert backend.graphs == [] and t.graph_status == "off: Adam is not capturable"
    assert optimizer_blocker([t.opt_g]) is None


def test_loading_a_state_keeps_this_optimizers_implementation_flags_and_live_lr() -> None:
    t = make_trainer()
    t.iteration()
    flags = ("fused", "foreach", "capturable")
    mine = tuple(t.opt_d.param_groups[0][f] for f in flags)
    assert mine == (True, None, False)  # fused Adam on the CPU
    live = t.opt_d.param_groups[0]["lr"]
    assert live is t.lr_tensors["d"]
    saved = ckpt._cpu(t.opt_d.state_dict())
    saved["param_groups"][0].update(fused=None, foreach=True, capturable=True, lr=torch.tensor(0.25))
    t.opt_d.load_state_dict(saved)
    assert tuple(t.opt_d.param_groups[0][f] for f in flags) == mine
    assert t.opt_d.param_groups[0]["lr"] is live and live.item() == 0.25  # the loaded value, in place
    assert t.opt_d.state[t.d_params[0]]["step"].device.type == "cpu"
    t.iteration()  # a capturable step on the CPU would raise here
    weakref.ref(live)  # still a tensor the optimiser reads


def test_an_sgd_checkpoint_lr_stays_a_python_number() -> None:
    t = make_trainer("train.optimizer=sgd")
    saved = t.opt_g.state_dict()
    saved["param_groups"][0]["lr"] = torch.tensor(0.5)  # as an optimiser that reads tensors saved it
    t.opt_g.load_state_dict(saved)
    assert t.opt_g.param_groups[0]["lr"] == 0.5 and isinstance(t.opt_g.param_groups[0]["lr"], float)


def test_the_sync_check_names_the_line_that_synchronised(monkeypatch) -> None:
    # CudaBackend's check, with torch.cuda's debug-mode switch stood in for: torch's "warn" mode turns a
    # synchronising op into a UserWarning raised at the Python line that called it.
    modes = []
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def body() -> None:
        warnings.warn("an unrelated warning", stacklevel=1)
        warnings.warn("called a synchronizing CUDA operation", stacklevel=1)  # the line to name

    line = body.__code__.co_firstlineno + 2
    warnings.simplefilter("ignore")  # shown before, or filtered: still recorded
    assert graphs._first_sync(body) == f"{__file__}:{line}"
    assert modes == ["warn", 0]  # switched on for the step, then back
    assert graphs._first_sync(lambda: None) is None


class FailedGraph:
    def __init__(self, ended: bool) -> None:
        self.ended = ended

    def pool(self):
        if not self.ended:
            raise RuntimeError("Called CUDAGraph::pool() without a preceding successful capture.")
        return (1, 0)


@pytest.mark.parametrize("ended", [False, True])
def test_a_failed_capture_hands_its_pool_back_exactly_once(monkeypatch, ended: bool) -> None:
    calls = []
    monkeypatch.setattr(torch._C, "_cuda_endAllocateToPool", lambda i, p: calls.append(("end", i, p)),
                        raising=False)

    def release(i, p):
        calls.append(("release", i, p))
        raise RuntimeError("already released")  # suppressed: the part of capture_end that ran did it

    monkeypatch.setattr(torch._C, "_cuda_releasePool", release, raising=False)
    graphs._release_failed_capture(FailedGraph(ended), (0, 7), torch.device("cuda", 1))
    # A capture that ended is released by the graph's destructor: releasing it here too would be twice.
    assert calls == ([] if ended else [("end", 1, (0, 7)), ("release", 1, (0, 7))])


# ------------------------------------------------------------------------------------------ CUDA
# Real graphs against eager training from the same seed, with the same mid-run script applied to both
# (bench/gpu_check.py runs the same cases, with timings). Skipped without CUDA.

def cuda_trainer(overrides: tuple[str, ...], graph: bool):
    from gantui.engine.data import build_sampler
    from gantui.engine.trainer import Trainer
    from tests.engine_helpers import smoke_config

    cfg = smoke_config(*overrides, f"train.cuda_graph={str(graph).lower()}")
    device = torch.device("cuda", torch.cuda.current_device())
    torch.manual_seed(cfg.train.seed)
    return Trainer(cfg, sampler=build_sampler(cfg.data, device=device, seed=cfg.train.seed), device=device)


def act(t, a: tuple) -> None:
    kind = a[0]
    if kind == "it":
        for _ in range(a[1]):
            t.iteration()
    elif kind == "lr":
        t.set_lr(a[1], a[2])
    elif kind == "k":
        t.set_k(a[1])
    elif kind == "loss":
        t.set_loss(a[1])
    elif kind == "freeze":
        t.freeze(a[1], a[2])
    elif kind == "probe":
        probe_trainer(t, steps=10)
    elif kind == "readout":
        t.readout()
    elif kind == "ckpt":
        ckpt.restore(t, ckpt.capture(t, config={}, history=[]))
    elif kind == "good":
        good = GoodState()
        good.remember(t)
        act(t, ("it", a[1]))
        good.restore(t)
    elif kind == "step_d":
        t.d_step()
    elif kind == "step_g":
        t.g_step()


MID_RUN = (("it", 6), ("lr", "d", 5e-4), ("it", 4), ("k", 3), ("it", 4), ("readout",), ("probe",),
           ("it", 3), ("freeze", "g", True), ("it", 3), ("freeze", "g", False), ("step_d",), ("step_g",),
           ("it", 3), ("ckpt",), ("it", 3), ("good", 2), ("it", 3), ("lr", "g", 3e-4), ("it", 4))
PLAIN = (("it", 20),)
IMAGES = ("data.name=fake", "data.fake_size=256", "data.on_device=yes")
DCGAN = (*IMAGES, "data.channels=3", "data.image_size=32", "model.name=dcgan", "model.width=8",
         "model.z_dim=16", "train.batch_size=16")
CUDA_CASES = {
    "mlp-ns-k2": (("loss.name=nonsaturating", "train.k=2"), PLAIN, 1e-3),
    "mlp-wgangp-midrun": (("loss.name=wgan-gp", "train.k=2"), MID_RUN, 1e-3),
    "mlp-wgan-rmsprop": (("loss.name=wgan", "train.optimizer=rmsprop", "train.k=3"), MID_RUN, 1e-3),
    "mlp-lsgan-sgd": (("loss.name=lsgan", "train.optimizer=sgd"), MID_RUN, 1e-3),
    "mlp-dragan": (("loss.name=dragan",), MID_RUN, 1e-3),
    "mlp-rsgan-sn": (("loss.name=rsgan", "model.spectral_norm=true"), MID_RUN, 1e-3),
    "mlp-loss-switch": (("loss.name=nonsaturating",),
                        (("it", 5), ("loss", "wgan-gp"), ("it", 5), ("loss", "ragan"), ("it", 5),
                         ("loss", "hinge"), ("it", 5)), 1e-3),
    "mlp-images-on-device": ((*IMAGES, "data.channels=1", "data.image_size=28"), MID_RUN, 1e-3),
    "dcgan-bn": ((*DCGAN, "loss.name=nonsaturating"), MID_RUN, 1e-2),
    "dcgan-bn-bf16": ((*DCGAN, "loss.name=nonsaturating", "train.amp=bf16"), PLAIN, 5e-2),
    "dcgan-wgangp-sn-bf16": ((*DCGAN, "loss.name=wgan-gp", "model.batchnorm_d=false",
                              "model.spectral_norm=true", "train.amp=bf16", "train.k=2"), PLAIN, 5e-2),
    "dcgan-ragan": ((*DCGAN, "loss.name=ragan"), PLAIN, 1e-2),
}


def rel_diff(a, b) -> float:
    num = den = 0.0
    for x, y in zip(a.live_tensors(), b.live_tensors(), strict=True):
        x, y = x.detach().double(), y.detach().double()
        num += float((x - y).square().sum())
        den += float(x.square().sum())
    return (num / max(den, 1e-30)) ** 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", list(CUDA_CASES))
def test_cuda_graph_replays_match_eager_training(case: str) -> None:
    overrides, script, tol = CUDA_CASES[case]
    eager, fast = cuda_trainer(overrides, False), cuda_trainer(overrides, True)
    for a in script:
        act(eager, a)
        act(fast, a)
    assert fast.graph_status.startswith("on"), fast.graph_status
    assert fast.graph.replays > 0
    assert (fast.step, fast.d_steps, fast.g_steps) == (eager.step, eager.d_steps, eager.g_steps)
    assert rel_diff(eager, fast) < tol  # every parameter, buffer and optimiser state
    row_e, row_f = eager.readout(), fast.readout()
    for name in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert row_f[name] == pytest.approx(row_e[name], rel=10 * tol, abs=10 * tol), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_cheap_changes_do_not_re_capture_and_a_synchronising_step_is_never_captured() -> None:
    t = cuda_trainer(("loss.name=nonsaturating",), True)
    act(t, ("it", WARMUP_STEPS + 1))
    assert t.graph.captures == 2
    for a in (("lr", "d", 1e-3), ("lr", "g", 1e-3), ("k", 4), ("freeze", "d", True), ("it", 2),
              ("freeze", "d", False), ("it", 2)):
        act(t, a)
    assert t.graph.captures == 2 and t.graph_status == "on"
    synced = cuda_trainer(("loss.name=nonsaturating",), True)
    original = synced._g_update

    def g_update_with_a_sync() -> None:
        original()
        synced._acc_g.sum().item()  # a host read inside the step

    synced._g_update = g_update_with_a_sync
    act(synced, ("it", WARMUP_STEPS + 2))
    status = synced.graph_status
    assert status.startswith("off: the G-step synchronises with the host at"), status
    assert synced.graph.g.captures == 0
