"""The trainer on its own: Algorithm 1's bookkeeping, read-outs against hand values, no host syncs."""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch

from gantui.engine.data import build_sampler
from gantui.engine.trainer import Trainer
from tests.engine_helpers import smoke_config

LN2 = math.log(2.0)


def make_trainer(*overrides: str) -> Trainer:
    cfg = smoke_config(*overrides)
    device = torch.device("cpu")
    torch.manual_seed(cfg.train.seed)
    return Trainer(cfg, sampler=build_sampler(cfg.data, device=device, seed=cfg.train.seed), device=device)


def count_steps(opt: torch.optim.Optimizer) -> list[int]:
    """Wrap ``opt.step`` to count optimiser updates."""
    calls = [0]
    original = opt.step

    def step(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    opt.step = step
    return calls


@pytest.mark.parametrize("k", [1, 3, 5])
def test_one_iteration_is_k_d_steps_then_one_g_step(k: int) -> None:
    t = make_trainer(f"train.k={k}")
    d_calls, g_calls = count_steps(t.opt_d), count_steps(t.opt_g)
    order: list[str] = []
    t.D.register_forward_hook(lambda *a: order.append("D"))
    for _ in range(4):
        t.iteration()
    assert (d_calls[0], g_calls[0]) == (4 * k, 4)
    assert (t.d_steps, t.g_steps, t.step) == (4 * k, 4, 4)
    # Each D-step calls D twice (real, fake); the G-step once: the first iteration is 2k D calls, then 1.
    assert order[: 2 * k + 1] == ["D"] * (2 * k + 1)


def test_each_d_step_draws_a_fresh_real_minibatch() -> None:
    t = make_trainer("train.k=3")
    drawn: list[torch.Tensor] = []
    original = t.sampler.sample
    t.sampler.sample = lambda n: drawn.append(original(n)) or drawn[-1]
    t.iteration()
    assert len(drawn) == 3
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[1], drawn[2])


def test_set_k_applies_from_the_next_iteration() -> None:
    t = make_trainer("train.k=1")
    t.iteration()
    t.set_k(4)
    t.iteration()
    assert t.d_steps == 1 + 4


def test_frozen_players_take_no_steps() -> None:
    t = make_trainer("train.k=2")
    g_before = [p.detach().clone() for p in t.G.parameters()]
    t.freeze("g", True)
    t.iteration()
    assert (t.d_steps, t.g_steps) == (2, 0)
    assert all(torch.equal(a, b) for a, b in zip(g_before, t.G.parameters(), strict=True))
    t.freeze("g", False)
    t.freeze("d", True)
    t.iteration()
    assert (t.d_steps, t.g_steps) == (2, 1)


def test_readout_of_an_indifferent_discriminator_matches_the_theory() -> None:
    # D with all-zero weights outputs v = 0, so D(x) = D(G(z)) = 1/2 exactly. With lr_d = 0 it stays
    # there. Then L_D = 2 ln 2, the non-saturating L_G = ln 2 and the JSD bound ln 2 - L_D/2 = 0
    # (GAN_THEORY.md's reference values at v = 0).
    t = make_trainer("train.lr_d=0.0", "train.k=2")
    with torch.no_grad():
        for p in t.D.parameters():
            p.zero_()
    for _ in range(3):
        t.iteration()
    row = t.readout()
    assert row["d_real"] == pytest.approx(0.5, abs=1e-7)
    assert row["d_fake"] == pytest.approx(0.5, abs=1e-7)
    assert row["loss_d"] == pytest.approx(2 * LN2, abs=1e-6)
    assert row["loss_g"] == pytest.approx(LN2, abs=1e-6)
    assert row["jsd_bound"] == pytest.approx(0.0, abs=1e-6)
    assert row["finite"] == 1.0
    # The window is reset: a read-out with no steps has no step means.
    assert math.isnan(t.readout()["loss_d"])


def test_readout_detects_a_non_finite_parameter() -> None:
    t = make_trainer()
    t.iteration()
    with torch.no_grad():
        next(t.G.parameters()).view(-1)[0] = float("nan")
    t.iteration()
    assert t.readout()["finite"] == 0.0


def test_iterations_never_synchronise_with_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading a tensor's value on the host (item, tolist, float, bool) is what forces a device sync.
    # torch.optim's own reads are allowed: they read the host-side step counter (on CUDA the fused
    # and capturable optimisers keep it on the device instead).
    t = make_trainer("loss.name=wgan-gp", "train.k=2")

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
    for _ in range(3):
        t.iteration()
    monkeypatch.undo()
    assert t.readout()["finite"] == 1.0


