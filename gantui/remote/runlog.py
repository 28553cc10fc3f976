"""A run folder's events.jsonl as the events a dashboard showed when they happened.

Each line is one intervention (``step``, ``t``, ``kind``, ``detail``, and ``by`` when a viewer asked),
or one of the GAN doctor's alerts (``kind = "alert"``, raised or cleared).
The runner showed user actions as markers and its own scheduled work (periodic checkpoints and
probes) as log lines only; a line says which with ``"marker"`` when the runner writes it, else the
kind decides (see :func:`record_event`).
"""

from __future__ import annotations

import json
from pathlib import Path

from gantui.protocol import Alert, Intervention, Notice
from gantui.protocol.records import alert_from_record

__all__ = ["read_events", "record_event"]


def record_event(record: object) -> Intervention | Notice | Alert | None:
    """The event an events.jsonl record stood for, or None for a line that is not a record."""
    if not isinstance(record, dict):
        return None
    if record.get("kind") == "alert":  # the GAN doctor's (gantui.protocol.records)
        return alert_from_record(record)
    try:
        step, t = int(record.get("step", 0)), float(record.get("t", 0.0))
    except (TypeError, ValueError, OverflowError):
        return None
    kind, detail = str(record.get("kind", "")), str(record.get("detail", ""))
    marker = record.get("marker")
    if not isinstance(marker, bool):  # written before the runner said: scheduled work is not a marker
        marker = not (kind == "probe" or (kind == "checkpoint" and "manual-" not in detail))
    if marker:
        return Intervention(step=step, t=t, kind=kind, detail=detail, label=str(record.get("label", "")),
                            origin=str(record.get("by", "")))
    return Notice(step=step, level="info", message=detail)


def read_events(path: Path, *, limit: int | None = None) -> list[Intervention | Notice | Alert]:
    """Every record of an events.jsonl (its first ``limit`` bytes), in order; bad lines skipped."""
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit)
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = record_event(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if event is not None:
            out.append(event)
    return out
