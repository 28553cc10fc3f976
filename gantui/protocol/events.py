"""Events: what the runner reports, batched at the logging cadence, never one per step.

Arrays in events are read-only numpy arrays, so an event can be shared between threads safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "INTEGER_METRICS",
    "METRIC_NAMES",
    "Alert",
    "ComparedRows",
    "Event",
    "Failure",
    "Finished",
    "HistoryReset",
    "HostStats",
    "ImageSamples",
    "Intervention",
    "MetricsBatch",
    "Notice",
    "PresetSaved",
    "Progress",
    "RunState",
    "StateChanged",
    "ToySamples",
    "frozen_array",
]

# Columns a MetricsBatch may carry, in display order. A value that does not apply is NaN.
METRIC_NAMES = (
    "step", "t", "k", "d_real", "d_fake", "v_real", "v_fake", "loss_d", "loss_g", "jsd_bound",
    "fdiv_bound", "w_estimate", "gp", "grad_norm_d", "grad_norm_g", "steps_per_sec", "jsd_true",
    "modes", "hq", "jsd_probe", "probe_at", "probe_steps", "probe_converged",
    "fid", "fd_classifier", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage",
    "classes_covered", "class_kl", "eval_at", "eval_seconds", "eval_ema",
    "label_accuracy", "ac_real", "ac_fake", "mi_bound", "mi_cont", "info_accuracy",
)
# Columns that count something: written to metrics.jsonl as JSON integers.
INTEGER_METRICS = frozenset({"step", "k", "modes", "probe_at", "probe_steps", "probe_converged",
                             "classes_covered", "eval_at", "eval_ema"})


def frozen_array(a: np.ndarray) -> np.ndarray:
    """Return ``a`` (copied if it is writable elsewhere) marked read-only."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _no_labels() -> np.ndarray:
    return frozen_array(np.zeros(0, dtype=np.int64))


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
    total_steps: int = 0  # train.steps: where the run ends (0: until stopped)


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
class ComparedRows(Event):
    """Rows of another run, drawn over this one's plots for comparison (``gantui view A B``).

    ``index`` numbers the other runs from 1 (this run is 0) and picks their colour; ``label`` is what
    the legend calls the run, ``this`` what it calls the run whose own events these are. Columns and
    values are those of :class:`MetricsBatch`. Nothing else of that run is sent: its markers, log and
    samples stay in its own folder.
    """

    index: int
    label: str
    this: str
    columns: tuple[str, ...]
    values: np.ndarray  # float64, shape (rows, len(columns)), read-only

    def batch(self) -> MetricsBatch:
        return MetricsBatch(columns=self.columns, values=self.values)


@dataclass(frozen=True, slots=True)
class ImageSamples(Event):
    """Samples from the fixed noise batch, and a fixed batch of real images for comparison.

    A conditional run lays its grid out by condition: ``fake`` holds pages of ``columns`` images per
    row, one row per label, and ``labels`` says each image's row label (``label_kind`` "class": the
    class G was asked for; "code": InfoGAN's categorical value), named by ``label_names``. InfoGAN's
    ``fake`` holds one page per entry of ``sweeps`` (page j's columns sweep continuous code j, e.g.
    "c1 from −2 to 2"); the pages follow each other in ``fake`` and ``labels``. ``real`` is then laid
    out by class in the same columns (``real_labels``). ``scores`` carries the latest conditional
    read-outs for the panel's caption: ("label_accuracy", 0.83), ("mi_bound", 1.9), ("mi_ceiling", ln 10).
    An unconditional run leaves all of these empty.
    """

    step: int
    fake: np.ndarray  # uint8, (N, H, W, C), C in {1, 3}
    real: np.ndarray  # uint8, (N, H, W, C)
    generator: str = "g"  # "ema": the fakes come from the moving average of G's weights (train.g_ema)
    labels: np.ndarray = field(default_factory=_no_labels)  # int64 (N,), or empty
    label_names: tuple[str, ...] = ()
    label_kind: str = ""  # "", "class" or "code"
    columns: int = 0  # images per row of the grid (0: the panel lays the images out freely)
    sweeps: tuple[str, ...] = ()
    real_labels: np.ndarray = field(default_factory=_no_labels)  # int64 (N_real,), or empty
    scores: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ToySamples(Event):
    """2-D data: real and generated points over D's decision surface."""

    step: int
    real: np.ndarray  # float32 (n, 2)
    fake: np.ndarray  # float32 (n, 2)
    d_surface: np.ndarray  # float32 (rows, cols) on a grid; row 0 is y = extent[3] (see ``surface``)
    extent: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    modes: np.ndarray  # float32 (K, 2) mode centres (may be empty)
    # "probability": d_surface is D(x) = σ(v) in [0, 1]; "score": a critic's raw v (any real number,
    # high = real-like), which only has a meaning relative to the rest of the surface.
    surface: str = "probability"


@dataclass(frozen=True, slots=True)
class Intervention(Event):
    """Something the user (or the runner) changed: a marker on every plot and a line in the log."""

    step: int
    t: float  # seconds since the run started
    kind: str  # "pause", "resume", "k", "loss", "lr_d", "lr_g", "freeze", "probe", "checkpoint", ...
    detail: str  # one line with before → after, e.g. "lr_d 0.0002 → 0.0004"
    label: str = ""  # a few characters for the plot marker, e.g. "k 3", "lr_d ×2", "hinge", "pause"
    origin: str = ""  # who asked: "" for the local dashboard or the runner itself, else a viewer's name


@dataclass(frozen=True, slots=True)
class Alert(Event):
    """The GAN doctor's finding about the logged windows: raised once, cleared once (hysteresis).

    ``rule`` is a stable identifier ("d_wins", "g_vanishing", ...); ``title`` the badge text;
    ``message`` the evidence in one line; ``suggestion`` what to try, naming the key that does it.
    """

    step: int
    t: float
    rule: str
    title: str
    message: str
    suggestion: str = ""
    active: bool = True  # False: the condition that raised it has cleared


@dataclass(frozen=True, slots=True)
class HostStats(Event):
    """The machine as the trainer sees it, every couple of seconds, paused or not: the header's host
    and device line, and its clock (``t``) and step between metric rows (a slow model's first row can
    take a minute)."""

    step: int
    t: float  # seconds since the run started (wall clock, paused time included)
    cpu_percent: float  # this process, in % of one core (200 = two cores busy)
    rss_bytes: int
    device: str  # "cpu", or the accelerator's name, e.g. "NVIDIA H100 80GB HBM3"
    device_used_bytes: int = 0  # memory allocated by torch on the device
    device_peak_bytes: int = 0
    device_total_bytes: int = 0
    utilization: float = float("nan")  # % busy, where the driver reports it (NVML)
    graph: str = ""  # the CUDA-graph status line, or "" off CUDA


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """A long task between iterations (an evaluation): ``done`` of ``total`` units, and time left."""

    step: int
    task: str  # e.g. "evaluating FID"
    done: int
    total: int
    seconds_left: float = float("nan")


@dataclass(frozen=True, slots=True)
class HistoryReset(Event):
    """The run's history now ends at ``step`` (a rollback): forget every later row and marker.

    The runner sends the kept history again right after (a MetricsBatch and the Interventions).
    """

    step: int
    reason: str


@dataclass(frozen=True, slots=True)
class PresetSaved(Event):
    """A preset was written (``p``): the palette lists it from now on."""

    name: str
    path: str


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
