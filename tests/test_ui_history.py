"""MetricsHistory keeps memory bounded, spikes visible and any window at screen resolution; Markers keep
the last interventions, numbered, and forget a rolled-back future."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from gantui.protocol import Alert, Intervention, MetricsBatch, frozen_array
from gantui.ui.history import MetricsHistory
from gantui.ui.markers import Markers


def batch(columns: tuple[str, ...], rows: list[list[float]] | np.ndarray) -> MetricsBatch:
    """A batch as the runner sends it: read-only float64 values."""
    return MetricsBatch(columns=columns, values=frozen_array(np.asarray(rows, dtype=np.float64)))


LOSS = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]


def ten_rows(one_at_a_time: bool) -> MetricsHistory:
    history = MetricsHistory(capacity=4, levels=3)
    rows = [[step, value] for step, value in enumerate(LOSS)]
    if one_at_a_time:
        for row in rows:
            history.extend(batch(("step", "loss_d"), [row]))
    else:
        history.extend(batch(("step", "loss_d"), rows))
    return history


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_the_oldest_pairs_move_up_a_level_when_a_level_is_full(one_at_a_time: bool) -> None:
    # By hand, capacity 4: rows 0..3 fill level 0. Row 4 makes 5: the oldest pair (0, 1) merges into
    # level 1, leaving 2 3 4; rows 5 and 6 fill level 0 again (2..6 is 5: pair (2, 3) leaves); and so
    # on: level 0 keeps the 4 newest rows 6..9, level 1 the pairs [0,1] [2,3] [4,5] — the same layout
    # whether the rows come one by one or in one batch.
    history = ten_rows(one_at_a_time)
    w = history.window("loss_d")
    assert w.x.tolist() == [0.5, 2.5, 4.5, 6, 7, 8, 9]  # a bucket's middle step
    assert w.low.tolist() == [1, 1, 5, 2, 6, 5, 3]  # min(3, 1), min(4, 1), min(5, 9), then the rows
    assert w.high.tolist() == [3, 4, 9, 2, 6, 5, 3]
    assert w.counts.tolist() == [2, 2, 2, 1, 1, 1, 1]
    assert w.mean.tolist() == [2, 2.5, 7, 2, 6, 5, 3]
    assert len(history) == 10 and history.buckets == 7
    assert history.latest("loss_d") == 3.0 and history.measured("loss_d") == (3.0, 9.0)
    assert history.step_range() == (0.0, 9.0)


def test_a_window_returns_only_the_buckets_that_overlap_it() -> None:
    history = ten_rows(False)
    assert history.window("loss_d", 3, 7).x.tolist() == [2.5, 4.5, 6, 7]  # [2,3] overlaps step 3
    assert history.window("loss_d", 8.5, 100).x.tolist() == [9]
    assert history.window("loss_d", 20, 30).x.size == 0
    assert history.window("never_logged").x.size == 0


def test_the_top_level_halves_in_place_so_memory_stays_bounded() -> None:
    history = MetricsHistory(capacity=4, levels=2)
    history.extend(batch(("step", "v"), [[s, s] for s in range(100)]))
    assert history.buckets <= 2 * 4
    w = history.window("v")
    assert w.counts.sum() == 100 and len(history) == 100  # every row is in exactly one bucket
    assert w.low.min() == 0 and w.high.max() == 99
    assert (np.diff(w.x) > 0).all()


def test_columns_that_appear_later_and_nan_values() -> None:
    history = MetricsHistory(capacity=10)
    history.extend(batch(("step", "loss_d"), [[0, 1.0], [1, 2.0]]))
    # The probe appears at step 2; loss_d is NaN at step 3 (the column order differs too).
    history.extend(batch(("jsd_probe", "step", "loss_d"), [[0.3, 2, 3.0], [math.nan, 3, math.nan]]))
    w = history.window("jsd_probe")
    assert w.x.tolist() == [2] and w.low.tolist() == [0.3] and w.high.tolist() == [0.3]
    assert history.window("loss_d").x.tolist() == [0, 1, 2]  # the NaN row holds no loss_d
    assert history.latest("loss_d") == 3.0  # the last *number*, not the NaN
    assert history.measured("jsd_probe") == (0.3, 2.0)
    assert math.isnan(history.latest("never_logged"))
    assert history.has("jsd_probe") and not history.has("never_logged")
    assert history.names == ("step", "loss_d", "jsd_probe")


def test_version_moves_on_every_change_only() -> None:
    history = MetricsHistory(capacity=10)
    v0 = history.version
    history.extend(batch(("step", "k"), [[1, 1.0]]))
    v1 = history.version
    history.extend(batch(("step", "k"), np.zeros((0, 2))))  # nothing added: no redraw needed
    assert v1 > v0 and history.version == v1
    history.clear()
    assert history.version > v1 and len(history) == 0 and history.step_range() is None


def test_truncate_forgets_the_rows_after_a_step_and_the_latest_values_follow() -> None:
    history = ten_rows(False)  # level 0: rows 6..9; level 1: [0,1] [2,3] [4,5]
    history.truncate(6)
    assert history.window("loss_d").x.tolist() == [0.5, 2.5, 4.5, 6]
    assert history.measured("loss_d") == (2.0, 6.0)  # row 6 is a one-row bucket: its exact value
    history.truncate(4)  # [4,5] straddles step 4: a bucket is never split, so it goes
    assert history.window("loss_d").x.tolist() == [0.5, 2.5]
    assert history.step_range() == (0.0, 3.0)
    assert history.measured("loss_d") == (2.5, 3.0)  # the mean of the newest bucket left, (4 + 1) / 2
    history.extend(batch(("step", "loss_d"), [[4, 7.0]]))  # the new branch continues from here
    assert history.window("loss_d").x.tolist() == [0.5, 2.5, 4]


def test_a_batch_from_an_earlier_step_replaces_the_abandoned_branch() -> None:
    """The trainer re-sends a branch (after a rollback): nothing after its first step is drawn twice."""
    history = ten_rows(False)
    history.extend(batch(("step", "loss_d"), [[7, 0.5], [8, 0.25]]))
    w = history.window("loss_d")
    assert w.x.tolist() == [0.5, 2.5, 4.5, 6, 7, 8]
    assert w.low.tolist()[-2:] == [0.5, 0.25]
    history.extend(batch(("step", "loss_d"), [[s, 1.0] for s in range(3)]))  # the whole kept history
    assert history.window("loss_d").x.tolist() == [0, 1, 2]


def test_ten_million_rows_stay_bounded_keep_the_spike_and_the_newest_windows_at_full_resolution() -> None:
    rng = np.random.default_rng(1)
    capacity, rows_per_batch, batches = 1000, 10_000, 1000
    spike_step = int(rng.integers(0, rows_per_batch * batches))
    columns = ("step", "loss_d", "loss_g", "jsd_probe")
    losses = rng.random((rows_per_batch, 2))  # in [0, 1): the spike of 1e6 is far above
    probe = np.full(rows_per_batch, np.nan)
    probe[::500] = 0.2  # a probe every 500 steps
    history = MetricsHistory(capacity=capacity)

    start = time.process_time()
    for b in range(batches):
        values = np.empty((rows_per_batch, 4))
        values[:, 0] = np.arange(b * rows_per_batch, (b + 1) * rows_per_batch)
        values[:, 1:3] = losses
        values[:, 3] = probe
        if b == spike_step // rows_per_batch:
            values[spike_step % rows_per_batch, 2] = 1e6
        history.extend(MetricsBatch(columns=columns, values=values))
    seconds = time.process_time() - start
    print(f"\n10M rows into MetricsHistory: {seconds:.2f} s CPU, {history.buckets} buckets, "
          f"{history.nbytes / 2**20:.1f} MiB")

    total = rows_per_batch * batches
    assert len(history) == total
    assert history.buckets <= history.max_levels * capacity
    w = history.window("loss_g")
    assert w.high.max() == 1e6 and w.low.min() == losses[:, 1].min()
    assert w.counts.sum() == total  # every row in exactly one bucket
    assert (np.diff(w.x) > 0).all() and history.step_range() == (0, total - 1)
    assert history.latest("loss_g") == losses[-1, 1]
    assert set(history.window("jsd_probe").mean.round(12).tolist()) == {0.2}
    # The newest 1k rows one bucket each; the last 100k still at least 150 columns' worth.
    assert history.window("loss_g", total - 1000, total).x.size == 1000
    assert history.window("loss_g", total - 100_000, total).x.size >= 150
    assert seconds < 60  # about 5 s here; catches an O(n^2) slip


def test_markers_are_numbered_and_keep_the_last_ones() -> None:
    markers = Markers(maxlen=3)
    for step, kind in [(10, "pause"), (20, "k"), (30, "loss"), (40, "lr_d")]:
        markers.add_intervention(Intervention(step=step, t=0.0, kind=kind, detail=f"{kind} at {step}",
                                              label="hinge" if kind == "loss" else ""))
    assert len(markers) == 3
    assert [(m.number, m.step, m.label) for m in markers] == [(2, 20, "k"), (3, 30, "hinge"), (4, 40, "lr_d")]
    assert [m.step for m in markers.in_range(25, 40)] == [30, 40]
    alert = markers.add_alert(Alert(step=50, t=0.0, rule="d_wins", title="D wins", message="D(x) 0.99"))
    assert alert is not None and (alert.number, alert.kind, alert.label) == (5, "alert", "D wins")


def test_after_a_rollback_markers_are_forgotten_and_the_re_sent_ones_not_added_twice() -> None:
    markers = Markers()
    events = [Intervention(step=s, t=0.0, kind="k", detail=f"k {s}") for s in (10, 20, 30)]
    for event in events:
        markers.add_intervention(event)
    markers.truncate(20)
    assert [m.step for m in markers] == [10, 20]
    assert markers.add_intervention(events[0]) is None and markers.add_intervention(events[1]) is None
    again = markers.add_intervention(Intervention(step=20, t=0.0, kind="rollback", detail="to 20"))
    assert again is not None and again.number == 4  # numbers are never reused
    assert [m.step for m in markers] == [10, 20, 20]