def test_loss_switch_keeps_optimiser_state_unless_reset() -> None:
    t = make_trainer()
    t.iteration()
    state = t.opt_d.state_dict()["state"]
    exp_avg = state[0]["exp_avg"].clone()
    t.set_loss("hinge")
    assert t.loss.name == "hinge"
    assert torch.equal(t.opt_d.state_dict()["state"][0]["exp_avg"], exp_avg)
    t.set_loss("wgan-gp", reset_optimizers=True)
    assert t.opt_d.state_dict()["state"] == {}


def test_wgan_clips_every_critic_weight_after_each_step() -> None:
    t = make_trainer("loss.name=wgan", "loss.clip=0.01", "train.lr_d=0.5")
    t.iteration()
    assert max(p.abs().max().item() for p in t.D.parameters()) <= 0.01 + 1e-9


def test_learning_rate_changes_reach_the_optimiser() -> None:
    t = make_trainer()
    t.set_lr("d", 0.125)
    t.set_lr("g", 0.5)
    assert [float(g["lr"]) for g in t.opt_d.param_groups] == [0.125]
    assert [float(g["lr"]) for g in t.opt_g.param_groups] == [0.5]
    with pytest.raises(ValueError):
        t.set_lr("d", float("nan"))


def test_measurements_do_not_move_the_training_streams() -> None:
    # Two trainers with the same seed; one is looked at (read-outs, samples) between iterations.
    a, b = make_trainer(), make_trainer()
    for _ in range(5):
        a.iteration()
        b.iteration()
        b.readout()
        b.generate(100)
    for pa, pb in zip(a.G.parameters(), b.G.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_the_g_step_gives_g_its_gradients_through_autograd_and_d_none() -> None:
    # backward(inputs=G's parameters): every G gradient goes through AccumulateGrad (which lays it out
    # like its parameter, as CUDA's fused Adam requires; an assigned p.grad = g would skip it) and D,
    # whose weights G's loss also reaches, gets none.
    t = make_trainer()
    accumulated: list[int] = []
    for i, p in enumerate(t.g_params):
        p.register_post_accumulate_grad_hook(lambda _p, i=i: accumulated.append(i))
    t.g_step()
    assert sorted(accumulated) == list(range(len(t.g_params)))
    assert all(p.grad is None for p in t.d_params)
    assert all(p.grad is not None and p.grad.stride() == p.stride() for p in t.g_params)


def test_windows_are_handed_out_in_order_with_their_counters() -> None:
    a, b = make_trainer("train.k=2"), make_trainer("train.k=2")
    rows = []
    for n in (2, 3):
        for _ in range(n):
            a.iteration()
            b.iteration()
        a.request_readout()
        rows.append(b.readout())
    assert a.pending_readouts == 2
    windows = a.ready_readouts()  # on the CPU a window is ready as soon as it is closed
    assert [(w.step, w.d_steps, w.g_steps) for w in windows] == [(2, 4, 2), (5, 10, 5)]
    for w, row in zip(windows, rows, strict=True):
        assert w.values.keys() == row.keys()
        assert all(w.values[k] == row[k] or (math.isnan(w.values[k]) and math.isnan(row[k])) for k in row)
    assert a.ready_readouts() == [] and a.pending_readouts == 0


def test_a_synchronous_readout_keeps_earlier_windows_for_later() -> None:
    t = make_trainer()
    t.iteration()
    t.request_readout()
    t.iteration()
    t.iteration()
    assert t.readout()["finite"] == 1.0
    assert [w.step for w in t.ready_readouts()] == [1]


def test_compile_is_off_by_default_and_refused_in_one_line_where_it_cannot_work() -> None:
    from gantui.config import ConfigError
    from gantui.engine.device import DeviceError

    assert make_trainer().compile_mode == "off"
    cfg = smoke_config("train.compile=max-autotune")
    device = torch.device("cpu")
    sampler = build_sampler(cfg.data, device=device, seed=0)
    with pytest.raises(DeviceError) as err:
        Trainer(cfg, sampler=sampler, device=device)
    assert str(err.value) == ("train.compile = 'max-autotune' needs a CUDA device (this run trains on cpu); "
                              "use train.compile = off")
    with pytest.raises(ConfigError, match=r"train\.compile = 'fast': expected one of off, reduce-overhead"):
        smoke_config("train.compile=fast")


def test_learning_rates_are_device_tensors_only_where_graphs_can_run(monkeypatch) -> None:
    assert isinstance(make_trainer().opt_d.param_groups[0]["lr"], torch.Tensor)  # fused Adam, torch 2.14
    assert isinstance(make_trainer("train.optimizer=sgd").opt_d.param_groups[0]["lr"], float)
    monkeypatch.setattr(torch, "__version__", "2.12.1")  # no graphs there: plain floats, as before
    t = make_trainer()
    assert isinstance(t.opt_d.param_groups[0]["lr"], float)
    t.set_lr("d", 0.25)
    assert t.opt_d.param_groups[0]["lr"] == 0.25
