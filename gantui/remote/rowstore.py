"""A run's metric rows, for a viewer that attaches late: the whole history with no gap and no repeat.

Parsing metrics.jsonl at each attach is too slow for a long run (a million rows are ~290 MB of JSON,
4 s for msgspec on a busy 2-core machine), and keeping the rows in the trainer's memory grows with
the run. So the server mirrors every row it publishes into a file of fixed-width float64 records
(``METRIC_NAMES`` order, 160 bytes a row, about half the size of the JSON) in the private runtime
directory, and streams a new viewer its first ``count`` rows straight from there.

Steps only grow, so a repeated row is recognised by its step: live rows at or below the last stored
step are skipped (a resumed run re-sends its tail), while in a metrics.jsonl a step that goes back
means a rollback was logged there, and the later rows win.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
import numpy as np

from gantui.protocol import METRIC_NAMES

__all__ = ["RowStore", "jsonl_blocks", "to_store_layout"]

WIDTH = len(METRIC_NAMES)
ROW_BYTES = WIDTH * 8
STEP = METRIC_NAMES.index("step")
_INDEX = {name: i for i, name in enumerate(METRIC_NAMES)}

_Row = msgspec.defstruct("_Row", [(name, float, math.nan) for name in METRIC_NAMES])
_rows_decoder = msgspec.json.Decoder(list[_Row])
_row_decoder = msgspec.json.Decoder(_Row)


def to_store_layout(columns: Sequence[str], values: np.ndarray) -> np.ndarray:
    """``values`` (rows, len(columns)) as (rows, WIDTH) in METRIC_NAMES order; unknown columns dropped."""
    values = np.asarray(values, dtype=np.float64)
    if tuple(columns) == METRIC_NAMES:
        return values
    block = np.full((len(values), WIDTH), np.nan)
    for j, name in enumerate(columns):
        if (i := _INDEX.get(name)) is not None:
            block[:, i] = values[:, j]
    return block


def _decode_lines(lines: list[bytes]) -> np.ndarray:
    """Rows from JSON lines; a bad line (a torn last line, garbage) is skipped, not fatal."""
    try:
        rows = _rows_decoder.decode(b"[" + b",".join(lines) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        rows = []
        for line in lines:
            try:
                rows.append(_row_decoder.decode(line))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
    out = np.array([msgspec.structs.astuple(r) for r in rows], dtype=np.float64).reshape(-1, WIDTH)
    return out[~np.isnan(out[:, STEP])]


def jsonl_blocks(path: Path, *, limit: int | None = None, block_lines: int = 20_000) -> Iterator[np.ndarray]:
    """metrics.jsonl as (rows, WIDTH) blocks, reading at most ``limit`` bytes (only whole lines)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        left = limit
        pending: list[bytes] = []
        while left is None or left > 0:
            line = f.readline() if left is None else f.readline(left)
            if not line:
                break
            if left is not None:
                left -= len(line)
            if not line.endswith(b"\n"):
                break  # a line still being written: its row arrives live
            if line.strip():
                pending.append(line)
            if len(pending) >= block_lines:
                yield _decode_lines(pending)
                pending = []
        if pending:
            yield _decode_lines(pending)


class RowStore:
    """Fixed-width float64 rows in a private file; ``count`` rows, steps strictly increasing.

    Used from one thread (the server's loop); ``read`` may run while rows are appended.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.count = 0
        self.last_step = -math.inf
        self.failed = ""  # why the store stopped (a full disk); it then keeps what it has

    def append(self, block: np.ndarray, *, repeats: str = "skip") -> np.ndarray:
        """Store the rows of ``block`` (store layout) after the last one; return the rows stored.

        ``repeats`` says what a row at or below the last stored step means: "skip" (a live row seen
        already) or "replace" (a log line after a rollback: forget the stored rows from that step on).
        """
        if len(block) == 0 or self.failed:
            return block[:0]
        steps = block[:, STEP]
        if repeats == "replace":
            back = np.flatnonzero(np.diff(steps) <= 0) + 1  # where the step goes back inside the block
            start = 0
            for cut in [*back.tolist(), len(block)]:
                part = block[start:cut]
                if len(part) and part[0, STEP] <= self.last_step:
                    self.truncate_after(part[0, STEP] - 0.5)
                self._write(part)
                start = cut
            return block
        kept = block[steps > self.last_step]
        self._write(kept)
        return kept

    def _write(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        data = np.ascontiguousarray(rows, dtype="<f8").tobytes()
        try:
            os.pwrite(self._fd, data, self.count * ROW_BYTES)
        except OSError as exc:
            self.failed = exc.strerror or str(exc)
            return
        self.count += len(rows)
        self.last_step = float(rows[-1, STEP])

    def truncate_after(self, step: float) -> None:
        """Forget every row after ``step`` (a rollback)."""
        lo, hi = 0, self.count  # the first row with a step above ``step``: a binary search on disk
        while lo < hi:
            mid = (lo + hi) // 2
            if self._step_at(mid) > step:
                hi = mid
            else:
                lo = mid + 1
        if lo == self.count:
            return
        os.ftruncate(self._fd, lo * ROW_BYTES)
        self.count = lo
        self.last_step = self._step_at(lo - 1) if lo else -math.inf

    def _step_at(self, i: int) -> float:
        raw = os.pread(self._fd, 8, i * ROW_BYTES + STEP * 8)
        return float(np.frombuffer(raw, dtype="<f8")[0])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start``..``stop`` (fewer if the store was truncated meanwhile)."""
        stop = min(stop, self.count)
        if stop <= start:
            return np.zeros((0, WIDTH))
        raw = os.pread(self._fd, (stop - start) * ROW_BYTES, start * ROW_BYTES)
        return np.frombuffer(raw, dtype="<f8").reshape(-1, WIDTH)

    def close(self, *, remove: bool = True) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if remove:
            self.path.unlink(missing_ok=True)
