"""The run folder: what a run leaves on disk for the user's own tools, owned by one writer at a time.

``runs/<time>-<preset>/`` holds ``config.toml`` (the configuration the trainer uses now, loadable as a
preset), ``metrics.jsonl`` (one object per logged step), ``events.jsonl`` (every intervention),
``samples/step-NNNNNNN.png`` and ``checkpoints/``. Whole files are replaced atomically; the logs are
appended whole lines at a time (:mod:`gantui.engine.jsonlog`), and a resumed or rolled-back run first
drops every line past its checkpoint, so the logs never hold two futures.

Opening a folder takes its lock (:mod:`gantui.engine.runlock`) and, under it, removes the temporary
files of a writer that was killed mid-write.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gantui.atomic import atomic_write, atomic_write_text
from gantui.config import Config
from gantui.engine.checkpoint import CheckpointFile, checkpoint_name, list_checkpoints
from gantui.engine.jsonlog import JsonLog, LogRead, read_log
from gantui.engine.pictures import image_grid, toy_scatter
from gantui.engine.runlock import RunFolderError, RunLock
from gantui.protocol import INTEGER_METRICS
from gantui.text import printable
from gantui.tomlio import dumps_toml

__all__ = ["KEEP_PERIODIC", "RunFolder", "RunFolderError", "default_run_dir", "holds_run"]

KEEP_PERIODIC = 3  # periodic checkpoints kept; manual, final and last-good ones are all kept
RUN_FILES = ("config.toml", "metrics.jsonl", "events.jsonl")
Mode = Literal["new", "resume", "overwrite"]


def default_run_dir(preset: str, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = Path(preset).stem if preset else "run"
    path = root / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{name}-{n}"
    return path


def holds_run(path: Path) -> bool:
    """Whether ``path`` already holds a run's files (its logs, configuration or checkpoints)."""
    path = Path(path)
    return any((path / name).exists() for name in RUN_FILES) or bool(list_checkpoints(path / "checkpoints"))


class RunFolder:
    """Writes one run's files. Every method but ``__init__``'s checks may raise OSError (a full disk,
    no permission, a deleted folder); the runner's recorder buffers and retries."""

    def __init__(self, path: Path, config: Config, *, mode: Mode = "new",
                 resume_step: int | None = None) -> None:
        self.path = Path(path)
        shown = printable(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{shown}: exists and is not a folder (--run-dir needs a folder)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock = RunLock(self.path)
        self.lock.acquire()
        try:
            if mode == "new" and holds_run(self.path):
                raise RunFolderError(f"{shown}: already holds a run: continue it with --resume {shown}, "
                                     "or start a new one there with --overwrite (its files are replaced)")
            if mode == "overwrite":
                self._clear()
            self.orphans_removed = self._remove_orphans()
            for sub in ("samples", "checkpoints"):
                (self.path / sub).mkdir(exist_ok=True)
            self.metrics = JsonLog(self.path / "metrics.jsonl", numeric=True, integers=INTEGER_METRICS)
            self.events = JsonLog(self.path / "events.jsonl", numeric=False)
            self.dropped_lines = 0  # unusable lines dropped from the logs on resume
            if resume_step is not None:
                self.dropped_lines = self.truncate_after(resume_step)
            self.write_config(config)
        except BaseException:
            self.lock.release()
            raise

    @property
    def metrics_path(self) -> Path:
        return self.metrics.path

    @property
    def events_path(self) -> Path:
        return self.events.path

    def close(self) -> None:
        """Release the folder: another gantui may write it from now on."""
        self.lock.release()

    def _clear(self) -> None:
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        for file in list_checkpoints(self.path / "checkpoints"):
            file.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            for png in (self.path / "samples").glob("step-*.png"):
                png.unlink(missing_ok=True)

    def _remove_orphans(self) -> int:
        """Delete ``.NAME.XXXX.tmp`` files (gantui.atomic's) that a killed writer left; we hold the lock."""
        removed = 0
        for folder in (self.path, self.path / "checkpoints", self.path / "samples"):
            with contextlib.suppress(OSError):
                for tmp in folder.glob(".*.tmp"):
                    if tmp.is_file():
                        tmp.unlink(missing_ok=True)
                        removed += 1
        return removed

    # ------------------------------------------------------------------------------- logs
    def write_config(self, config: Config) -> None:
        atomic_write_text(self.path / "config.toml", dumps_toml(config.as_dict()))

    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        self.metrics.append(rows, replace_step=True)

    def append_events(self, events: list[dict[str, Any]]) -> None:
        self.events.append(events)

    def truncate_after(self, step: int) -> int:
        """Forget both logs' lines past ``step``; return how many unusable lines were dropped."""
        return self.metrics.truncate_after(step) + self.events.truncate_after(step)

    def read_metrics(self) -> LogRead:
        return read_log(self.metrics.path, numeric=True)

    def read_events(self) -> LogRead:
        return read_log(self.events.path, numeric=False)

    # ---------------------------------------------------------------------------- samples
    def write_image_grid(self, step: int, images: np.ndarray, *, columns: int = 0) -> Path:
        """Save an (N, H, W, C) uint8 batch as one PNG grid (``columns`` per row; 0: a square grid)."""
        return self._save_png(step, image_grid(images, columns=columns))

    def write_toy_scatter(self, step: int, real: np.ndarray, fake: np.ndarray, surface: np.ndarray,
                          extent: tuple[float, float, float, float], *, score: bool = False) -> Path:
        """Save real (green) and generated (magenta) points over D's surface as a PNG."""
        return self._save_png(step, toy_scatter(real, fake, surface, extent, score=score))

    def _save_png(self, step: int, pixels: np.ndarray) -> Path:
        from PIL import Image

        path = self.path / "samples" / f"step-{step:07d}.png"
        image = Image.fromarray(pixels)
        atomic_write(path, lambda f: image.save(f, format="PNG"))
        return path

    # ------------------------------------------------------------------------ checkpoints
    def checkpoint_path(self, tag: str, step: int) -> Path:
        return self.path / "checkpoints" / checkpoint_name(tag, step)

    def checkpoints(self) -> list[CheckpointFile]:
        return list_checkpoints(self.path / "checkpoints")

    def prune_periodic(self) -> None:
        """Keep the newest KEEP_PERIODIC periodic checkpoints, newest by step (not by name)."""
        periodic = [f for f in self.checkpoints() if f.tag == "periodic"]
        for old in periodic[:-KEEP_PERIODIC]:
            old.path.unlink(missing_ok=True)

    def set_aside_checkpoints_after(self, step: int) -> int:
        """After going back to ``step`` (a rollback, a resume from an earlier checkpoint), the later
        checkpoints belong to an abandoned branch: move them to ``checkpoints/abandoned/`` so that
        ``--resume RUN`` continues the branch the logs describe. Returns how many were moved."""
        later = [f for f in self.checkpoints() if f.step > step]
        if later:
            aside = self.path / "checkpoints" / "abandoned"
            aside.mkdir(exist_ok=True)
            for file in later:
                file.path.replace(aside / file.path.name)
        return len(later)
