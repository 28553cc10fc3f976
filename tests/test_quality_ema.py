"""The EMA of G's weights: the lerp by hand, its limits, buffers, checkpoints, and generating from it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gantui.engine.models import DCGANGenerator
from gantui.engine.quality.ema import EMA


def small_g() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


@torch.no_grad()
def train_step(g: nn.Module, seed: int) -> None:
    """Stand-in for a G-step: move every weight, and BatchNorm's running statistics with it."""
    gen = torch.Generator().manual_seed(seed)
    for p in g.parameters():
        p.add_(torch.randn(p.shape, generator=gen))
    g.train()
    g(torch.randn(8, 3, generator=gen))


def params(m: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def test_decay_zero_is_g_itself():
    g = small_g()
    ema = EMA(g, 0.0)
    for seed in range(3):
        train_step(g, seed)
        ema.update()
    assert all(torch.equal(a, b) for a, b in zip(params(ema.model), params(g), strict=True))


def test_decay_one_never_moves():
    g = small_g()
    start = params(g)
    ema = EMA(g, 1.0)
    for seed in range(3):
        train_step(g, seed)
        ema.update()
    assert all(torch.equal(a, b) for a, b in zip(params(ema.model), start, strict=True))


def test_two_steps_match_the_lerp_by_hand():
    g = small_g()
    beta = 0.9
    theta0 = params(g)
    ema = EMA(g, beta)
    train_step(g, 1)
    theta1 = params(g)
    ema.update()
    train_step(g, 2)
    theta2 = params(g)
    ema.update()
    for e, t0, t1, t2 in zip(params(ema.model), theta0, theta1, theta2, strict=True):
        by_hand = beta * (beta * t0 + (1 - beta) * t1) + (1 - beta) * t2
        assert torch.allclose(e, by_hand, atol=1e-6)
    assert ema.updates == 2


def test_buffers_are_copied_not_averaged():
    g = small_g()
    ema = EMA(g, 0.99)
    train_step(g, 3)
    ema.update()
    for a, b in zip(ema.model.buffers(), g.buffers(), strict=True):
        assert torch.equal(a, b)


def test_the_shadow_is_not_trained():
    g = small_g()
    ema = EMA(g, 0.5)
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert all(p.requires_grad for p in g.parameters())


def test_state_dict_round_trip_and_a_foreign_state_is_refused():
    g = small_g()
    ema = EMA(g, 0.9)
    train_step(g, 4)
    ema.update()
    saved = ema.state_dict()
    other = EMA(small_g(), 0.5)
    other.load_state_dict(saved)
    assert other.decay == 0.9 and other.updates == 1
    assert all(torch.equal(a, b) for a, b in zip(params(other.model), params(ema.model), strict=True))
    with pytest.raises(RuntimeError):
        EMA(nn.Linear(3, 2), 0.9).load_state_dict(saved)


def test_generating_from_the_shadow_touches_no_buffer_and_no_stream():
    g = DCGANGenerator(z_dim=8, width=4, channels=1, size=32)
    ema = EMA(g, 0.999)
    noise = torch.Generator().manual_seed(5)
    g_buffers = [b.clone() for b in g.buffers()]
    shadow_buffers = [b.clone() for b in ema.model.buffers()]
    noise_state, cpu_state = noise.get_state(), torch.get_rng_state()
    images = ema.generate(torch.randn(16, 8, generator=torch.Generator().manual_seed(6)))
    assert images.shape == (16, 1, 32, 32)
    assert all(torch.equal(a, b) for a, b in zip(g.buffers(), g_buffers, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ema.model.buffers(), shadow_buffers, strict=True))
    assert torch.equal(noise.get_state(), noise_state) and torch.equal(torch.get_rng_state(), cpu_state)


def test_a_bad_decay_is_refused():
    for decay in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            EMA(small_g(), decay)


def test_the_device_update_is_the_update_without_the_count():
    g1, g2 = small_g(), small_g()
    a, b = EMA(g1, 0.8), EMA(g2, 0.8)
    train_step(g1, 7)
    train_step(g2, 7)
    a.update()
    b.device_update()
    assert all(torch.equal(x, y) for x, y in zip(params(a.model), params(b.model), strict=True))
    assert (a.updates, b.updates) == (1, 0)
