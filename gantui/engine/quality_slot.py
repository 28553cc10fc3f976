"""The runner's slot for image-quality evaluations (FID / fd_classifier, KID, precision and recall,
class coverage): one at a time, in chunks between iterations, at a cadence kept within a share of the
run's time (``eval.every``, ``eval.budget``), and on request (``Evaluate``).

An evaluation judges a frozen copy of the generator (its EMA when ``train.g_ema`` is on) taken when it
starts, so training goes on meanwhile; its values are logged in the row of the step it finishes, with
``eval_at`` the step it judged. The feature spaces and the real statistics are prepared on the first
evaluation and cached on disk for every later run.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from gantui.engine.data import DataError
from gantui.engine.quality import (
    EVAL_SEED_OFFSET,
    EvalCadence,
    Evaluation,
    QualityError,
    QualitySetup,
    SnapshotGenerator,
    real_images_from_sampler,
)
from gantui.engine.quality.realstats import dataset_identity
from gantui.protocol import Progress
from gantui.text import printable

if TYPE_CHECKING:
    from gantui.engine.runner import Runner

__all__ = ["QualitySlot"]

PROGRESS_EVERY_S = 0.5  # Progress events at most this often
SHOWN = ("fid", "fd_classifier", "kid", "is", "precision", "recall", "density", "coverage", "classes_covered",
         "class_kl")


def _values_line(values: dict[str, float]) -> str:
    parts = []
    for name in SHOWN:
        if name in values and math.isfinite(values[name]):
            value = values[name]
            parts.append(f"{name} {value:.0f}" if name == "classes_covered" else f"{name} {value:.4g}")
    return ", ".join(parts)


class QualitySlot:
    """Holds the running evaluation of one runner, if any, and decides when the next is due."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        cfg = runner.cfg
        self.images = not runner.trainer.sampler.is_toy
        self.cadence = EvalCadence(cfg.eval.every if self.images else 0, budget=cfg.eval.budget)
        self.setup: QualitySetup | None = None
        self.job: Evaluation | None = None
        self.requested = False
        self._notes_said = False
        self._progress_due = 0.0

    @property
    def busy(self) -> bool:
        return self.job is not None

    def request(self) -> None:
        r = self.runner
        if not self.images:
            r.note("warning", "image-quality evaluation needs image data: on 2-D data jsd_true and modes "
                              "measure the generator")
        elif self.job is not None:
            r.note("info", f"an evaluation of step {self.job.step:,} is running: its result first")
        else:
            self.start(requested=True)

    def maybe_start(self) -> None:
        r = self.runner
        if self.job is None and self.cadence.due(r.trainer.step, r.elapsed):
            self.start(requested=False)

    def start(self, *, requested: bool) -> None:
        r, t, cfg = self.runner, self.runner.trainer, self.runner.cfg
        try:
            if self.setup is None:
                real = real_images_from_sampler(t.sampler, dataset_identity(cfg.data, t.sampler.shape))
                e = cfg.eval
                self.setup = QualitySetup(cfg.data, tuple(t.sampler.shape), real, device=t.device,
                                          features=e.features, inception_weights=e.inception_weights)
            model = t.ema.model if t.ema is not None else t.G
            generate = SnapshotGenerator(model, z_dim=t.z_dim, device=t.device,
                                         seed=cfg.train.seed + EVAL_SEED_OFFSET, batch_size=t.batch_size)
            self.job = Evaluation(generate, self.setup, step=t.step, generator=t.shown_generator,
                                  samples=cfg.eval.samples, streams=t.random_streams)
        except (QualityError, DataError, ValueError) as exc:
            self._give_up(exc)
            return
        self.requested = requested
        if requested:
            r.note("info", f"evaluating image quality at step {t.step:,} ({cfg.eval.samples:,} samples)…")

    def _give_up(self, exc: Exception) -> None:
        self.job = None
        self.cadence = EvalCadence(0)
        self.runner.note("warning", f"image-quality evaluation is off for this run: {printable(exc)}")

    def cancel(self) -> None:
        self.job = None

    def run(self) -> None:
        """One chunk of the running evaluation; its result logged and queued when it is done."""
        job, r = self.job, self.runner
        if job is None:
            return
        try:
            progress = job.advance()
        except (QualityError, DataError) as exc:
            self._give_up(exc)
            return
        now = time.monotonic()
        if job.finished or now >= self._progress_due:
            self._progress_due = now + PROGRESS_EVERY_S
            r.emit(Progress(step=r.trainer.step, task=progress.task, done=progress.done, total=progress.total,
                            seconds_left=progress.seconds_left))
        if not job.finished:
            return
        self.job = None
        result = job.result()
        self.cadence.finished(step=result.step, seconds=result.seconds)
        if not self._notes_said and self.setup is not None and self.setup.prepared is not None:
            self._notes_said = True
            for note in self.setup.prepared.notes:
                r.note("info", note)
        which = "G's EMA" if result.generator == "ema" else "G"
        r.intervention("eval", f"{_values_line(result.values)} for {which} at step {result.step:,} "
                               f"({result.samples:,} samples, {result.seconds:.1f} s)",
                       label="eval", marker=self.requested)
        r.queue_row({**result.values, "eval_at": result.step, "eval_seconds": result.seconds,
                     "eval_ema": int(result.generator == "ema")})
        if r.status != "running":
            r.flush(force=True)
