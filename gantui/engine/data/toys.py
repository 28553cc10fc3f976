"""2-D toy distributions with known densities, sampled straight on the training device.

The definitions follow GAN_THEORY.md ("Toy datasets") so that published mode-collapse numbers can be
compared against:

- ``ring8``: 8 Gaussians at radius 2, angles 2πi/8, std 0.02, equal weights (Unrolled GAN).
- ``grid25``: 25 Gaussians at (i, j), i, j ∈ {−4, −2, 0, 2, 4}, std 0.05, equal weights (PacGAN).
- ``gaussian``: one standard Gaussian N(0, I), i.e. a 1-component mixture with std 1.
- ``spiral``: the swiss roll of the WGAN-GP toy experiments (not a mixture: no exact bin masses).

A mixture exposes ``means``, ``std`` and ``weights`` under exactly those names because the true-JSD
estimator (``gantui.engine.metrics``) integrates the density per histogram bin from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

TOY_NAMES = ("ring8", "grid25", "gaussian", "spiral")

# How many stds around the outermost means the plotting window reaches before its margin. Per
# coordinate P(|z| > 4) = 6.3e-5, so the window holds well over 99.9 % of the samples.
_EXTENT_STDS = 4.0
_EXTENT_MARGIN = 0.1  # extra 10 % of the span on every side, so the outer modes are not on the border


def _square_window(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, float, float]:
    """A square window (equal aspect) around the box [lo, hi] with a relative margin."""
    centre = (lo + hi) / 2
    half = float(np.max(hi - lo)) / 2 * (1 + 2 * _EXTENT_MARGIN)
    x, y = float(centre[0]), float(centre[1])
    return (x - half, x + half, y - half, y + half)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class GaussianMixture2D:
    """An isotropic Gaussian mixture in 2-D: the density the generator should learn.

    ``means`` is (K, 2), ``std`` is shared by every component (so a mode's spread is one number,
    which is also the JSD histogram's bin width), ``weights`` is (K,) and sums to 1.
    """

    name: str
    means: np.ndarray
    std: float
    weights: np.ndarray
    # Device copies of the means and of the weights' cumulative sums, made once per device so that
    # sampling never copies from the host (CUDA-graph friendly). Not part of the value.
    _on_device: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        means, weights = _readonly(self.means), _readonly(self.weights)
        if means.ndim != 2 or means.shape[1] != 2 or weights.shape != (means.shape[0],):
            raise ValueError(f"means must be (K, 2) and weights (K,), got {means.shape} and {weights.shape}")
        if not np.isclose(weights.sum(), 1.0) or np.any(weights < 0):
            raise ValueError("weights must be non-negative and sum to 1")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "std", float(self.std))

    def _device_tensors(self, device: torch.device) -> tuple[Tensor, Tensor]:
        key = str(device)
        if key not in self._on_device:
            means = torch.tensor(self.means, dtype=torch.float32, device=device)
            cdf = torch.tensor(np.cumsum(self.weights), dtype=torch.float32, device=device)
            self._on_device[key] = (means, cdf)
        return self._on_device[key]

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Tensor:
        """Draw ``n`` points, (n, 2) float32 on ``device``.

        The component is picked by inverse-CDF lookup (``searchsorted`` on uniform draws) rather than
        ``torch.multinomial``, so nothing waits on the host and the step can live in a CUDA graph.
        """
        device = torch.device(device)
        means, cdf = self._device_tensors(device)
        u = torch.rand(n, generator=generator, device=device)
        component = torch.searchsorted(cdf, u, right=True).clamp_(max=len(self.means) - 1)
        noise = torch.randn(n, 2, generator=generator, device=device)
        return means[component] + self.std * noise

    def extent(self) -> tuple[float, float, float, float]:
        """A square plotting window ``(xmin, xmax, ymin, ymax)`` holding the data with a margin."""
        lo = self.means.min(axis=0) - _EXTENT_STDS * self.std
        hi = self.means.max(axis=0) + _EXTENT_STDS * self.std
        return _square_window(lo, hi)


@dataclass(frozen=True)
class Spiral:
    """The WGAN-GP toy swiss roll, in 2-D.

    t = 1.5π(1 + 2u), u ~ U[0, 1]; x = (t cos t, t sin t) / 7.5 + N(0, std² I) with std = 0.25 / 7.5:
    scikit-learn's ``make_swiss_roll(noise=0.25)`` (x, z) columns scaled by 1/7.5 as in Gulrajani et
    al.'s code. It is not a mixture, so ``means`` (and ``weights``) are None: no exact bin masses.
    """

    name: str = "spiral"
    scale: float = 7.5
    std: float = 0.25 / 7.5
    means: None = None
    weights: None = None

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Tensor:
        """Draw ``n`` points, (n, 2) float32 on ``device``."""
        device = torch.device(device)
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
        curve = torch.stack((t * torch.cos(t), t * torch.sin(t)), dim=1) / self.scale
        return curve + self.std * torch.randn(n, 2, generator=generator, device=device)

    def extent(self) -> tuple[float, float, float, float]:
        """A square window around the roll: its radius reaches 4.5π / 7.5 ≈ 1.885."""
        radius = 4.5 * math.pi / self.scale + _EXTENT_STDS * self.std
        return _square_window(np.array([-radius, -radius]), np.array([radius, radius]))


ToyDistribution = GaussianMixture2D | Spiral


def ring8() -> GaussianMixture2D:
    """8 Gaussians on a circle of radius 2 at angles 2πi/8, std 0.02 (Unrolled GAN)."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = 2.0 * np.stack((np.cos(angles), np.sin(angles)), axis=1)
    return GaussianMixture2D("ring8", means, 0.02, np.full(8, 1 / 8))


def grid25() -> GaussianMixture2D:
    """25 Gaussians at (i, j), i, j ∈ {−4, −2, 0, 2, 4}, std 0.05 (PacGAN)."""
    ticks = np.arange(-4.0, 5.0, 2.0)
    means = np.array([(i, j) for i in ticks for j in ticks])
    return GaussianMixture2D("grid25", means, 0.05, np.full(25, 1 / 25))


def gaussian() -> GaussianMixture2D:
    """One standard Gaussian N(0, I): the easiest target, a 1-component mixture with std 1."""
    return GaussianMixture2D("gaussian", np.zeros((1, 2)), 1.0, np.ones(1))


def toy_distribution(name: str) -> ToyDistribution:
    """The toy distribution called ``name`` (one of :data:`TOY_NAMES`)."""
    makers = {"ring8": ring8, "grid25": grid25, "gaussian": gaussian, "spiral": Spiral}
    if name not in makers:
        raise ValueError(f"unknown toy distribution '{name}': expected one of {', '.join(TOY_NAMES)}")
    return makers[name]()
