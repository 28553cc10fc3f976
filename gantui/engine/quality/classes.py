"""What a classifier says about the fakes: class coverage, the class KL, and the Inception Score.

Class coverage is the image counterpart of the toys' mode count. A classifier trained on the data
labels every fake; with 10 000 fakes even noise lands in every class now and then, so a class counts
as covered only when it gets at least ``MIN_SHARE`` (a tenth) of the fakes the data's class
histogram gives it: with 10 balanced classes, 1 % of the fakes. ``class_kl`` is KL(fake ‖ data)
between the predicted class histogram of the fakes and the data's, in nats: 0 for a generator with
the data's class balance, ln 10 = 2.303 for one that draws a single one of 10 balanced classes. (The
other direction would be infinite as soon as one class is missing.)

The Inception Score (Salimans et al. 2016) is exp E_x KL(p(y|x) ‖ p(y)) over ImageNet classes: only
meaningful with Inception-v3's own classifier. As in torch-fidelity it is computed on 10 splits of
the samples (consecutive blocks) and reported as mean and std over the splits. The split sums are
accumulated chunk by chunk, so the result does not depend on how the samples were chunked.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MIN_SHARE = 0.1
IS_SPLITS = 10


def class_histogram(labels: Tensor, classes: int) -> Tensor:
    """Counts (classes,) float64 of integer labels or predictions."""
    return torch.bincount(labels.reshape(-1).long().cpu(), minlength=classes)[:classes].to(torch.float64)


def class_coverage(fake_counts: Tensor, data_counts: Tensor, *, min_share: float = MIN_SHARE
                   ) -> tuple[int, float]:
    """(classes covered, KL(fake ‖ data) in nats) from two class histograms (counts or shares)."""
    q = fake_counts.to(torch.float64) / fake_counts.sum()
    p = data_counts.to(torch.float64) / data_counts.sum()
    covered = int((q >= min_share * p).logical_and(p > 0).sum())
    present = q > 0
    if bool((present & (p == 0)).any()):
        return covered, math.inf
    kl = float((q[present] * (q[present] / p[present]).log()).sum())
    return covered, max(0.0, kl)


class InceptionScoreAccumulator:
    """Per-split sums of p(y|x) and of Σ_y p log p, fed chunk by chunk, for ``n`` samples in total."""

    def __init__(self, n: int, classes: int, *, splits: int = IS_SPLITS) -> None:
        if n < splits:
            raise ValueError(f"an Inception Score on {splits} splits needs >= {splits} samples, got {n}")
        self.n, self.splits = n, splits
        self.seen = 0
        self._p = torch.zeros(splits, classes, dtype=torch.float64)
        self._plogp = torch.zeros(splits, dtype=torch.float64)
        self._count = torch.zeros(splits, dtype=torch.float64)

    def add(self, probs: Tensor) -> None:
        p = probs.detach().to("cpu", torch.float64)
        index = torch.arange(self.seen, self.seen + len(p))
        split = index * self.splits // self.n  # consecutive blocks, as torch-fidelity splits
        self._p.index_add_(0, split, p)
        self._plogp.index_add_(0, split, torch.special.xlogy(p, p).sum(1))
        self._count.index_add_(0, split, torch.ones(len(p), dtype=torch.float64))
        self.seen += len(p)

    def score(self) -> tuple[float, float]:
        """(mean, std) over the splits of exp(mean KL(p(y|x) ‖ p(y)))."""
        marginal = self._p / self._count[:, None]
        # E_x KL(p(y|x) ‖ p(y)) = E_x Σ p log p − Σ p̄ log p̄ within each split.
        kl = self._plogp / self._count - torch.special.xlogy(marginal, marginal).sum(1)
        scores = kl.exp()
        return float(scores.mean()), float(scores.std(unbiased=False))


def inception_score(probs: Tensor, *, splits: int = IS_SPLITS) -> tuple[float, float]:
    """(mean, std) Inception Score of class probabilities (n, classes) in one pass."""
    acc = InceptionScoreAccumulator(len(probs), probs.shape[1], splits=splits)
    acc.add(probs)
    return acc.score()
