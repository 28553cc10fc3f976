"""``gantui view RUN_DIR [RUN_DIR …]``: finished (or crashed) run folders replayed read-only into the
dashboard.

``FileController`` is a third Controller: ``start(sink)`` reads the folder on a thread and reports it
as the run would have: its state (from config.toml and the last row), every metric row, the events
as markers and log lines, and the newest sample grid from ``samples/``. Further folders are compared:
their metric rows come as ``ComparedRows`` (runs B, C, … in the legend; the first folder is A), drawn
over the first run's plots. Commands are refused with a notice; q (a ``Stop``) closes the view.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gantui.config import TOY_DATASETS
from gantui.protocol import (
    METRIC_NAMES,
    Command,
    ComparedRows,
    Event,
    Finished,
    ImageSamples,
    MetricsBatch,
    Notice,
    RunState,
    StateChanged,
    Stop,
    frozen_array,
)
from gantui.remote.paths import RemoteError
from gantui.remote.rowstore import STEP, jsonl_blocks
from gantui.remote.runlog import read_events
from gantui.text import printable

__all__ = ["RUN_LETTERS", "FileController", "split_grid"]

RUN_LETTERS = "ABCDEFG"  # what the legend calls the runs of a comparison, in the order given

_PAD = 2  # RunFolder's grid padding between images
_CHUNK_ROWS = 65_536


def split_grid(grid: np.ndarray, side: int) -> np.ndarray:
    """A RunFolder sample grid (``_PAD`` pixels around each ``side``² image) back to (N, side, side, C).

    Cells that are entirely black padding past the last image (a batch that does not fill the last
    row) are dropped.
    """
    if grid.ndim == 2:
        grid = grid[..., None]
    step = side + _PAD
    rows, cols = (grid.shape[0] - _PAD) // step, (grid.shape[1] - _PAD) // step
    images = [grid[_PAD + r * step:_PAD + r * step + side, _PAD + c * step:_PAD + c * step + side]
              for r in range(rows) for c in range(cols)]
    while len(images) > 1 and not images[-1].any():
        images.pop()
    return np.stack(images) if images else np.zeros((0, side, side, grid.shape[2]), np.uint8)


def _run_folder(path: Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise RemoteError(f"{printable(path)}: not a run folder")
    if not (path / "metrics.jsonl").exists() and not (path / "config.toml").exists():
        raise RemoteError(f"{printable(path)}: not a run folder (no metrics.jsonl, no config.toml)")
    return path


def _metric_blocks(path: Path):
    """(columns, values) of metrics.jsonl in blocks, each without the columns it never fills."""
    for block in jsonl_blocks(path, block_lines=_CHUNK_ROWS):
        if not len(block):
            continue
        used = ~np.isnan(block).all(axis=0)
        used[STEP] = True
        yield tuple(name for name, keep in zip(METRIC_NAMES, used, strict=True) if keep), block, used


def _grid_side(grid: np.ndarray) -> int:
    """The image side of a grid of the runner's 64 samples (8 a row), or of a smaller square grid."""
    for cols in (8, 7, 6, 5, 4, 3, 2, 1):
        side, rest = divmod(grid.shape[1] - _PAD, cols)
        if not rest and side > _PAD and (grid.shape[0] - _PAD) % side == 0:
            return side - _PAD
    return max(grid.shape[1] - 2 * _PAD, 1)


