"""The runner's GAN doctor: every logged row goes past it, and what it finds is reported as the rest is.

An alert raised or cleared becomes an ``Alert`` event (the header's badge, a labelled marker, a log line
with the suggestion) and a ``kind = "alert"`` line in events.jsonl; the run's history keeps it too, so a
resume or a rollback replays it. With ``alerts.pause`` a raised alert pauses the run through the same
command queue as the space bar, recorded as asked by "doctor".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gantui.engine.doctor import Doctor, Finding, LossTraits, Thresholds
from gantui.engine.losses import LOSSES
from gantui.engine.losses.terms import BCETerms
from gantui.protocol import Alert, Pause
from gantui.protocol.records import alert_from_record, alert_record

if TYPE_CHECKING:
    from gantui.engine.runner import Runner

__all__ = ["DoctorSlot", "loss_traits"]

SATURATING_COSTS = ("minimax", "maxlikelihood")  # G's gradient vanishes with D(G(z)) (tutorial, Fig. 16)


def loss_traits(name: str) -> LossTraits:
    """What the doctor's rules need to know of the loss called ``name``."""
    loss = LOSSES.get(name)
    if loss is None:  # a row from a loss this version does not know: assume nothing about it
        return LossTraits(critic=True, saturating=False, wasserstein=False)
    saturating = isinstance(loss.terms, BCETerms) and loss.terms.g_cost in SATURATING_COSTS
    return LossTraits(critic=loss.critic, saturating=saturating, wasserstein=loss.family == "wgan")


class DoctorSlot:
    """Holds one runner's doctor; ``observe`` the flushed rows, ``forget_after`` a rollback."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        section = runner.cfg.alerts
        self.enabled = bool(section.enabled)
        self.pause = bool(section.pause)
        self.doctor = Doctor(Thresholds.from_section(section), loss_traits)

    def observe(self, rows: Iterable[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        for row in rows:
            for finding in self.doctor.observe(row):
                self._report(finding)

    def forget_after(self, step: int) -> None:
        """The run went back to ``step``: clear every badge; the replayed history raises the kept ones."""
        for finding in self.doctor.clear_all(step, f"the run went back to step {step:,}"):
            self.runner.emit(_event(finding, self.runner.elapsed))

    def adopt_history(self, records: Iterable[dict[str, Any]]) -> None:
        """A history was replayed: the alerts still raised at its end are raised for the doctor too, so
        it clears them when their condition goes (a resumed run's badges do not stick)."""
        open_: dict[str, Alert] = {}
        for alert in (alert_from_record(r) for r in records):
            if alert is not None and alert.active:
                open_[alert.rule] = alert
            elif alert is not None:
                open_.pop(alert.rule, None)
        if self.enabled:
            self.doctor.adopt(Finding(a.rule, a.title, a.step, a.message, a.suggestion)
                              for a in open_.values())

    def _report(self, finding: Finding) -> None:
        r = self.runner
        alert = _event(finding, r.elapsed)
        record = alert_record(alert, t=alert.t)
        r.history.append(record)
        r.recorder.add_event(record)
        r.emit(alert)
        if finding.active and self.pause and r.status == "running":
            r.send(Pause(), origin="doctor")


def _event(finding: Finding, t: float) -> Alert:
    return Alert(step=finding.step, t=t, rule=finding.rule, title=finding.title, message=finding.message,
                 suggestion=finding.suggestion, active=finding.active)
