"""The real set's statistics in a feature space: computed once, cached on disk, never per evaluation.

For each (dataset, split, size, feature space) the real images' features are reduced to their
Gaussian fit (mean and covariance, float64: all FID needs), a bounded random sample of the features
themselves (float32, ``REAL_SAMPLE`` rows: what KID and precision/recall/density/coverage compare
against) and the class histogram of the images' labels (class coverage's reference). These go to one
``.npz`` file under ``~/.cache/gantui/real-stats/``, written atomically and read back with
``allow_pickle=False``; a file that does not read back exactly as written is recomputed.

Derived values that depend only on the real set, √Σ for FID and the k-NN radii for PRDC, are
computed on first use and kept in memory with the statistics.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gantui.atomic import atomic_write
from gantui.engine.quality.cache import cache_root, file_key
from gantui.engine.quality.classes import class_histogram
from gantui.engine.quality.features import FeatureSpace
from gantui.engine.quality.frechet import MomentAccumulator, Moments, sqrt_psd
from gantui.engine.quality.manifold import K_DENSITY_COVERAGE, K_PRECISION_RECALL, iter_knn_radii

REAL_MAX = 50_000  # real images used for the Gaussian fit at most (CIFAR-10's whole training set)
REAL_SAMPLE = 10_000  # real features kept for KID and PRDC (Naeem et al. use 10 000)
REAL_CHUNK = 500  # real images through the feature network per step
SUBSET_SEED = 0  # which real images are used when the set is larger than asked: fixed


@dataclass
class RealImages:
    """The real set as the evaluator reads it: ``len``, ``images(rows)`` in [−1, 1] on the device, labels."""

    identity: str  # dataset, split, shape (and path or seed where they matter): part of the cache key
    count: int
    images: Callable[[Tensor], Tensor]  # rows (int64, host) -> (len(rows), C, H, W) in [−1, 1]
    labels: Tensor | None = None  # (count,) int64 on the host

    def __len__(self) -> int:
        return self.count


def dataset_identity(data_cfg: Any, shape: tuple[int, ...], split: str = "train") -> str:
    """What the real set depends on, in words: the data, its split and the GAN's image shape."""
    parts = [data_cfg.name, split, "x".join(str(s) for s in shape)]
    if data_cfg.name == "folder":
        parts.append(str(Path(data_cfg.path).expanduser().resolve()))
    if data_cfg.name == "fake":
        parts.append(f"n{data_cfg.fake_size}")
    return "-".join(parts)


def real_images_from_sampler(sampler: Any, identity: str) -> RealImages:
    """The training sampler's data as :class:`RealImages` (whole set on the device, or streamed)."""
    labels = getattr(sampler, "labels", None)
    if hasattr(sampler, "data"):  # DeviceTensorSampler
        data = sampler.data
        return RealImages(identity, len(data), lambda rows: data[rows.to(data.device)], labels)
    source = sampler.source  # StreamingSampler

    def images(rows: Tensor) -> Tensor:
        if source.pixels is not None:
            pixels = source.pixels[rows]
        else:
            pixels = torch.stack([source.items[int(i)] for i in rows])
        return source.to_unit(pixels.to(sampler.device))

    return RealImages(identity, len(source), images, labels)


@dataclass
class RealStatistics:
    """A real set's moments, feature sample and class histogram in one feature space."""

    key: str
    moments: Moments
    sample: Tensor  # (m, d) float32: a random subset of the features, m <= REAL_SAMPLE
    class_counts: Tensor | None  # (classes,) float64, or None without labels
    seconds: float = 0.0  # computing them took (0 when loaded)
    _sqrt_cov: Tensor | None = field(default=None, repr=False)
    _radii: dict[int, dict[int, Tensor]] = field(default_factory=dict, repr=False)

    def sqrt_cov(self) -> Tensor:
        """√Σ of the real features (float64), computed once."""
        if self._sqrt_cov is None:
            self._sqrt_cov = sqrt_psd(self.moments.cov)
        return self._sqrt_cov

    def iter_radii(self, n: int) -> Generator[int, None, dict[int, Tensor]]:
        """The k-NN radii (k = 3 and 5) of the first ``n`` sampled features, computed once per ``n``."""
        if n not in self._radii:
            ks = (K_PRECISION_RECALL, K_DENSITY_COVERAGE)
            self._radii[n] = yield from iter_knn_radii(self.sample[:n], ks)
        return self._radii[n]

    def nbytes(self) -> int:
        """Bytes held: moments, sample, and √Σ and radii once computed."""
        tensors = [self.moments.mean, self.moments.cov, self.sample]
        tensors += [self._sqrt_cov] if self._sqrt_cov is not None else []
        tensors += [r for by_k in self._radii.values() for r in by_k.values()]
        return sum(t.numel() * t.element_size() for t in tensors)


