"""The runner's background slot for the D-optimality probe: one probe at a time, a slice at a time.

A probe (:class:`gantui.engine.probe.ProbeJob`) trains for seconds. Run whole between two iterations
it would stall the run and every key press; here it runs in slices of ``JOB_SLICE_S`` — back to back
while the run is paused, and for a bounded share of the loop's time while it trains.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gantui.engine.cadence import Cadence
from gantui.engine.probe import ProbeJob, probe_job
from gantui.text import printable

if TYPE_CHECKING:
    from gantui.engine.runner import Runner

__all__ = ["JOB_SHARE", "JOB_SLICE_S", "ProbeSlot"]

JOB_SLICE_S = 0.05  # a probe runs this long, then gives the loop back
JOB_SHARE = {False: 0.25, True: 0.5}  # of the loop's time while training: periodic / requested probes
PROBE_BUDGET = 0.1  # periodic probes take at most this share of the run's time, however fast it trains


class ProbeSlot:
    """Holds the running probe of one runner, if any."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.job: ProbeJob | None = None
        self.requested = False
        self._due = 0.0
        every = runner.cfg.log.probe_every if runner.observer.is_toy else 0
        self.cadence = Cadence(every, budget=PROBE_BUDGET)
        self.cadence.start_at(runner.trainer.step)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def request(self) -> None:
        """The user asked (``o``): probe now, unless a probe is already on its way."""
        if self.job is not None:
            self.runner.note("info", f"a probe of step {self.job.at_step:,} is running: its result first")
            return
        self.start(requested=True)

    def maybe_start(self) -> None:
        """A periodic probe (2-D data: every log.probe_every iterations, within PROBE_BUDGET)."""
        r = self.runner
        if self.job is None and self.cadence.due(r.trainer.step, r.elapsed):
            self.start(requested=False)

    def start(self, *, requested: bool) -> None:
        if self.job is not None:
            return
        r, log = self.runner, self.runner.cfg.log
        self.job = probe_job(r.trainer, max_steps=log.probe_steps, budget_s=log.probe_budget_s)
        self.requested = requested
        self._due = 0.0
        if requested:
            r.note("info", f"probing D* for G at step {r.trainer.step:,}…")

    def cancel(self) -> None:
        self.job = None

    def run(self) -> None:
        """Give the probe its slice; when it is done, log its result and queue it as a metric row."""
        job, r = self.job, self.runner
        if job is None or time.monotonic() < self._due:
            return
        start = time.monotonic()
        try:
            done = job.advance(JOB_SLICE_S)
        except Exception as exc:  # a probe that fails says so; the run goes on
            self.job = None
            r.note("warning", f"probe failed: {type(exc).__name__}: {printable(exc)}")
            return
        spent = time.monotonic() - start
        if r.status == "running":
            share = JOB_SHARE[self.requested]
            self._due = time.monotonic() + spent * (1 - share) / share
        if not done:
            return
        self.job = None
        result = job.result
        assert result is not None
        self.cadence.finished(step=result.at_step, seconds=result.seconds)
        how = "converged" if result.converged else "not converged: its step cap or time budget ended it"
        r.intervention("probe", f"jsd_probe = {result.jsd:.4f} nats for G at step {result.at_step:,} "
                                f"({result.steps:,} probe steps, {how}, {result.seconds:.1f} s)",
                       label="probe", marker=self.requested)
        r.queue_row({"jsd_probe": result.jsd, "probe_at": result.at_step, "probe_steps": result.steps,
                     "probe_converged": int(result.converged)})
        if r.status != "running":
            r.flush(force=True)
