"""Kernel Inception Distance (Bińkowski et al. 2018): an unbiased MMD² with a cubic polynomial kernel.

``k(x, y) = (xᵀy / d + 1)³`` and, on a subset of m real features x and m generated features y,
``MMD²ᵤ = 1/(m(m−1)) Σ_{i≠j} [k(xᵢ,xⱼ) + k(yᵢ,yⱼ)] − 2/m² Σ_{i,j} k(xᵢ,yⱼ)``: unbiased, so it is ≈ 0
(and may be negative) when both sets come from one distribution, and unlike FID it does not grow as n
shrinks. As in torch-fidelity and torchmetrics it is averaged over ``subsets`` random subsets of
``subset_size`` (defaults 100 × 1000) and reported with the population std of the subset estimates.

Kernel sums are float64 (the entries float32); the subsets are drawn from a private seeded generator,
so the same features always give the same KID, and evaluating never draws from a training stream.
"""

from __future__ import annotations

from collections.abc import Generator

import torch
from torch import Tensor

from gantui.engine.quality.frechet import linalg_device
from gantui.engine.quality.steps import finish

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
SUBSETS_PER_YIELD = 10  # the chunked form yields after this many subsets


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """(xᵀy / d + 1)³ for every pair of rows, in the features' own precision."""
    k = (x @ y.T).div_(x.shape[1]).add_(1.0)
    return k.mul(k).mul_(k)


def _sum64(k: Tensor) -> float:
    return float(k.sum(dtype=torch.float64))


def mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """The unbiased MMD² of two equal-sized feature sets (m, d) under the cubic kernel.

    Kernel entries are float32 (each within ~1e-7 of its value); every sum is float64, which is where
    the digits are lost: the MMD is a small difference of three large means.
    """
    m = len(x)
    if len(y) != m or m < 2:
        raise ValueError(f"MMD² needs two sets of the same size >= 2, got {len(x)} and {len(y)}")
    x = x.float()
    y = y.to(x.device, torch.float32)
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    within = (_sum64(k_xx) - _sum64(k_xx.diagonal()) + _sum64(k_yy) - _sum64(k_yy.diagonal())) / (m * (m - 1))
    return within - 2.0 * _sum64(polynomial_kernel(x, y)) / (m * m)


def iter_kid(real: Tensor, fake: Tensor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
             seed: int = 0) -> Generator[int, None, tuple[float, float]]:
    """KID in steps: yields the number of subsets done so far; returns (mean, std) (``yield from``).

    ``subset_size`` is capped at the smaller set; subsets are drawn without replacement within a set.
    """
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features in each set, got {len(real)} and {len(fake)}")
    device = linalg_device(real.device)
    real = real.to(device, torch.float32)
    fake = fake.to(device, torch.float32)
    gen = torch.Generator().manual_seed(seed)
    values: list[float] = []
    for i in range(subsets):
        rows_real = torch.randperm(len(real), generator=gen)[:m].to(device)
        rows_fake = torch.randperm(len(fake), generator=gen)[:m].to(device)
        values.append(mmd2_unbiased(real[rows_real], fake[rows_fake]))
        if (i + 1) % SUBSETS_PER_YIELD == 0 and i + 1 < subsets:
            yield i + 1
    estimates = torch.tensor(values, dtype=torch.float64)
    return float(estimates.mean()), float(estimates.std(unbiased=False))


def kid(real: Tensor, fake: Tensor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """(KID, std over subsets) of two feature sets (n, d) and (m, d)."""
    return finish(iter_kid(real, fake, subsets=subsets, subset_size=subset_size, seed=seed))
