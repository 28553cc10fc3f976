"""A session: everything one run needs, built from a Config (or a checkpoint) before training starts.

Building happens on the caller's thread so that a user's mistake (a missing dataset, a device that
does not exist, a checkpoint of another model) is reported as one line before any UI appears.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantui.config import Config, merge_overrides, override_origins, resolve
from gantui.engine import checkpoint as ckpt
from gantui.engine.data import build_sampler
from gantui.engine.device import configure_threads, enable_fast_math, memory_summary, resolve_device
from gantui.engine.runfolder import RunFolder, default_run_dir
from gantui.engine.trainer import Knobs, Trainer
from gantui.presets import save_preset
from gantui.protocol import METRIC_NAMES

MAX_RESUMED_ROWS = 200_000  # rows of an earlier run's metrics.jsonl replayed to the dashboard


@dataclass(frozen=True)
class Resumed:
    """A checkpoint opened for ``--resume``: where it is, its run folder and its contents."""

    path: Path
    run_dir: Path
    state: dict[str, Any]


def open_checkpoint(target: Path) -> Resumed:
    """Open a checkpoint file, or a run folder's newest checkpoint (raises CheckpointError)."""
    target = Path(target)
    path = ckpt.find_latest(target) if target.is_dir() else target
    state = ckpt.load(path)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return Resumed(path=path, run_dir=run_dir, state=state)


def resume_config(resumed: Resumed, overrides: Sequence[str] = ()) -> Config:
    """The configuration a checkpoint was trained with, plus any ``--set`` overrides."""
    doc = merge_overrides(resumed.state["config"], overrides)
    return resolve(doc, source=str(resumed.path), preset=str(resumed.state.get("preset", "")),
                   origins=override_origins(overrides))


@dataclass
class Session:
    config: Config
    trainer: Trainer
    toy: Any  # the 2-D distribution, or None for images
    folder: RunFolder | None
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    resumed_rows: np.ndarray | None = None
    checkpoint_path: Path | None = None

    @classmethod
    def create(cls, config: Config, *, run_dir: Path | None = None, write: bool = True,
               resume: Resumed | None = None) -> Session:
        """Build the trainer; with ``resume`` (see :func:`open_checkpoint`) continue that run."""
        if resume is not None:
            run_dir = run_dir or resume.run_dir
        device = resolve_device(config.train.device)
        configure_threads(config.train.threads, convolutional=config.model.name == "dcgan")
        enable_fast_math(device)
        torch.manual_seed(config.train.seed)
        sampler = build_sampler(config.data, device=device, seed=config.train.seed)
        trainer = Trainer(config, sampler=sampler, device=device)
        toy = sampler.distribution if sampler.is_toy else None
        session = cls(config=config, trainer=trainer, toy=toy, folder=None)
        if resume is not None:
            ckpt.restore(trainer, resume.state, path=resume.path)
            session.history = list(resume.state.get("history", []))
            session.elapsed = float(resume.state.get("elapsed", 0.0))
            session.checkpoint_path = resume.path
        if write:
            folder_path = run_dir or default_run_dir(config.preset)
            session.folder = RunFolder(folder_path, config,
                                       resume_step=trainer.step if resume is not None else None)
            if resume is not None:
                session.resumed_rows = _read_rows(session.folder.metrics_path)
        return session

    def save_preset(self, name: str, knobs: Knobs) -> Path:
        """The current settings, as the trainer has them now, as a user preset."""
        cfg = self.config.replace(**{"train.k": knobs.k, "loss.name": knobs.loss, "train.lr_d": knobs.lr_d,
                                     "train.lr_g": knobs.lr_g})
        run = f" in {self.folder.path}" if self.folder else ""
        note = f"Saved at step {self.trainer.step}{run}. {self.config.description}".strip()
        return save_preset(name, dataclasses.replace(cfg, description=note))

    def memory(self) -> str:
        return memory_summary(self.trainer.device)


def _read_rows(path: Path) -> np.ndarray | None:
    """The tail of a metrics.jsonl as an array in METRIC_NAMES order (for the dashboard's plots)."""
    if not path.exists():
        return None
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows.append([float(row.get(name, math.nan)) for name in METRIC_NAMES])
            if len(rows) > 2 * MAX_RESUMED_ROWS:
                rows = rows[-MAX_RESUMED_ROWS:]
    return np.asarray(rows[-MAX_RESUMED_ROWS:], dtype=np.float64) if rows else None
