"""A session: everything one run needs, built from a Config (or a checkpoint) before training starts.

Building happens on the caller's thread so that a user's mistake (a missing dataset, a device that
does not exist, a checkpoint of another model, a run folder in use) is reported as one line before
any UI appears.

Resuming tells the truth: the configuration a resumed run uses is the checkpoint's, with the live
settings it had then (k, loss, learning rates, frozen players) folded in, and the user's ``--set``
overrides on top. Overrides that can change mid-run apply and are logged as interventions; those that
cannot (the model's shape, the optimiser, the seed) are refused in one line. ``config.toml`` is
written from the result, so it always says what the trainer uses.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantui.config import Config, ConfigError, merge_overrides, override_origins, parse_override, resolve
from gantui.engine import checkpoint as ckpt
from gantui.engine.data import build_sampler
from gantui.engine.device import (
    configure_threads,
    enable_fast_math,
    memory_summary,
    resolve_device,
    wants_channels_last,
)
from gantui.engine.distributed.resume import saved_world
from gantui.engine.quality.setup import space_names
from gantui.engine.runfolder import Mode, RunFolder, default_run_dir
from gantui.engine.runlock import check_free
from gantui.engine.trainer import Knobs, Trainer
from gantui.presets import save_preset
from gantui.protocol import METRIC_NAMES
from gantui.text import printable

__all__ = ["FIXED_ON_RESUME", "Resumed", "Session", "SessionError", "open_checkpoint", "resume_config"]

MAX_RESUMED_ROWS = 200_000  # rows of an earlier run's metrics.jsonl replayed to the dashboard
# What a checkpoint fixes: the players' shapes, the optimiser its state belongs to, the random streams.
FIXED_ON_RESUME = {
    "model": "the checkpoint's G and D have this architecture",
    "cond": "the checkpoint's G and D are built for this conditioning (labels or codes)",
    "data.name": "the players were trained on this dataset",
    "data.image_size": "the players' shapes follow the image size",
    "data.channels": "the players' shapes follow the channels",
    "train.optimizer": "the checkpoint's optimiser state belongs to its optimiser",
    "train.seed": "a resumed run continues the checkpoint's own random streams",
}
# Knobs the trainer changes live, and where each lives in the configuration.
KNOB_KEYS = {"k": "train.k", "loss": "loss.name", "lr_d": "train.lr_d", "lr_g": "train.lr_g",
             "frozen_d": "train.freeze_d", "frozen_g": "train.freeze_g"}


class SessionError(ValueError):
    """The run cannot be built as asked (not enough memory, a finished run): one line."""


@dataclass(frozen=True)
class Resumed:
    """A checkpoint opened for ``--resume``: where it is, its run folder and its contents."""

    path: Path
    run_dir: Path
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def open_checkpoint(target: Path) -> Resumed:
    """Open a checkpoint file, or a run folder's (or its checkpoints/ folder's) newest checkpoint."""
    target = Path(target)
    path = ckpt.find_latest(target) if target.is_dir() else target
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    if run_dir.is_dir():
        check_free(run_dir)
    state = ckpt.load(path)
    return Resumed(path=path, run_dir=run_dir, state=state)


def _fixed_reason(key: str) -> str | None:
    section = key.split(".", 1)[0]
    return FIXED_ON_RESUME.get(key) or FIXED_ON_RESUME.get(section)


def resume_config(resumed: Resumed, overrides: Sequence[str] = ()) -> Config:
    """The configuration a resumed run uses: the checkpoint's, its live knobs, then ``--set``.

    Raises ConfigError for an override a checkpoint cannot take, and for a finished run resumed
    without a larger ``train.steps``.
    """
    doc = copy.deepcopy(dict(resumed.state["config"]))
    knobs = resumed.state["knobs"]
    for knob, key in KNOB_KEYS.items():
        section, name = key.split(".")
        table = doc.setdefault(section, {})
        if isinstance(table, dict):
            table[name] = knobs[knob]
    old = resolve(doc, source=printable(resumed.path), preset=str(resumed.state.get("preset", "")))
    for text in overrides:
        key, value = parse_override(text)
        reason = _fixed_reason(key)
        if reason is not None and value != _value_of(old, key):
            raise ConfigError(f"--set {printable(text)}: cannot change when resuming ({reason}); "
                              "start a new run with --preset and --set instead")
    config = resolve(merge_overrides(doc, overrides), source=printable(resumed.path), preset=old.preset,
                     origins=override_origins(overrides))
    steps, done = config.train.steps, resumed.step
    if steps and done >= steps:
        raise ConfigError(f"{printable(resumed.run_dir)}: the run finished at step {done:,} "
                          f"(train.steps = {steps:,}); resume it with a larger --steps, "
                          f"e.g. --steps {2 * done}")
    return config


def _value_of(config: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def config_changes(old: dict[str, Any], new: Config) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) of every field a resumed run's configuration changed."""
    out = []
    for section, values in new.as_dict().items():
        if not isinstance(values, dict):
            continue
        before = old.get(section, {}) if isinstance(old.get(section), dict) else {}
        for name, value in values.items():
            if name in before and before[name] != value:
                out.append((f"{section}.{name}", before[name], value))
    return out


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
    resumed_from: int | None = None  # the step a resumed run continues from
    resume_changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (key, checkpoint's, now)
    resumed_world: int = 1  # how many data-parallel ranks saved the checkpoint resumed from
    notes: list[str] = field(default_factory=list)  # what the runner should say once it starts

    @classmethod
    def create(cls, config: Config, *, run_dir: Path | None = None, write: bool = True,
               resume: Resumed | None = None, mode: Mode = "new") -> Session:
        """Build the trainer; with ``resume`` (see :func:`open_checkpoint`) continue that run.

        ``mode``: a new run refuses a run folder that already holds one unless "overwrite".
        """
        if resume is not None:
            run_dir = run_dir or resume.run_dir
        device = resolve_device(config.train.device)
        configure_threads(config.train.threads)
        enable_fast_math(device)
        torch.manual_seed(config.train.seed)
        try:
            sampler = build_sampler(config.data, device=device, seed=config.train.seed,
                                    channels_last=wants_channels_last(config.model.name, device))
            trainer = Trainer(config, sampler=sampler, device=device)
        except (MemoryError, torch.OutOfMemoryError) as exc:
            raise SessionError(_no_memory(config, exc)) from None
        except RuntimeError as exc:
            if "alloc" not in str(exc).lower():
                raise
            raise SessionError(_no_memory(config, exc)) from None
        toy = sampler.distribution if sampler.is_toy else None
        if toy is None:  # a feature space this data cannot have is the user's mistake: say so now
            space_names(config.data.name, config.eval.features)
        session = cls(config=config, trainer=trainer, toy=toy, folder=None)
        if resume is not None:
            session._resume(resume)
        if write:
            folder_path = run_dir or default_run_dir(config.preset)
            session.folder = RunFolder(folder_path, config, mode="resume" if resume is not None else mode,
                                       resume_step=trainer.step if resume is not None else None)
            session._open_folder()
        return session

    def _resume(self, resume: Resumed) -> None:
        t, cfg = self.trainer, self.config
        ckpt.restore(t, resume.state, path=resume.path)
        # The configuration wins: it is the checkpoint's knobs unless the user overrode them.
        if cfg.loss.name != t.knobs.loss:
            t.set_loss(cfg.loss.name, reset_optimizers=cfg.loss.reset_optim_on_switch)
        t.set_k(cfg.train.k)
        t.set_lr("d", cfg.train.lr_d)
        t.set_lr("g", cfg.train.lr_g)
        t.freeze("d", cfg.train.freeze_d)
        t.freeze("g", cfg.train.freeze_g)
        if t.ema is not None:
            t.ema.decay = cfg.train.g_ema
        if cfg.train.optimizer == "adam":  # betas may be overridden; load_state_dict put the old ones back
            for opt in t.optimizers:
                for group in opt.param_groups:
                    group["betas"] = (cfg.train.beta1, cfg.train.beta2)
        self.history = [dict(e) for e in resume.state.get("history", [])
                        if isinstance(e.get("step"), int) and e["step"] <= t.step]
        self.elapsed = float(resume.state.get("elapsed", 0.0))
        self.checkpoint_path = resume.path
        self.resumed_from = t.step
        self.resumed_world = saved_world(resume.state)
        old = copy.deepcopy(dict(resume.state["config"]))
        for knob, key in KNOB_KEYS.items():
            section, name = key.split(".")
            old.setdefault(section, {})[name] = resume.state["knobs"][knob]
        self.resume_changes = config_changes(old, cfg)

    def _open_folder(self) -> None:
        folder = self.folder
        assert folder is not None
        if folder.lock.warning:
            self.notes.append(folder.lock.warning)
        if folder.orphans_removed:
            self.notes.append(f"removed {folder.orphans_removed} temporary file(s) a killed writer left")
        if self.resumed_from is None:
            return
        if folder.dropped_lines:
            self.notes.append(f"dropped {folder.dropped_lines} unusable line(s) of the run's "
                              "metrics.jsonl and events.jsonl (damaged or not gantui's)")
        moved = folder.set_aside_checkpoints_after(self.resumed_from)
        if moved:
            self.notes.append(f"moved {moved} checkpoint(s) past step {self.resumed_from:,} to "
                              "checkpoints/abandoned/: they belong to the branch this resume abandons")
        self.resumed_rows = rows_array(folder.read_metrics().rows)

    def save_preset(self, name: str, knobs: Knobs) -> Path:
        """The current settings, as the trainer has them now, as a user preset."""
        cfg = self.config.replace(**{"train.k": knobs.k, "loss.name": knobs.loss, "train.lr_d": knobs.lr_d,
                                     "train.lr_g": knobs.lr_g})
        run = f" in {self.folder.path}" if self.folder else ""
        note = f"Saved at step {self.trainer.step}{run}. {self.config.description}".strip()
        return save_preset(name, dataclasses.replace(cfg, description=note))

    def memory(self) -> str:
        return memory_summary(self.trainer.device)


def rows_array(rows: list[dict[str, Any]]) -> np.ndarray | None:
    """The newest MAX_RESUMED_ROWS metric rows as an array in METRIC_NAMES order (NaN where absent)."""
    rows = rows[-MAX_RESUMED_ROWS:]
    if not rows:
        return None
    nan = float("nan")
    out = np.full((len(rows), len(METRIC_NAMES)), nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(METRIC_NAMES):
            value = row.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[i, j] = value
    return out


def _no_memory(config: Config, exc: BaseException) -> str:
    d = config.data
    why = printable((str(exc).splitlines() or [""])[0][:100]) or "out of memory"
    return (f"cannot allocate the run's memory ({why}): lower train.batch_size "
            f"({config.train.batch_size}), data.image_size ({d.image_size or 'native'}) or data.fake_size, "
            "or the model's widths")