class FileController:
    """A read-only Controller over a run folder (see the module docstring): q closes it, b has
    nothing to detach."""

    quit_detaches = False
    can_detach = False

    def __init__(self, run_dir: Path, compare: Sequence[Path] = ()) -> None:
        self.run_dir = _run_folder(run_dir)
        self.compared = [_run_folder(other) for other in compare]
        if len(self.compared) >= len(RUN_LETTERS):
            raise RemoteError(f"{len(self.compared) + 1} run folders: at most {len(RUN_LETTERS)} can be "
                              "compared")
        self.config = self._read_config()
        self._sink: Callable[[Event], None] = lambda e: None
        self._thread: threading.Thread | None = None
        self.step = 0
        self.rows = 0

    def _read_config(self) -> dict[str, Any]:
        from gantui.tomlio import read_toml

        with contextlib.suppress(Exception):  # a missing or damaged config.toml: show what the logs say
            return dict(read_toml(self.run_dir / "config.toml"))
        return {}

    def _setting(self, section: str, key: str, default: Any) -> Any:
        value = self.config.get(section, {}).get(key, default) if isinstance(self.config.get(section), dict) \
            else default
        return value if isinstance(value, type(default)) else default

    # ------------------------------------------------------------------ Controller
    def start(self, sink: Callable[[Event], None]) -> None:
        self._sink = sink
        self._thread = threading.Thread(target=self._replay, name="gantui-view", daemon=True)
        self._thread.start()

    def send(self, command: Command) -> None:
        if isinstance(command, Stop):
            self._deliver(Finished(step=self.step, reason="view closed"))
        else:
            why = (f"{type(command).__name__} not applied: this is a read-only view of a finished run "
                   f"(gantui --resume {printable(self.run_dir)} continues it)")
            self._deliver(Notice(step=self.step, level="warning", message=why))

    def detach(self) -> None:
        """Nothing runs: there is nothing to leave training (the app does not offer it)."""

    def join(self, timeout: float) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ the replay
    def _deliver(self, event: Event) -> None:
        with contextlib.suppress(Exception):
            self._sink(event)

    def _state(self, status: str = "finished") -> RunState:
        loss = self._setting("loss", "name", "")
        dataset = self._setting("data", "name", "")
        return RunState(
            status=status, step=self.step, d_steps=0, g_steps=0, k=self._setting("train", "k", 1), loss=loss,
            loss_description="", lr_d=float(self._setting("train", "lr_d", math.nan)),
            lr_g=float(self._setting("train", "lr_g", math.nan)), frozen_d=False, frozen_g=False,
            preset=self.run_dir.name, dataset=dataset, device="(finished run)",
            is_toy=dataset in TOY_DATASETS,
            run_dir=str(self.run_dir), total_steps=self._setting("train", "steps", 0))

    def _replay(self) -> None:
        self._deliver(StateChanged(state=self._state(), reason="viewing"))
        k_col = METRIC_NAMES.index("k")
        last_k = None
        for columns, block, used in _metric_blocks(self.run_dir / "metrics.jsonl"):
            self._deliver(MetricsBatch(columns=columns, values=frozen_array(block[:, used])))
            self.rows += len(block)
            self.step = int(block[-1, STEP])
            if np.isfinite(block[-1, k_col]):
                last_k = int(block[-1, k_col])
        self._replay_compared()
        for event in read_events(self.run_dir / "events.jsonl"):
            self._deliver(event)
            self.step = max(self.step, event.step)
        samples = self._last_samples()
        if samples is not None:
            self._deliver(samples)
        state = self._state()
        if last_k is not None:
            state = dataclasses.replace(state, k=last_k)
        self._deliver(StateChanged(state=state, reason="viewing"))
        self._deliver(Notice(step=self.step, level="info",
                             message=f"viewing {printable(self.run_dir)} read-only: {self.rows:,} rows up to "
                                     f"step {self.step:,}; q closes"))

    def _replay_compared(self) -> None:
        """Each further folder's rows, and one log line naming each run as the legend does."""
        if not self.compared:
            return
        this = RUN_LETTERS[0]
        lines = [f"{this} = {printable(self.run_dir)}"]
        for index, folder in enumerate(self.compared, 1):
            label, rows, last = RUN_LETTERS[index], 0, 0
            for columns, block, used in _metric_blocks(folder / "metrics.jsonl"):
                self._deliver(ComparedRows(index=index, label=label, this=this, columns=columns,
                                           values=frozen_array(block[:, used])))
                rows, last = rows + len(block), int(block[-1, STEP])
            if not rows:  # the run is named in the legend's place all the same
                self._deliver(ComparedRows(index=index, label=label, this=this, columns=("step",),
                                           values=frozen_array(np.zeros((0, 1)))))
            lines.append(f"{label} = {printable(folder)} ({rows:,} rows, to step {last:,})")
        self._deliver(Notice(step=self.step, level="info", message="comparing " + "; ".join(lines)))

    def _last_samples(self) -> ImageSamples | None:
        pngs = sorted((self.run_dir / "samples").glob("step-*.png"))
        if not pngs:
            return None
        path = pngs[-1]
        try:
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB" if image.mode not in ("L",) else "L"))
            step = int(path.stem.split("-")[1])
        except Exception as exc:  # no pillow, or a damaged PNG: the plots still show
            self._deliver(Notice(step=self.step, level="warning",
                                 message=f"cannot show {printable(path.name)}: {printable(exc)}"))
            return None
        if self._state().is_toy:  # a scatter over D's surface: one picture
            images = pixels[None] if pixels.ndim == 3 else pixels[None, ..., None]
        else:
            images = split_grid(pixels, self._setting("data", "image_size", 0) or _grid_side(pixels))
        empty = np.zeros((0, *images.shape[1:]), np.uint8)
        return ImageSamples(step=step, fake=frozen_array(images.astype(np.uint8)), real=frozen_array(empty))
