"""An evaluation of G, in chunks the runner runs between training iterations, and when to start one.

:class:`Evaluation` is a state machine: each :meth:`Evaluation.advance` does about ``chunk_seconds``
of work (a few micro-batches of generated images through every feature space, or a slice of the
metric computations) and returns an :class:`EvalProgress`; when :attr:`finished`, :meth:`result` has
every value. Training goes on between chunks, so the evaluator must judge a fixed generator:
:class:`SnapshotGenerator` copies G (or its EMA) when the evaluation starts and draws its noise from
its own seeded stream — the same latents at every evaluation, so successive values differ because G
did, not because the noise did. Images are generated in micro-batches of a fixed size whatever the
chunking, so the result does not depend on how the work was split (BatchNorm in training mode sees
the same batches). Each chunk runs inside :func:`~gantui.engine.rng.isolated_rng` over the training
streams: evaluating never changes the run.

:class:`EvalCadence` keeps evaluations within ``EVAL_BUDGET`` (5 %) of the run's time, as the sample
grids are kept (``runner.SAMPLES_BUDGET``), and no closer than ``eval.every`` iterations.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from gantui.engine.cadence import Cadence
from gantui.engine.quality.classes import InceptionScoreAccumulator, class_coverage, class_histogram
from gantui.engine.quality.frechet import MomentAccumulator, frechet_distance
from gantui.engine.quality.kid import KID_SUBSET_SIZE, KID_SUBSETS, iter_kid
from gantui.engine.quality.manifold import K_DENSITY_COVERAGE, iter_prdc
from gantui.engine.quality.setup import EvalProgress, QualitySetup, Target
from gantui.engine.rng import frozen_buffers, isolated_rng

EVAL_SAMPLES = 10_000  # generated images per evaluation; 50 000 for paper-comparable FIDs (fid50k)
EVAL_BUDGET = 0.05  # at most this share of the run's time goes to evaluations
EVAL_SEED_OFFSET = 7  # the evaluation latents' seed is the run's seed plus this
GENERATION_BATCH = 500  # images per generator call when G has no BatchNorm
CHUNK_SECONDS = 0.25  # about this much work per advance()
FAKE_SAMPLE = 10_000  # generated features kept for KID and PRDC (the real sample's size)

T = TypeVar("T")


@dataclass(frozen=True)
class EvalResult:
    """Every value of one evaluation, the step and generator it judged, and what it cost."""

    step: int
    generator: str  # "ema" or "g"
    samples: int
    seconds: float  # the evaluation itself (generation, features, metrics)
    prepare_seconds: float  # one-off preparation it ran first (classifier, real statistics), else 0
    values: dict[str, float]


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class SnapshotGenerator:
    """``n → images``: a frozen copy of a generator, with its own noise stream (``seed``).

    A conditional run's G takes (z, c): pass the trainer's ``cond``, whose ``condition(n, generator)``
    draws c from p(c) (labels by the data's class frequencies, InfoGAN codes) on the same stream.
    """

    def __init__(self, model: nn.Module, *, z_dim: int, device: torch.device, seed: int,
                 batch_size: int = GENERATION_BATCH, condition: Any = None) -> None:
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.condition = condition if condition is not None and condition.active else None
        self.z_dim, self.device = z_dim, device
        self.noise = torch.Generator(device=device).manual_seed(seed)
        # BatchNorm in training mode normalises by the batch: generate in the batches G trains on.
        self.batch = batch_size if has_batchnorm(model) else GENERATION_BATCH

    @torch.no_grad()
    def __call__(self, n: int) -> Tensor:
        z = torch.randn(n, self.z_dim, device=self.device, generator=self.noise)
        with frozen_buffers(self.model):
            if self.condition is not None:
                return self.condition.fake(self.model, z, self.condition.condition(n, self.noise)).float()
            return self.model(z).float()


class Evaluation:
    """One evaluation of ``generate`` against a :class:`QualitySetup`, stepwise."""

    def __init__(self, generate: Callable[[int], Tensor], setup: QualitySetup, *, step: int,
                 generator: str = "g", samples: int = EVAL_SAMPLES, batch: int | None = None,
                 chunk_seconds: float = CHUNK_SECONDS, kid_subsets: int = KID_SUBSETS,
                 kid_subset_size: int = KID_SUBSET_SIZE, fake_sample: int = FAKE_SAMPLE,
                 streams: Sequence[torch.Generator] = ()) -> None:
        if samples < 10:
            raise ValueError(f"eval.samples = {samples}: an evaluation needs at least 10 images")
        self.generate, self.setup = generate, setup
        self.step, self.generator, self.samples = step, generator, samples
        self.batch = batch or getattr(generate, "batch", GENERATION_BATCH)
        self.chunk_seconds = chunk_seconds
        self.kid_subsets, self.kid_subset_size, self.fake_sample = kid_subsets, kid_subset_size, fake_sample
        self.streams = list(streams)
        self._work = self._steps()
        self._result: EvalResult | None = None
        self._last = EvalProgress("evaluating", 0, samples, math.nan)

    @property
    def finished(self) -> bool:
        return self._result is not None

    def advance(self) -> EvalProgress:
        """Do about ``chunk_seconds`` of work (at least one step); return how far the evaluation is."""
        if self._result is not None:
            return self._last
        end = time.perf_counter() + self.chunk_seconds
        with isolated_rng(self.streams):
            while True:
                try:
                    self._last = next(self._work)
                except StopIteration as done:
                    self._result = done.value
                    self._last = EvalProgress("evaluated", self.samples, self.samples, 0.0)
                    break
                if time.perf_counter() >= end:
                    break
        return self._last

    def run(self) -> EvalResult:
        """The whole evaluation at once (tests, benchmarks, headless one-offs)."""
        while not self.finished:
            self.advance()
        return self.result()

    def result(self) -> EvalResult:
        if self._result is None:
            raise RuntimeError("the evaluation has not finished")
        return self._result

    # ------------------------------------------------------------------------------ the work
    def _steps(self) -> Generator[EvalProgress, None, EvalResult]:
        fresh = self.setup.prepared is None
        prepared = yield from self.setup.iter_ready()
        started = time.perf_counter()
        targets = prepared.targets
        moments = [MomentAccumulator(t.space.dim, t.space.device) for t in targets]
        counts = [torch.zeros(t.space.classes, dtype=torch.float64) for t in targets]
        scores: InceptionScoreAccumulator | None = None  # on the primary space, if it is Inception's
        kept: list[Tensor] = []
        done = 0
        while done < self.samples:
            n = min(self.batch, self.samples - done)
            images = self.generate(n)
            for i, target in enumerate(targets):
                out = target.space(images)
                moments[i].add(out.features)
                if target.space.classes and out.probs is not None:
                    counts[i] += class_histogram(out.probs.argmax(1), target.space.classes)
                if i == 0:
                    if target.space.inception_score and out.probs is not None:
                        if scores is None:
                            scores = InceptionScoreAccumulator(self.samples, out.probs.shape[1])
                        scores.add(out.probs)
                    have = sum(len(k) for k in kept)
                    if have < self.fake_sample:
                        kept.append(out.features[:self.fake_sample - have].float())
            done += n
            elapsed = time.perf_counter() - started
            left = elapsed / done * (self.samples - done) + self.setup.tail_seconds
            yield EvalProgress("evaluating", done, self.samples, left)
        tail_started = time.perf_counter()
        values = yield from self._metrics(targets, moments, counts, scores, torch.cat(kept))
        self.setup.tail_seconds = time.perf_counter() - tail_started
        return EvalResult(self.step, self.generator, self.samples, time.perf_counter() - started,
                          prepared.seconds if fresh else 0.0, values)

    def _metrics(self, targets: list[Target], moments: list[MomentAccumulator], counts: list[Tensor],
                 scores: InceptionScoreAccumulator | None, fake: Tensor
                 ) -> Generator[EvalProgress, None, dict[str, float]]:
        t0 = time.perf_counter()

        def progress() -> EvalProgress:
            spent = time.perf_counter() - t0
            return EvalProgress("quality metrics", self.samples, self.samples,
                                max(0.0, self.setup.tail_seconds - spent))

        values: dict[str, float] = {}
        for target, acc, count in zip(targets, moments, counts, strict=True):
            real = target.real
            values[target.space.distance_name] = frechet_distance(real.moments, acc.moments(),
                                                                  sqrt_cov1=real.sqrt_cov())
            if target.space.classes and "classes_covered" not in values and real.class_counts is not None:
                covered, kl = class_coverage(count, real.class_counts)
                values["classes_covered"] = float(covered)
                values["class_kl"] = kl
            yield progress()
        real = targets[0].real
        values["kid"], values["kid_std"] = yield from _relay(
            iter_kid(real.sample, fake, subsets=self.kid_subsets, subset_size=self.kid_subset_size), progress)
        if scores is not None:
            values["is"], values["is_std"] = scores.score()
        n = min(len(real.sample), len(fake))  # PRDC compares sets of one size (a ball shrinks as n grows)
        if n > K_DENSITY_COVERAGE:
            radii = yield from _relay(real.iter_radii(n), progress)
            values.update((yield from _relay(iter_prdc(real.sample[:n], fake[:n], radii=radii), progress)))
        return values


def _relay(steps: Generator[object, None, T], progress: Callable[[], EvalProgress]
           ) -> Generator[EvalProgress, None, T]:
    """Run a stepwise computation, yielding the evaluation's progress at each of its steps."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value
        yield progress()


EvalCadence = Cadence  # the cadence of periodic evaluations (see gantui.engine.cadence)
