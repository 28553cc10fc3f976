"""The Fréchet distance between Gaussian fits of two feature sets (FID, and fd_classifier).

``d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)`` (Heusel et al. 2017). Only the trace of the matrix square
root is needed, and Σ₁Σ₂ is similar to the symmetric positive semi-definite √Σ₁ Σ₂ √Σ₁, so
``Tr (Σ₁Σ₂)^½ = Σᵢ √λᵢ(√Σ₁ Σ₂ √Σ₁)``: two symmetric eigendecompositions (``eigh``), eigenvalues clipped
at 0, instead of a generic ``sqrtm`` (86 s for a 2048-d product here). √Σ of the real set is computed
once and kept (:class:`~gantui.engine.quality.realstats.RealStatistics`), so an evaluation does one.

Everything is float64: with 2048-d Inception features the sums of squares lose digits in float32.
The covariance is the unbiased one (n − 1), as in torch-fidelity, torchmetrics and the original TTUR code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def linalg_device(device: torch.device) -> torch.device:
    """Where float64 linear algebra can run: the device itself, or the CPU for MPS (no float64 there)."""
    return device if device.type in ("cpu", "cuda") else torch.device("cpu")


@dataclass(frozen=True)
class Moments:
    """A Gaussian fit of a feature set: its size, mean (d,) and unbiased covariance (d, d), float64."""

    n: int
    mean: Tensor
    cov: Tensor


class MomentAccumulator:
    """Sums of x and xxᵀ in float64, fed chunk by chunk: the moments of any number of features.

    The one-pass form (Σxxᵀ − n μμᵀ) / (n − 1) in float64 is what torchmetrics uses; features are O(1)
    (Inception pool features are non-negative means of ReLUs) so the cancellation costs few digits.
    """

    def __init__(self, dim: int, device: torch.device) -> None:
        self.device = linalg_device(device)
        self.n = 0
        self._sum = torch.zeros(dim, dtype=torch.float64, device=self.device)
        self._outer = torch.zeros(dim, dim, dtype=torch.float64, device=self.device)

    def add(self, features: Tensor) -> None:
        """Add a chunk of features (n, d)."""
        x = features.to(self.device, torch.float64)
        self._sum += x.sum(0)
        self._outer += x.T @ x
        self.n += len(x)

    def moments(self) -> Moments:
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.n}")
        mean = self._sum / self.n
        cov = (self._outer - self.n * torch.outer(mean, mean)) / (self.n - 1)
        return Moments(self.n, mean, (cov + cov.T) / 2)


def moments(features: Tensor) -> Moments:
    """The Gaussian fit of one feature set (n, d) in one pass."""
    acc = MomentAccumulator(features.shape[1], features.device)
    acc.add(features)
    return acc.moments()


def sqrt_psd(cov: Tensor) -> Tensor:
    """The symmetric square root of a positive semi-definite matrix (negative rounding noise clipped)."""
    values, vectors = torch.linalg.eigh(cov)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def trace_sqrt_product(cov1: Tensor, cov2: Tensor, *, sqrt_cov1: Tensor | None = None) -> float:
    """Tr (Σ₁Σ₂)^½ from the eigenvalues of √Σ₁ Σ₂ √Σ₁ (pass ``sqrt_cov1`` when it is known)."""
    root = sqrt_psd(cov1) if sqrt_cov1 is None else sqrt_cov1
    product = root @ cov2.to(root.device, root.dtype) @ root
    return float(torch.linalg.eigvalsh((product + product.T) / 2).clamp_min(0).sqrt().sum())


def frechet_distance(m1: Moments, m2: Moments, *, sqrt_cov1: Tensor | None = None) -> float:
    """‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½, float64, clamped at 0 (it is a squared distance)."""
    mean2 = m2.mean.to(m1.mean.device, torch.float64)
    cov2 = m2.cov.to(m1.cov.device, torch.float64)
    diff = float(((m1.mean - mean2) ** 2).sum())
    traces = float(m1.cov.trace() + cov2.trace())
    return max(0.0, diff + traces - 2.0 * trace_sqrt_product(m1.cov, cov2, sqrt_cov1=sqrt_cov1))


def frechet_distance_of_features(x: Tensor, y: Tensor) -> float:
    """The Fréchet distance between the Gaussian fits of two feature sets (n, d) and (m, d)."""
    return frechet_distance(moments(x), moments(y))
