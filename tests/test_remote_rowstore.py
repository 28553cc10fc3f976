"""The row store a late viewer's history comes from: exact rows, steps strictly increasing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gantui.protocol import METRIC_NAMES
from gantui.remote.rowstore import RowStore, jsonl_blocks, to_store_layout


def log(path: Path, steps: list[int]) -> None:
    with open(path, "a") as f:
        for s in steps:
            f.write(json.dumps({"step": s, "t": s / 10, "loss_d": 1.0 + s / 1000}) + "\n")


def stored_steps(store: RowStore) -> list[float]:
    return store.read(0, store.count)[:, 0].tolist()


def test_a_metrics_log_with_rollbacks_keeps_the_later_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    log(path, list(range(20, 201, 20)))
    log(path, list(range(20, 101, 20)))  # a rollback to 100 that logged the kept history again
    log(path, list(range(120, 161, 20)))
    log(path, [140, 160, 180])  # a rollback to 120 that did not
    with open(path, "a") as f:
        f.write('{"step": 200, "loss_d": 1.')  # torn: still being written
    store = RowStore(tmp_path / "rows")
    for block in jsonl_blocks(path, block_lines=4):  # rollbacks inside and across blocks
        store.append(block, repeats="replace")
    assert stored_steps(store) == [20, 40, 60, 80, 100, 120, 140, 160, 180]
    rows = store.read(0, store.count)
    assert rows[:, METRIC_NAMES.index("loss_d")].tolist() == [1.0 + s / 1000 for s in stored_steps(store)]
    assert np.isnan(rows[:, METRIC_NAMES.index("d_real")]).all()  # absent: NaN, as the runner reports it
    store.close()
    assert not (tmp_path / "rows").exists()


def test_live_rows_seen_already_are_skipped_and_a_reset_truncates(tmp_path: Path) -> None:
    store = RowStore(tmp_path / "rows")
    block = lambda steps: to_store_layout(("step",), np.array(steps, dtype=float)[:, None])  # noqa: E731
    assert len(store.append(block([5, 10, 15]))) == 3
    assert store.append(block([10, 15, 20])).tolist()[0][0] == 20  # a resumed run's tail: only 20 is new
    store.truncate_after(12)
    assert stored_steps(store) == [5, 10] and store.last_step == 10
    store.append(block([15, 20]))
    assert stored_steps(store) == [5, 10, 15, 20]
    store.truncate_after(0)
    assert store.count == 0 and store.read(0, 5).shape == (0, len(METRIC_NAMES))
    store.close()


def test_garbage_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 5}\nnot json\n{"step": "ten"}\n[1, 2]\n\n{"step": 15, "k": 2}\n')
    rows = np.concatenate(list(jsonl_blocks(path)))
    assert rows[:, 0].tolist() == [5, 15] and rows[1, METRIC_NAMES.index("k")] == 2
    assert list(jsonl_blocks(tmp_path / "missing.jsonl")) == []
