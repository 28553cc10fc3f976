"""What an image run is judged against: its feature spaces and the real statistics in each, prepared once.

Preparing may take a while the first time (training the dataset's classifier, pushing the real set
through a feature network) and then never again (both are cached on disk), so it is stepwise like an
evaluation: :meth:`QualitySetup.iter_ready` yields :class:`EvalProgress` and the first evaluation
runs it before its own work. A run that never evaluates never pays for it.

Which spaces (``eval.features``): ``auto`` is the offline classifier for digits, MNIST and
Fashion-MNIST, Inception plus the classifier for CIFAR-10 (FID, and class coverage), and Inception
for image folders and fake data (no labels). The first space is the primary one: KID, precision,
recall, density, coverage (and the Inception Score) are computed in it.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gantui.engine.quality.cache import QualityError
from gantui.engine.quality.classifier import CLASSIFIER_DATASETS, ClassifierSpace, iter_classifier
from gantui.engine.quality.features import FeatureSpace, load_inception
from gantui.engine.quality.realstats import REAL_MAX, REAL_SAMPLE, RealImages, RealStatistics, RealStatsCache

FEATURE_CHOICES = ("auto", "classifier", "inception", "both")


@dataclass(frozen=True)
class EvalProgress:
    """How far an evaluation (or its preparation) is: maps onto the protocol's ``Progress`` event."""

    task: str
    done: int
    total: int
    seconds_left: float


@dataclass(frozen=True)
class Target:
    """One feature space and the real set's statistics in it."""

    space: FeatureSpace
    real: RealStatistics


@dataclass
class Prepared:
    targets: list[Target]
    notes: list[str] = field(default_factory=list)  # lines for the log: accuracy, memory, sources
    seconds: float = 0.0


def space_names(dataset: str, features: str = "auto") -> list[str]:
    """The feature spaces to use for ``dataset``, primary first."""
    if features not in FEATURE_CHOICES:
        raise QualityError(f"eval.features = {features!r}: expected one of {', '.join(FEATURE_CHOICES)}")
    labelled = dataset in CLASSIFIER_DATASETS
    if features == "auto":
        if dataset == "cifar10":
            return ["inception", "classifier"]
        return ["classifier"] if labelled else ["inception"]
    if features in ("classifier", "both") and not labelled:
        raise QualityError(f"eval.features = {features!r}: data.name = '{dataset}' has no labels to train a "
                           f"classifier on (only {', '.join(CLASSIFIER_DATASETS)}); use 'inception'")
    return {"classifier": ["classifier"], "inception": ["inception"],
            "both": ["inception", "classifier"]}[features]


def megabytes(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


class _Rate:
    """Seconds left from the rate so far."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def left(self, done: int, total: int) -> float:
        if done <= 0:
            return float("nan")
        return (time.perf_counter() - self.start) / done * max(0, total - done)


def _labelled(steps: Generator[tuple[int, int], None, Any], task: str) -> Generator[EvalProgress, None, Any]:
    rate = _Rate()
    while True:
        try:
            done, total = next(steps)
        except StopIteration as end:
            return end.value
        yield EvalProgress(task, done, total, rate.left(done, total))


class QualitySetup:
    """Feature spaces and real statistics for one run, prepared on first use."""

    def __init__(self, data_cfg: Any, shape: tuple[int, int, int], real: RealImages, *,
                 device: torch.device, features: str = "auto", inception_weights: str = "",
                 root: Path | None = None, real_max: int = REAL_MAX, real_sample: int = REAL_SAMPLE,
                 spaces: list[FeatureSpace] | None = None) -> None:
        self.data_cfg, self.shape, self.real, self.device = data_cfg, shape, real, device
        self.names = space_names(data_cfg.name, features) if spaces is None else []
        self.inception_weights = inception_weights
        self.root = root
        self.real_max, self.real_sample = real_max, real_sample
        self.cache = RealStatsCache(root)
        self._given = spaces  # ready-made spaces (tests, stand-ins)
        self.prepared: Prepared | None = None
        self.tail_seconds = 0.0  # the last evaluation's metric time: its next ETA

    def _spaces(self, notes: list[str]) -> Iterator[Generator[EvalProgress, None, FeatureSpace]]:
        for name in self.names:
            if name == "classifier":
                yield self._classifier(notes)
            else:
                yield self._inception(notes)

    def _classifier(self, notes: list[str]) -> Generator[EvalProgress, None, FeatureSpace]:
        dataset = self.data_cfg.name
        trained = yield from _labelled(iter_classifier(self.data_cfg, self.shape, device=self.device,
                                                       root=self.root), f"training the {dataset} classifier")
        how = f"trained in {trained.seconds:.1f} s" if trained.seconds else "from the cache"
        notes.append(f"{dataset} classifier ({trained.arch}, {how}): test accuracy "
                     f"{100 * trained.accuracy:.1f} % on {trained.test_size} held-out images; "
                     f"{megabytes(sum(p.numel() * p.element_size() for p in trained.network.parameters()))}")
        return ClassifierSpace(trained, device=self.device)

    def _inception(self, notes: list[str]) -> Generator[EvalProgress, None, FeatureSpace]:
        yield EvalProgress("loading Inception-v3", 0, 1, float("nan"))
        space = load_inception(self.inception_weights, device=self.device, root=self.root)
        notes.append(f"Inception-v3 (torch-fidelity weights {space.key}): {megabytes(space.nbytes())}")
        return space

    def iter_ready(self) -> Generator[EvalProgress, None, Prepared]:
        """Prepare everything not yet prepared, stepwise; return the prepared targets."""
        if self.prepared is not None:
            return self.prepared
        started = time.perf_counter()
        notes: list[str] = []
        spaces: list[FeatureSpace] = list(self._given or [])
        for steps in self._spaces(notes):
            spaces.append((yield from steps))
        targets = []
        for space in spaces:
            task = f"real statistics ({space.distance_name})"
            stats = yield from _labelled(self.cache.iter_obtain(self.real, space, n=self.real_max,
                                                                sample=self.real_sample), task)
            how = f"computed in {stats.seconds:.1f} s" if stats.seconds else "from the cache"
            notes.append(f"real statistics for {space.distance_name} ({stats.moments.n} images, {how}): "
                         f"{megabytes(stats.nbytes())}")
            targets.append(Target(space, stats))
        self.prepared = Prepared(targets, notes, time.perf_counter() - started)
        return self.prepared
