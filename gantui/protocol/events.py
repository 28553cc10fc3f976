"""Events: what the runner reports, batched at the logging cadence, never one per step.

Arrays in events are read-only numpy arrays, so an event can be shared between threads safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "Event",
    "Failure",
    "Finished",
    "ImageSamples",
    "Intervention",
    "MetricsBatch",
    "Notice",
    "RunState",
    "StateChanged",
    "ToySamples",
    "frozen_array",
]

# Columns a MetricsBatch may carry, in display order. A value that does not apply is NaN.
METRIC_NAMES = (
    "step", "t", "k", "d_real", "d_fake", "v_real", "v_fake", "loss_d", "loss_g", "jsd_bound",
    "fdiv_bound", "w_estimate", "gp", "grad_norm_d", "grad_norm_g", "steps_per_sec", "jsd_true",
    "modes", "hq", "jsd_probe",
)


def frozen_array(a: np.ndarray) -> np.ndarray:
    """Return ``a`` (copied if it is writable elsewhere) marked read-only."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of everything the runner sends to its sink."""


@dataclass(frozen=True, slots=True)
class RunState:
    """Everything a controller shows about the run's settings, as the trainer has applied them."""

    status: str  # "running" | "paused" | "failed" | "finished"
    step: int  # completed iterations
    d_steps: int  # D optimiser steps taken so far
    g_steps: int  # G optimiser steps taken so far
    k: int
    loss: str
    loss_description: str
    lr_d: float
    lr_g: float
    frozen_d: bool
    frozen_g: bool
    preset: str
    dataset: str
    device: str
    is_toy: bool
    run_dir: str
    memory: str = ""  # e.g. "1.2/80 GiB" on CUDA
    critic: bool = False  # D's output under this loss is a score, not a logit: σ(v) is no probability


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """The run's state after a command was applied (or the run started, failed or ended)."""

    state: RunState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MetricsBatch(Event):
    """Logged rows since the last batch: ``values[i, j]`` is column ``columns[j]`` of row ``i``."""

    columns: tuple[str, ...]
    values: np.ndarray  # float64, shape (rows, len(columns)), read-only

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    def rows(self) -> list[dict[str, float]]:
        """The rows as dicts without NaN entries (the shape of metrics.jsonl)."""
        out = []
        for row in self.values:
            out.append({c: float(v) for c, v in zip(self.columns, row, strict=True) if v == v})
        return out


@dataclass(frozen=True, slots=True)
class ImageSamples(Event):
    """Samples from the fixed noise batch, and a fixed batch of real images for comparison."""

    step: int
    fake: np.ndarray  # uint8, (N, H, W, C), C in {1, 3}
    real: np.ndarray  # uint8, (N, H, W, C)


@dataclass(frozen=True, slots=True)
class ToySamples(Event):
    """2-D data: real and generated points over D's decision surface."""

    step: int
    real: np.ndarray  # float32 (n, 2)
    fake: np.ndarray  # float32 (n, 2)
    d_surface: np.ndarray  # float32 (rows, cols): D(x) = sigmoid(v) on a grid; row 0 is y = extent[3]
    extent: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    modes: np.ndarray  # float32 (K, 2) mode centres (may be empty)


@dataclass(frozen=True, slots=True)
class Intervention(Event):
    """Something the user (or the runner) changed: a marker on every plot and a line in the log."""

    step: int
    t: float  # seconds since the run started
    kind: str  # "pause", "resume", "k", "loss", "lr_d", "lr_g", "freeze", "probe", "checkpoint", ...
    detail: str


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """A message for the log: ``level`` is "info" or "warning"."""

    step: int
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Failure(Event):
    """The run hit an exception or a non-finite value; it is paused, not dead."""

    step: int
    message: str  # one line: what blew up
    detail: str = ""  # the traceback, for the log
    checkpoint: str = ""  # the last good checkpoint, if any


@dataclass(frozen=True, slots=True)
class Finished(Event):
    """The trainer thread has ended; no event follows."""

    step: int
    reason: str  # "steps", "stopped", "failed"
    checkpoint: str = ""
    extra: dict = field(default_factory=dict)
