"""The 2-D toy densities: exact definitions (GAN_THEORY.md), sample moments, reproducibility, extents."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gantui.config import resolve
from gantui.engine.data import (
    GaussianMixture2D,
    Spiral,
    ToySampler,
    build_sampler,
    dataset_shape,
    fixed_real_batch,
    toy_distribution,
)

N = 20_000


def _draw(name: str, n: int = N, seed: int = 0) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    return toy_distribution(name).sample(n, generator=gen, device="cpu").double().numpy()


def test_ring8_definition() -> None:
    ring = toy_distribution("ring8")
    assert isinstance(ring, GaussianMixture2D)
    assert ring.means.shape == (8, 2) and ring.means.dtype == np.float64
    # Mean 3 sits at angle 2π·3/8 = 3π/4 on radius 2: (2 cos 3π/4, 2 sin 3π/4) = (−√2, √2).
    np.testing.assert_allclose(ring.means[3], [-math.sqrt(2), math.sqrt(2)], atol=1e-12)
    np.testing.assert_allclose(ring.means[0], [2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(ring.means[2], [0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(np.hypot(ring.means[:, 0], ring.means[:, 1]), 2.0)
    assert ring.std == 0.02
    np.testing.assert_array_equal(ring.weights, np.full(8, 0.125))


def test_grid25_definition() -> None:
    grid = toy_distribution("grid25")
    assert isinstance(grid, GaussianMixture2D)
    expected = {(i, j) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert {tuple(m) for m in grid.means.tolist()} == expected
    assert grid.means.shape == (25, 2)
    assert grid.std == 0.05
    np.testing.assert_array_equal(grid.weights, np.full(25, 1 / 25))


def test_gaussian_is_a_one_component_mixture() -> None:
    g = toy_distribution("gaussian")
    assert isinstance(g, GaussianMixture2D)
    np.testing.assert_array_equal(g.means, [[0.0, 0.0]])
    assert g.std == 1.0
    np.testing.assert_array_equal(g.weights, [1.0])


def test_spiral_is_not_a_mixture() -> None:
    s = toy_distribution("spiral")
    assert isinstance(s, Spiral)
    assert s.means is None and s.weights is None


def test_unknown_toy_is_refused() -> None:
    with pytest.raises(ValueError, match="ring8"):
        toy_distribution("ring9")


@pytest.mark.parametrize("name, modes, std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_mixture_sample_moments(name: str, modes: int, std: float) -> None:
    dist = toy_distribution(name)
    x = _draw(name)
    dist_to_means = np.linalg.norm(x[:, None, :] - dist.means[None], axis=2)  # (N, K)
    nearest = dist_to_means.argmin(axis=1)
    residual = x - dist.means[nearest]
    # Each sample lies within 5 std of its mode: P(χ²₂ > 25) = e^−12.5 ≈ 4e-6 per sample (fixed seed).
    assert np.all(np.linalg.norm(residual, axis=1) < 5 * std)
    # Per-coordinate std of the residuals: 2N values, relative standard error 1/√(4N) ≈ 0.35 %.
    assert residual.std() == pytest.approx(std, rel=0.02)
    assert np.abs(residual.mean(axis=0)).max() < 4 * std / math.sqrt(N)
    # Equal weights: each count is Binomial(N, 1/K); allow 5 standard deviations.
    counts = np.bincount(nearest, minlength=modes)
    sigma = math.sqrt(N * (1 / modes) * (1 - 1 / modes))
    assert np.all(np.abs(counts - N / modes) < 5 * sigma)


def test_gaussian_sample_moments() -> None:
    x = _draw("gaussian")
    # N(0, I): mean within 5·1/√N = 0.035, unit std, no correlation.
    assert np.abs(x.mean(axis=0)).max() < 0.035
    np.testing.assert_allclose(x.std(axis=0), [1.0, 1.0], rtol=0.03)
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.035


def test_spiral_samples_lie_on_the_roll() -> None:
    s = toy_distribution("spiral")
    x = _draw("spiral")
    # The curve is (t cos t, t sin t)/7.5 for t in [1.5π, 4.5π]; the noise has std 0.25/7.5 per coordinate.
    t = np.linspace(1.5 * np.pi, 4.5 * np.pi, 20_000)
    curve = np.stack((t * np.cos(t), t * np.sin(t)), axis=1) / 7.5
    gap = np.min(np.linalg.norm(x[:2000, None, :] - curve[None, ::4], axis=2), axis=1)
    assert np.all(gap < 5 * s.std)
    # Without noise the radius runs over [1.5π/7.5, 4.5π/7.5] = [0.628, 1.885].
    r = np.linalg.norm(x, axis=1)
    assert r.min() > 0.628 - 5 * s.std and r.max() < 1.885 + 5 * s.std


@pytest.mark.parametrize("name", ["ring8", "grid25", "gaussian", "spiral"])
def test_sampling_with_a_generator_is_reproducible(name: str) -> None:
    dist = toy_distribution(name)
    a = dist.sample(500, generator=torch.Generator().manual_seed(7), device=torch.device("cpu"))
    b = dist.sample(500, generator=torch.Generator().manual_seed(7), device=torch.device("cpu"))
    c = dist.sample(500, generator=torch.Generator().manual_seed(8), device=torch.device("cpu"))
    assert a.shape == (500, 2) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ["ring8", "grid25", "gaussian", "spiral"])
def test_extent_holds_the_data(name: str) -> None:
    dist = toy_distribution(name)
    xmin, xmax, ymin, ymax = dist.extent()
    assert xmax - xmin == pytest.approx(ymax - ymin)  # square, for an equal-aspect scatter plot
    x = _draw(name)
    inside = (x[:, 0] > xmin) & (x[:, 0] < xmax) & (x[:, 1] > ymin) & (x[:, 1] < ymax)
    assert inside.mean() >= 0.999
    if dist.means is not None:
        # Every mode sits inside with at least 4 std to spare (its samples are not cut off).
        assert dist.means[:, 0].min() - 4 * dist.std >= xmin and dist.means[:, 0].max() + 4 * dist.std <= xmax


def test_ring8_extent_is_not_absurdly_large() -> None:
    xmin, xmax, _, _ = toy_distribution("ring8").extent()
    # Means span [−2, 2]; plus 4 std (0.08) and a 10 % margin each side: well under ±3.
    assert -3.0 < xmin < -2.08 and 2.08 < xmax < 3.0


def test_toy_sampler_from_config() -> None:
    cfg = resolve({"data": {"name": "grid25"}}, source="test").data
    assert dataset_shape(cfg) == (2,)
    sampler = build_sampler(cfg, device=torch.device("cpu"), seed=3)
    assert isinstance(sampler, ToySampler)
    assert sampler.is_toy and sampler.shape == (2,) and sampler.name == "grid25"
    batch = sampler.sample(64)
    assert batch.shape == (64, 2) and batch.dtype == torch.float32
    # Same seed, same stream; the next call draws fresh points.
    again = build_sampler(cfg, device=torch.device("cpu"), seed=3)
    assert torch.equal(again.sample(64), batch)
    assert not torch.equal(again.sample(64), batch)
    # The "show real" batch is fixed: the same on every call, whatever the training stream did.
    assert torch.equal(fixed_real_batch(sampler, 100), fixed_real_batch(again, 100))
    assert fixed_real_batch(sampler, 100).shape == (100, 2)
