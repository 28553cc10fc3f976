"""The GAN doctor's alerts as events.jsonl records, and back.

The runner writes a record for every alert raised or cleared; a resumed or rolled-back run replays
them from its history, and a viewer of a run folder reads them from the file. One mapping serves all
three, so a replayed alert is the alert that was shown.
"""

from __future__ import annotations

from typing import Any

from gantui.protocol.events import Alert

__all__ = ["ALERT_KIND", "alert_from_record", "alert_record"]

ALERT_KIND = "alert"


def alert_record(alert: Alert, *, t: float) -> dict[str, Any]:
    """The events.jsonl line for ``alert``; a raised alert is a marker labelled with its title."""
    record: dict[str, Any] = {"step": alert.step, "t": round(t, 3), "kind": ALERT_KIND, "rule": alert.rule,
                              "title": alert.title, "detail": alert.message, "active": alert.active,
                              "marker": alert.active}
    if alert.active:
        record["label"] = alert.title
        record["suggestion"] = alert.suggestion
    return record


def alert_from_record(record: dict[str, Any]) -> Alert | None:
    """The alert an events.jsonl record stood for; None for any other record or a malformed one."""
    if record.get("kind") != ALERT_KIND:
        return None
    try:
        step, t = int(record.get("step", 0)), float(record.get("t", 0.0))
    except (TypeError, ValueError, OverflowError):
        return None
    rule, title = str(record.get("rule", "")), str(record.get("title", ""))
    if not rule or not title:
        return None
    return Alert(step=step, t=t, rule=rule, title=title, message=str(record.get("detail", "")),
                 suggestion=str(record.get("suggestion", "")), active=record.get("active") is not False)
