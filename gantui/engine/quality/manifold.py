"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, a ball's radius the distance to that
point's k-th nearest neighbour in its own set (itself excluded):

- precision: the share of fakes inside the real manifold (k = 3): are the samples realistic?
- recall: the share of reals inside the fake manifold (k = 3): is all of the data covered?
- density: the mean number of real balls (k = 5) a fake falls in, divided by k; 1 for one distribution,
  above 1 where fakes crowd dense real regions; outlier reals do not inflate it as they do precision.
- coverage: the share of reals whose ball (k = 5) holds at least one fake; robust to fake outliers.

"Inside" is ``distance <= radius`` (a closed ball, as in Kynkäänniemi's code), so two identical sets
score precision = recall = coverage = 1 exactly. Both sets should have the same size (the papers use
10 000 each): a ball's radius shrinks as its set grows.

Distances are Euclidean on float32 features, computed in row chunks so that 10 000 × 10 000 pairs
never sit in memory at once (``DISTANCE_CHUNK_ELEMENTS`` per chunk). Real radii depend on the real
set only: pass them in (:class:`~gantui.engine.quality.realstats.RealStatistics` keeps them).
"""

from __future__ import annotations

from collections.abc import Generator

import torch
from torch import Tensor

from gantui.engine.quality.steps import finish

K_PRECISION_RECALL = 3
K_DENSITY_COVERAGE = 5
DISTANCE_CHUNK_ELEMENTS = 2**24  # 64 MiB of float32 distances per chunk


def _rows_per_chunk(columns: int) -> int:
    return max(1, DISTANCE_CHUNK_ELEMENTS // max(1, columns))


def _distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (len(a), len(b)) via ‖a‖² + ‖b‖² − 2abᵀ (one matrix product)."""
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")


def iter_knn_radii(x: Tensor, ks: tuple[int, ...]) -> Generator[int, None, dict[int, Tensor]]:
    """For each k in ``ks``: the distance of every row of ``x`` to its k-th nearest other row.

    Yields the rows done after each chunk; returns {k: radii (n,)}.
    """
    n = len(x)
    kmax = max(ks)
    if n <= kmax:
        raise ValueError(f"k-NN radii with k = {kmax} need more than {kmax} points, got {n}")
    x = x.float()
    out = {k: torch.empty(n, device=x.device) for k in ks}
    rows = _rows_per_chunk(n)
    for start in range(0, n, rows):
        d = _distances(x[start:start + rows], x)
        # The smallest is the point itself (0): the k-th neighbour is at sorted index k.
        nearest = torch.topk(d, kmax + 1, dim=1, largest=False).values
        for k in ks:
            out[k][start:start + rows] = nearest[:, k]
        if start + rows < n:
            yield start + rows
    return out


def knn_radii(x: Tensor, k: int) -> Tensor:
    """The distance of every row of ``x`` to its k-th nearest other row."""
    return finish(iter_knn_radii(x, (k,)))[k]


def real_radii(real: Tensor) -> dict[int, Tensor]:
    """The real set's radii for precision (k = 3) and for density/coverage (k = 5), in one pass."""
    return finish(iter_knn_radii(real, (K_PRECISION_RECALL, K_DENSITY_COVERAGE)))


def iter_prdc(real: Tensor, fake: Tensor, *, radii: dict[int, Tensor] | None = None
              ) -> Generator[int, None, dict[str, float]]:
    """Precision, recall, density and coverage in chunks of fakes; yields progress, returns the four.

    ``radii`` are the real set's from :func:`real_radii` (computed here when absent).
    """
    kpr, kdc = K_PRECISION_RECALL, K_DENSITY_COVERAGE
    real = real.float()
    fake = fake.to(real.device, torch.float32)
    if radii is None:
        radii = yield from iter_knn_radii(real, (kpr, kdc))
    fake_radius = (yield from iter_knn_radii(fake, (kpr,)))[kpr]
    real_pr, real_dc = radii[kpr].to(real.device), radii[kdc].to(real.device)
    in_real = torch.zeros((), dtype=torch.int64, device=real.device)  # fakes inside the real manifold
    density = torch.zeros((), dtype=torch.int64, device=real.device)  # (fake, real ball) memberships
    recalled = torch.zeros(len(real), dtype=torch.bool, device=real.device)  # reals inside a fake ball
    nearest_fake = torch.full((len(real),), float("inf"), device=real.device)
    rows = _rows_per_chunk(len(real))
    for start in range(0, len(fake), rows):
        d = _distances(fake[start:start + rows], real)  # (chunk of fakes, reals)
        in_real += (d <= real_pr).any(dim=1).sum()
        density += (d <= real_dc).sum()
        recalled |= (d <= fake_radius[start:start + rows, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
        if start + rows < len(fake):
            yield start + rows
    return {
        "precision": float(in_real) / len(fake),
        "recall": float(recalled.float().mean()),
        "density": float(density) / (kdc * len(fake)),
        "coverage": float((nearest_fake <= real_dc).float().mean()),
    }


def prdc(real: Tensor, fake: Tensor, *, radii: dict[int, Tensor] | None = None) -> dict[str, float]:
    """Precision, recall (k = 3), density and coverage (k = 5) of fakes against reals."""
    return finish(iter_prdc(real, fake, radii=radii))