def stats_key(identity: str, n: int, space: FeatureSpace) -> str:
    return file_key(identity, f"n{n}", space.key)


def iter_compute(real: RealImages, space: FeatureSpace, *, n: int, sample: int = REAL_SAMPLE
                 ) -> Generator[tuple[int, int], None, RealStatistics]:
    """Features of ``n`` real images in chunks (yields (done, n)); returns their statistics."""
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    rows = torch.randperm(len(real), generator=gen)[:n] if n < len(real) else torch.arange(len(real))
    acc = MomentAccumulator(space.dim, space.device)
    kept: list[Tensor] = []
    predicted = torch.zeros(max(space.classes, 1), dtype=torch.float64)
    for start in range(0, len(rows), REAL_CHUNK):
        chunk = rows[start:start + REAL_CHUNK]
        out = space(real.images(chunk))
        acc.add(out.features)
        have = sum(len(k) for k in kept)
        if have < sample:
            kept.append(out.features[:sample - have].float())
        if space.classes and out.probs is not None:
            predicted += class_histogram(out.probs.argmax(1), space.classes)
        if start + REAL_CHUNK < len(rows):
            yield start + REAL_CHUNK, len(rows)
    counts = None
    if space.classes:  # the data's own labels where it has them, else what the classifier sees
        counts = class_histogram(real.labels[rows], space.classes) if real.labels is not None else predicted
    return RealStatistics(stats_key(real.identity, len(rows), space), acc.moments(), torch.cat(kept),
                          counts, time.perf_counter() - started)


class RealStatsCache:
    """Real statistics on disk, one ``.npz`` per key; ``computed`` counts the misses."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (cache_root() if root is None else root) / "real-stats"
        self.computed = 0

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def save(self, stats: RealStatistics) -> None:
        arrays = {"key": np.array(stats.key), "n": np.array(stats.moments.n),
                  "mean": stats.moments.mean.cpu().numpy(), "cov": stats.moments.cov.cpu().numpy(),
                  "sample": stats.sample.cpu().numpy(),
                  "class_counts": (np.zeros(0) if stats.class_counts is None else stats.class_counts.numpy())}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.path(stats.key), lambda f: f.write(buffer.getvalue()))

    def load(self, key: str, device: torch.device) -> RealStatistics | None:
        """The cached statistics for ``key``, or None if absent or unreadable (never unpickles)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["key"]) != key:
                    return None
                mean = torch.from_numpy(f["mean"].astype(np.float64))
                cov = torch.from_numpy(f["cov"].astype(np.float64))
                sample = torch.from_numpy(f["sample"].astype(np.float32))
                counts = f["class_counts"].astype(np.float64)
                n = int(f["n"])
            d = len(mean)
            if cov.shape != (d, d) or sample.ndim != 2 or sample.shape[1] != d or n < 2:
                return None
        except Exception:  # truncated, foreign or damaged (zipfile.BadZipFile, ValueError, ...): recompute
            return None
        from gantui.engine.quality.frechet import linalg_device

        where = linalg_device(device)
        return RealStatistics(key, Moments(n, mean.to(where), cov.to(where)), sample.to(device),
                              torch.from_numpy(counts) if counts.size else None)

    def iter_obtain(self, real: RealImages, space: FeatureSpace, *, n: int = REAL_MAX,
                    sample: int = REAL_SAMPLE) -> Generator[tuple[int, int], None, RealStatistics]:
        """The statistics from the cache, or computed (stepwise) and saved."""
        n = min(n, len(real))
        key = stats_key(real.identity, n, space)
        cached = self.load(key, space.device)
        if cached is not None:
            return cached
        stats = yield from iter_compute(real, space, n=n, sample=sample)
        self.computed += 1
        self.save(stats)
        return stats
