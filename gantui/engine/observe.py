"""Turning the trainer's state into plain-data events: sample grids, 2-D views, toy metrics.

These run at the display or logging cadence, never per step, and use the trainer's isolated random
streams so that looking at a run never changes it. A conditional run's grid puts one class (or
InfoGAN code value) per row (:mod:`gantui.engine.cond.grid`), and its label and information
accuracies come from the dataset's classifier (:mod:`gantui.engine.cond.judge`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gantui.engine.cond import entropy_ceiling
from gantui.engine.cond.grid import ConditionGrid, generate_page, has_batchnorm
from gantui.engine.cond.judge import ConditionJudge
from gantui.engine.metrics import jsd_true, mode_metrics
from gantui.engine.rng import frozen_buffers, isolated_rng
from gantui.engine.trainer import Trainer
from gantui.protocol import ImageSamples, ToySamples, frozen_array

TOY_POINTS = 1000  # points of each kind in a 2-D view
SURFACE = 64  # D is evaluated on a SURFACE x SURFACE grid
JSD_SAMPLES = 40_000  # >= 10 000 for the quoted accuracy; grid25 needs ~40 000 to keep the bias < 0.002
MODE_SAMPLES = 2_500  # VEEGAN / PacGAN count modes on 2 500 samples


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] (or (N, D) flattened square greyscale) to (N, H, W, C) uint8."""
    x = x.detach().float()
    if x.dim() == 2:  # an MLP on images returns the flattened image
        side = round(x.shape[1] ** 0.5)
        x = x.view(-1, 1, side, side)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class Observer:
    """Builds the events that show the run, for one trainer."""

    def __init__(self, trainer: Trainer, toy=None) -> None:
        self.trainer = trainer
        self.toy = toy  # the toy distribution (with means/std/weights when it is a mixture)
        self.grid: ConditionGrid | None = None
        self.judge: ConditionJudge | None = None
        self._real_labels = np.zeros(0, dtype=np.int64)
        self._latest_bounds: dict[str, float] = {}  # the last read-out's mi_bound / mi_cont
        if trainer.cond.active:
            cfg = trainer.cfg
            self.grid = ConditionGrid(trainer.cond, seed=cfg.train.seed, device=trainer.device)
            self.judge = ConditionJudge(trainer, every=cfg.cond.eval_every, samples=cfg.cond.eval_samples)
        if toy is None and self.grid is not None and getattr(trainer.sampler, "classes", ()):
            real, labels = trainer.sampler.class_examples(self.grid.columns)
            self._real_images = to_uint8_images(real)
            self._real_labels = labels.cpu().numpy().astype(np.int64)
        elif toy is None:
            self._real_images = to_uint8_images(trainer.sampler.fixed_batch(64))
        else:
            self._real_points = trainer.sampler.fixed_batch(TOY_POINTS).float().cpu().numpy()
        if toy is not None:
            xmin, xmax, ymin, ymax = toy.extent()
            xs = torch.linspace(xmin, xmax, SURFACE, device=trainer.device)
            ys = torch.linspace(ymax, ymin, SURFACE, device=trainer.device)  # row 0 is the top
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            self._grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
            self._extent = (float(xmin), float(xmax), float(ymin), float(ymax))
            means = getattr(toy, "means", None)
            self._modes = np.zeros((0, 2), np.float32) if means is None else np.asarray(means, np.float32)

    @property
    def is_toy(self) -> bool:
        return self.toy is not None

    def samples(self) -> ImageSamples | ToySamples:
        t = self.trainer
        if self.grid is not None:
            return self._condition_samples()
        if self.toy is None:
            fake = to_uint8_images(t.generate())
            return ImageSamples(step=t.step, fake=frozen_array(fake), real=frozen_array(self._real_images),
                                generator=t.shown_generator)
        fake = t.generate(TOY_POINTS).float().cpu().numpy()
        # A critic's v is a score, not a logit: σ(v) would paint a uniform square (v ≈ −57 everywhere).
        critic = t.loss.critic
        surface = (t.d_scores if critic else t.d_probability)(self._grid).view(SURFACE, SURFACE).cpu().numpy()
        return ToySamples(step=t.step, real=frozen_array(self._real_points), fake=frozen_array(fake),
                          d_surface=frozen_array(surface.astype(np.float32)), extent=self._extent,
                          modes=frozen_array(self._modes), surface="score" if critic else "probability")

    def _condition_samples(self) -> ImageSamples:
        """The conditional grid: every page, one class (or code value) per row."""
        t, grid = self.trainer, self.grid
        assert grid is not None
        context = grid.context(t.fixed_noise) if has_batchnorm(t.G) else None
        with torch.no_grad(), isolated_rng(t.random_streams), frozen_buffers(t.G):
            pages = [generate_page(t.G, t.cond, page, context) for page in grid.pages(t.fixed_noise)]
        fake = to_uint8_images(torch.cat(pages))
        return ImageSamples(step=t.step, fake=frozen_array(fake), real=frozen_array(self._real_images),
                            labels=frozen_array(grid.labels), label_names=tuple(grid.names),
                            label_kind=grid.kind, columns=grid.columns, sweeps=grid.sweep_titles,
                            real_labels=frozen_array(self._real_labels), scores=self.condition_scores())

    def condition_scores(self) -> tuple[tuple[str, float], ...]:
        """The latest conditional read-outs, for the samples panel's caption."""
        out = dict(self.judge.latest) if self.judge is not None else {}
        out.update(self._latest_bounds)
        ceiling = entropy_ceiling(self.trainer.cond)
        if "mi_bound" in out and not math.isnan(ceiling):
            out["mi_ceiling"] = ceiling
        return tuple((name, float(value)) for name, value in sorted(out.items()))

    def condition_metrics(self, row: dict[str, float], note: Callable[[str, str], None]) -> dict[str, float]:
        """label_accuracy / info_accuracy when the judge's cadence says so (else {}); ``row`` is the
        read-out being queued, whose mi_bound the next grid's caption shows."""
        if self.judge is None:
            return {}
        self._latest_bounds = {k: row[k] for k in ("mi_bound", "mi_cont") if k in row and row[k] == row[k]}
        return self.judge.metrics(note)

    def toy_metrics(self) -> dict[str, float]:
        """jsd_true, modes and hq of the current G (2-D mixtures only)."""
        toy = self.toy
        if toy is None or getattr(toy, "means", None) is None:
            return {}
        fake = self.trainer.generate(JSD_SAMPLES).float().cpu().numpy()
        modes, hq = mode_metrics(fake[:MODE_SAMPLES], toy.means, toy.std)
        return {"jsd_true": float(jsd_true(fake, toy.means, toy.std, toy.weights)),
                "modes": float(modes), "hq": float(hq)}
