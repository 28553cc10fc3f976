"""Honest numbers for a conditional run: does G draw what it is asked for? The dataset's own offline
classifier (:mod:`gantui.engine.quality.classifier`, trained once and cached) says.

- ``label_accuracy`` (conditional GAN): the share of generated images that the classifier puts in the
  class G was asked for. Chance is 1/K (10 % for ten classes); the classifier's own test accuracy
  (digits 98.9 %) is the ceiling it can confirm.
- ``info_accuracy`` (InfoGAN): the categorical code has no names, so each code value is matched to a
  class by the best one-to-one assignment of the confusion counts (the Hungarian method,
  ``scipy.optimize.linear_sum_assignment``), and the score is the share of images whose matched class
  is the classifier's verdict: the "unsupervised class accuracy" of the InfoGAN paper (about 95 % on
  MNIST). With more code values than classes, the unmatched values count as wrong.

Each read-out generates ``cond.eval_samples`` images from the *same* latents every time (balanced
labels or code values, noise and continuous codes from the judge's own seeded stream), so successive
values differ because G did. Cadence: every ``cond.eval_every`` iterations, and no more often than
keeps its cost under 5 % of the run's time (the sample grids' rule); the first time a dataset's
classifier is needed it is trained stepwise, at most half the time between read-outs, then cached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gantui.engine.cond.condition import ClassCondition, InfoCondition
from gantui.engine.cond.grid import has_batchnorm
from gantui.engine.cond.nets import balanced_labels, one_hot
from gantui.engine.rng import frozen_buffers, isolated_rng

__all__ = ["BUDGET", "ConditionJudge", "matched_accuracy"]

BUDGET = 0.05  # read-outs take at most this share of the run's time
PREPARE_SHARE = 0.5  # training the classifier (once per dataset) takes at most this share meanwhile
PREPARE_SLICE_S = 0.25  # and at most this long per read-out
JUDGE_SEED_OFFSET = 13  # the judge's latents: the run's seed plus this
GENERATION_BATCH = 500  # images per G call when G has no BatchNorm


def matched_accuracy(codes: np.ndarray, classes: np.ndarray, n_codes: int, n_classes: int) -> float:
    """The share of samples whose code, matched one-to-one to a class by the best assignment, is their
    class: max over injective maps m of Σ_i [m(code_i) = class_i] / n (Hungarian method)."""
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((n_codes, n_classes), dtype=np.int64)
    np.add.at(counts, (codes, classes), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum()) / max(len(codes), 1)


class ConditionJudge:
    """label_accuracy / info_accuracy of one trainer's G, at its own cadence (see the module docstring)."""

    def __init__(self, trainer: Any, *, every: int, samples: int, root: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.trainer = trainer
        self.condition = trainer.cond
        self.every, self.samples = every, samples
        self.root = root
        self.clock = clock
        self.started = clock()
        self.next_step = trainer.step + every if every else math.inf
        self.not_before = -math.inf  # the clock time before which the budget allows no read-out
        self.classifier: torch.nn.Module | None = None
        self.unavailable = every == 0
        self._prepare: Generator[tuple[int, int], None, Any] | None = None
        self._prepare_spent = 0.0
        self.latest: dict[str, float] = {}

    @property
    def name(self) -> str:
        return "label_accuracy" if isinstance(self.condition, ClassCondition) else "info_accuracy"

    # ---------------------------------------------------------------------------- the classifier
    def _advance_preparation(self, note: Callable[[str, str], None]) -> None:
        """Train (or load) the dataset's classifier, a bounded slice of work at a time."""
        from gantui.engine.quality.cache import QualityError
        from gantui.engine.quality.classifier import CLASSIFIER_DATASETS, iter_classifier

        t = self.trainer
        data_cfg = t.cfg.data
        if self._prepare is None:
            if data_cfg.name not in CLASSIFIER_DATASETS:
                self.unavailable = True
                note("info", f"{self.name}: no offline classifier for data.name = '{data_cfg.name}' "
                             f"(there is one for {', '.join(CLASSIFIER_DATASETS)}); not measured")
                return
            self._prepare = iter_classifier(data_cfg, tuple(t.sampler.shape), device=t.device, root=self.root)
        allowed = min(PREPARE_SLICE_S, PREPARE_SHARE * (self.clock() - self.started) - self._prepare_spent)
        start = self.clock()
        try:
            with isolated_rng(t.random_streams):
                while self.clock() - start < allowed:
                    done, total = next(self._prepare)
                    if done == 1:
                        note("info", f"{self.name}: training the {data_cfg.name} classifier ({total} steps, "
                                     "once: it is cached for every later run)")
        except StopIteration as end:
            trained = end.value
            self.classifier = trained.network
            how = f"trained and cached in {trained.path}" if trained.seconds else "from the cache"
            note("info", f"{self.name}: the {trained.dataset} classifier ({how}) has test accuracy "
                         f"{100 * trained.accuracy:.1f} %: the most {self.name} can confirm")
        except (QualityError, OSError) as exc:
            self.unavailable = True
            note("warning", f"{self.name} is not measured: {exc}")
        finally:
            self._prepare_spent += self.clock() - start

    # ------------------------------------------------------------------------------- read-outs
    def metrics(self, note: Callable[[str, str], None]) -> dict[str, float]:
        """The read-out if one is due now (else {}); call it where a metrics row is queued."""
        if self.unavailable:
            return {}
        if self.classifier is None:
            self._advance_preparation(note)
            if self.classifier is None:
                return {}
        now = self.clock()
        if self.trainer.step < self.next_step or now < self.not_before:
            return {}
        values = self.measure()
        cost = self.clock() - now
        self.next_step = self.trainer.step + self.every
        self.not_before = now + cost / BUDGET
        self.latest = values
        return values

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        """Generate, classify, score: one host synchronisation at the end."""
        assert self.classifier is not None
        t, cond = self.trainer, self.condition
        gen = torch.Generator(device=t.device).manual_seed(int(t.cfg.train.seed) + JUDGE_SEED_OFFSET)
        batch = t.batch_size if has_batchnorm(t.G) else GENERATION_BATCH
        asked, verdict = [], []
        with frozen_buffers(t.G), isolated_rng(t.random_streams):
            for start in range(0, self.samples, batch):
                n = min(batch, self.samples - start)
                z = torch.randn(n, t.z_dim, device=t.device, generator=gen)
                c = self._condition(start, n, gen)
                images = cond.fake(t.G, z, c).float()
                verdict.append(self.classifier(images).argmax(1))
                asked.append(cond.labels_of(c))
        asked_np = torch.cat(asked).cpu().numpy()
        verdict_np = torch.cat(verdict).cpu().numpy()
        if isinstance(cond, ClassCondition):
            return {"label_accuracy": float((asked_np == verdict_np).mean())}
        assert isinstance(cond, InfoCondition)
        classes = int(self.classifier_classes())
        return {"info_accuracy": matched_accuracy(asked_np, verdict_np, max(cond.categories, 1), classes)}

    def classifier_classes(self) -> int:
        head = getattr(self.classifier, "head", None)
        return int(head.out_features) if head is not None else 10

    def _condition(self, start: int, n: int, gen: torch.Generator) -> Tensor:
        """Balanced labels / code values (continuing across batches), continuous codes ~ U(−1, 1)."""
        cond, dev = self.condition, self.trainer.device
        if isinstance(cond, ClassCondition):
            return (balanced_labels(start + n, cond.n, dev))[start:]
        assert isinstance(cond, InfoCondition)
        parts = []
        if cond.categories:
            parts.append(one_hot(balanced_labels(start + n, cond.categories, dev)[start:], cond.categories))
        if cond.continuous:
            parts.append(torch.rand(n, cond.continuous, device=dev, generator=gen) * 2.0 - 1.0)
        return torch.cat(parts, dim=1)
