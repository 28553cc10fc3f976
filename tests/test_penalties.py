"""The WGAN-GP and DRAGAN penalties on critics whose input gradients are known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gantui.engine.penalties import dragan_penalty, gradient_penalty


def linear_critic(w: list[float]) -> nn.Linear:
    """D(x) = w·x: ∇ₓD = w at every x, so ‖∇D‖ = ‖w‖ and the penalty is (‖w‖ − 1)² exactly."""
    critic = nn.Linear(len(w), 1, bias=False).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w], dtype=torch.float64))
    return critic


def batches(n: int = 16, dim: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=g, dtype=torch.float64),
            torch.randn(n, dim, generator=g, dtype=torch.float64) + 3.0)


def test_unit_gradient_critic_has_zero_penalty() -> None:
    # w = (0.6, 0.8): ‖w‖ = √(0.36 + 0.64) = 1 everywhere, so both penalties are 0 and the norm is 1.
    critic = linear_critic([0.6, 0.8])
    real, fake = batches()
    gp, norm = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-12) and norm.item() == pytest.approx(1.0, abs=1e-12)
    gp, norm = dragan_penalty(critic, real)
    assert gp.item() == pytest.approx(0.0, abs=1e-12) and norm.item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("which", ["wgan-gp", "dragan"])
def test_linear_critic_penalty_and_its_gradient(which: str) -> None:
    # w = (3, 4): ‖w‖ = 5, penalty (5 − 1)² = 16. Through create_graph it backpropagates to w:
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖ = 2·4·(0.6, 0.8) = (4.8, 6.4).
    critic = linear_critic([3.0, 4.0])
    real, fake = batches()
    gp, norm = gradient_penalty(critic, real, fake) if which == "wgan-gp" else dragan_penalty(critic, real)
    assert gp.item() == pytest.approx(16.0, rel=1e-12)
    assert norm.item() == pytest.approx(5.0, rel=1e-12) and not norm.requires_grad
    gp.backward()
    assert critic.weight.grad.tolist() == [pytest.approx([4.8, 6.4], rel=1e-12)]


def test_norm_is_per_sample_over_all_non_batch_dims() -> None:
    # D(x) = ½‖x‖² summed over (C, H, W): ∇D(x) = x, so ‖∇D(x̂)‖ = ‖x̂‖. With real = fake every x̂ is the
    # sample itself: sample 0 has all 4 entries 1 (norm 2), sample 1 all 0.25 (norm 0.5). Penalty
    # ½((2 − 1)² + (0.5 − 1)²) = ½(1 + 0.25) = 0.625; mean norm 1.25. One norm over the whole batch
    # (√(4 + 0.25) ≈ 2.06) or per element would give something else.
    x = torch.stack([torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.25)]).double()

    def critic(images: torch.Tensor) -> torch.Tensor:
        return 0.5 * images.square().sum(dim=(1, 2, 3))

    gp, norm = gradient_penalty(critic, x, x)
    assert gp.item() == pytest.approx(0.625, rel=1e-12) and norm.item() == pytest.approx(1.25, rel=1e-12)


def test_gp_interpolates_with_one_epsilon_per_sample() -> None:
    # real = 1, fake = 0 elementwise: x̂ = ε·1 + (1 − ε)·0 = ε, so each image of x̂ must be constant
    # (ε broadcast over C, H, W), lie in [0, 1], and differ between samples.
    seen: list[torch.Tensor] = []

    def recording_critic(images: torch.Tensor) -> torch.Tensor:
        seen.append(images.detach().clone())
        return images.sum(dim=(1, 2, 3))

    real, fake = torch.ones(8, 3, 4, 4), torch.zeros(8, 3, 4, 4)
    gradient_penalty(recording_critic, real, fake, generator=torch.Generator().manual_seed(1))
    (x_hat,) = seen
    per_sample = x_hat.flatten(start_dim=1)
    assert torch.equal(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert bool(((per_sample >= 0) & (per_sample <= 1)).all())
    assert per_sample[:, 0].unique().numel() == 8


def test_dragan_points_follow_the_documented_draws() -> None:
    # x_p = x + 0.5·std(x)·u, x̂ = x + α(x_p − x): replay the documented draw order (u of x's shape,
    # then α per sample) from an identically seeded generator and rebuild x̂ by hand.
    seen: list[torch.Tensor] = []

    def recording_critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone())
        return x.sum(dim=1)

    real = torch.randn(6, 3, generator=torch.Generator().manual_seed(5))
    dragan_penalty(recording_critic, real, generator=torch.Generator().manual_seed(9))
    replay = torch.Generator().manual_seed(9)
    u = torch.rand(6, 3, generator=replay)
    alpha = torch.rand(6, 1, generator=replay)
    std = real.std()  # one scalar over the batch (unbiased), as in the authors' X.std()
    expected = real + alpha * (0.5 * std * u)
    torch.testing.assert_close(seen[0], expected)
    offset = seen[0] - real  # each offset lies in [0, 0.5·std(x)): points near the data, never below it
    assert bool((offset >= 0).all()) and bool((offset < 0.5 * std).all())


def test_seeded_draws_are_reproducible() -> None:
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real, fake = batches()

    def gp(seed: int) -> float:
        return gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seed))[0].item()

    assert gp(3) == gp(3) and gp(3) != gp(4)


def test_penalty_trains_d_only() -> None:
    # The fake batch comes from G; the penalty must not send gradient into G (it is detached).
    g_layer = nn.Linear(2, 2).double()
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real, z = batches()
    gp, _ = gradient_penalty(critic, real, g_layer(z))
    gp.backward()
    assert g_layer.weight.grad is None
    # Every weight shapes ∇ₓD, so each gets a gradient (the output bias does not: it is constant in x).
    for weight in (critic[0].weight, critic[0].bias, critic[2].weight):
        assert weight.grad is not None and bool(torch.isfinite(weight.grad).all())
        assert weight.grad.abs().sum().item() > 0


def test_mismatched_batches_are_rejected() -> None:
    real, fake = torch.zeros(4, 2, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(linear_critic([1.0, 0.0]), real, fake)
