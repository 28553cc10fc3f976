"""The run folder's two logs, metrics.jsonl and events.jsonl: JSON lines that are never torn.

A line is appended whole or not at all: a write that fails half-way (a full disk) is cut back to
where it began, and a log found ending in half a line (a crash, or a cut-back that failed too) is
repaired before the next append. Readers never trust a line: anything that is not a JSON object with
a whole, non-negative ``step`` is skipped and counted, so a hand-edited or damaged log can be read
(and resumed) and says how much of it was unusable.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantui.atomic import atomic_write_text

__all__ = ["JsonLog", "LogRead", "dumps_row", "parse_line", "read_log"]


def dumps_row(row: Mapping[str, Any], integers: frozenset[str] = frozenset()) -> str:
    """One log line: non-finite numbers left out (JSON has none), counters written as integers."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, float):
            if not math.isfinite(value):
                continue
            if key in integers and value.is_integer():
                value = int(value)
        out[key] = value
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n"


def _whole_step(value: Any) -> int | None:
    """A step as logs write it: a non-negative integer (or a float with no fraction), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


def parse_line(line: str, *, numeric: bool) -> dict[str, Any] | None:
    """The object on one log line, or None when the line cannot be used.

    Usable means a JSON object whose ``step`` is a whole non-negative number. With ``numeric`` (the
    metrics log) every other value must be a finite number or a string (``loss``); a value that is
    neither is dropped from the row rather than failing it.
    """
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError, and numbers of over 4300 digits
        return None
    if not isinstance(row, dict):
        return None
    step = _whole_step(row.get("step"))
    if step is None:
        return None
    row["step"] = step
    if numeric:
        for key in [k for k, v in row.items() if k != "step" and not _usable_metric(v)]:
            del row[key]
    return row


def _usable_metric(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class LogRead:
    """What a log held: the usable rows in file order and how many lines were skipped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from f


def read_log(path: Path, *, numeric: bool, up_to_step: int | None = None) -> LogRead:
    """Every usable row of a log (those past ``up_to_step`` left out, not counted as skipped)."""
    read = LogRead()
    if not Path(path).is_file():
        return read
    for line in _lines(Path(path)):
        if not line.strip():
            continue
        row = parse_line(line, numeric=numeric)
        if row is None:
            read.skipped += 1
        elif up_to_step is None or row["step"] <= up_to_step:
            read.rows.append(row)
    return read


class JsonLog:
    """One append-only log. Every method may raise OSError (a full disk, a deleted folder)."""

    def __init__(self, path: Path, *, numeric: bool, integers: frozenset[str] = frozenset()) -> None:
        self.path = Path(path)
        self.numeric = numeric
        self.integers = integers
        self._repair_needed = True  # check the end of the file before the first append
        self._last_start: int | None = None  # where the last line this process wrote begins
        self._last_step: int | None = None

    def truncate_after(self, step: int) -> int:
        """Keep the usable lines up to ``step`` (a resumed or rolled-back run); return lines dropped
        as unusable. The last kept line can be replaced by :meth:`append` (see ``replace_step``)."""
        read = read_log(self.path, numeric=self.numeric, up_to_step=step)
        ordered = []
        for row in read.rows:  # a log never goes back in steps: a line that does is not this run's
            if ordered and row["step"] < ordered[-1]["step"]:
                read.skipped += 1
            else:
                ordered.append(row)
        read.rows = ordered
        text = "".join(dumps_row(row, self.integers) for row in read.rows)
        atomic_write_text(self.path, text)
        self._repair_needed = False
        last = read.rows[-1] if read.rows else None
        self._last_step = last["step"] if last else None
        self._last_start = len(text.encode("utf-8")) - len(dumps_row(last, self.integers).encode("utf-8")) \
            if last else None
        return read.skipped

    def append(self, rows: Iterable[Mapping[str, Any]], *, replace_step: bool = False) -> None:
        """Append ``rows`` whole. With ``replace_step``, a first row at the same step as the last line
        this log wrote replaces that line (a read-out after a single D- or G-step while paused
        describes the same step again: one row per step)."""
        rows = list(rows)
        if not rows:
            return
        encoded = [dumps_row(r, self.integers).encode("utf-8") for r in rows]
        with open(self.path, "a+b") as f:
            if self._repair_needed:
                _cut_torn_tail(f)
                self._repair_needed = False
            end = f.seek(0, os.SEEK_END)
            start = end
            if (replace_step and self._last_start is not None and self._last_start <= end
                    and _whole_step(rows[0].get("step")) == self._last_step):
                start = self._last_start
            try:
                f.truncate(start)  # O_APPEND: the write lands at the (new) end
                f.write(b"".join(encoded))
                f.flush()
            except OSError:
                # A replaced line is gone either way: the caller still holds the row that replaces it.
                self._cut_back(f, start)
                raise
        self._last_start = start + sum(len(line) for line in encoded[:-1])
        self._last_step = _whole_step(rows[-1].get("step"))

    def _cut_back(self, f, size: int) -> None:
        """After a failed write: leave the file as it was, or mark it for repair if that fails too."""
        try:
            f.truncate(size)
        except OSError:
            self._repair_needed = True


def _cut_torn_tail(f) -> None:
    """Drop a last line without its newline (the remains of a crash mid-append)."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    keep, chunk = size, 65536
    while keep > 0:  # search backwards for the last newline
        lo = max(0, keep - chunk)
        f.seek(lo)
        block = f.read(keep - lo)
        at = block.rfind(b"\n")
        if at >= 0:
            f.truncate(lo + at + 1)
            return
        keep = lo
    f.truncate(0)
