"""MetricsHistory keeps memory flat and spikes visible; Markers keep the last interventions."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from gantui.protocol import Intervention, MetricsBatch, frozen_array
from gantui.ui.history import Marker, Markers, MetricsHistory


def batch(columns: tuple[str, ...], rows: list[list[float]] | np.ndarray) -> MetricsBatch:
    """A batch as the runner sends it: read-only float64 values."""
    return MetricsBatch(columns=columns, values=frozen_array(np.asarray(rows, dtype=np.float64)))


LOSS = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]


def eight_rows_capacity_four(one_at_a_time: bool) -> MetricsHistory:
    history = MetricsHistory(capacity=4)
    rows = [[step, value] for step, value in enumerate(LOSS)]
    if one_at_a_time:
        for row in rows:
            history.extend(batch(("step", "loss_d"), [row]))
    else:
        history.extend(batch(("step", "loss_d"), rows))
    return history


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_buckets_merge_pairwise_when_full(one_at_a_time: bool) -> None:
    # By hand: rows 0..3 fill the 4 buckets (span 1). Row 4 finds them full: pairs merge into
    # [0,1] [2,3] (span 2), and rows 4..7 fill [4,5] [6,7]. Per bucket (min, max) of LOSS:
    # (1, 3), (1, 4), (5, 9), (2, 6). Steps: the last step of each bucket (1, 3, 5, 7) except the
    # first point, at the first logged step 0.
    history = eight_rows_capacity_four(one_at_a_time)
    step, low, high = history.series("loss_d")
    assert step.tolist() == [0, 3, 5, 7]
    assert low.tolist() == [1, 1, 5, 2]
    assert high.tolist() == [3, 4, 9, 6]
    assert history.span == 2 and history.buckets == 4
    assert len(history) == 8
    assert history.latest("loss_d") == 6.0
    assert history.latest("step") == 7.0


def test_single_row_buckets_have_low_equal_high() -> None:
    history = MetricsHistory(capacity=10)
    history.extend(batch(("step", "loss_g"), [[10, 0.5], [20, 0.7]]))
    step, low, high = history.series("loss_g")
    assert step.tolist() == [10, 20]
    assert low.tolist() == high.tolist() == [0.5, 0.7]


def test_version_moves_on_every_change_only() -> None:
    history = MetricsHistory(capacity=10)
    v0 = history.version
    history.extend(batch(("step", "k"), [[1, 1.0]]))
    v1 = history.version
    history.extend(batch(("step", "k"), np.zeros((0, 2))))  # nothing added: no redraw needed
    assert v1 > v0 and history.version == v1
    history.clear()
    assert history.version > v1 and len(history) == 0
    assert history.series("k")[0].size == 0


def test_columns_that_appear_later_and_nan_values() -> None:
    history = MetricsHistory(capacity=10)
    history.extend(batch(("step", "loss_d"), [[0, 1.0], [1, 2.0]]))
    # The probe appears at step 2; loss_d is NaN at step 3 (the column order differs too).
    history.extend(batch(("jsd_probe", "step", "loss_d"), [[0.3, 2, 3.0], [math.nan, 3, math.nan]]))
    step, low, high = history.series("jsd_probe")
    assert step.tolist() == [2] and low.tolist() == [0.3] and high.tolist() == [0.3]
    assert history.series("loss_d")[0].tolist() == [0, 1, 2]  # the NaN row is dropped
    assert history.latest("loss_d") == 3.0  # the last *number*, not the NaN
    assert math.isnan(history.latest("never_logged"))
    assert all(a.size == 0 for a in history.series("never_logged"))
    assert history.names == ("step", "loss_d", "jsd_probe")


def test_sparse_column_keeps_its_own_steps_through_merges() -> None:
    # capacity 2: after 8 rows each bucket spans 4 rows ([0..3], [4..7]). A probe logged at steps 1
    # and 6 only must plot at 1 and 6, not at its buckets' edges.
    history = MetricsHistory(capacity=2)
    rows = [[s, 0.1 if s in (1, 6) else math.nan] for s in range(8)]
    history.extend(batch(("step", "jsd_probe"), rows))
    assert history.span == 4
    assert history.series("jsd_probe")[0].tolist() == [1, 6]


def test_ten_million_rows_stay_bounded_and_keep_the_spike() -> None:
    rng = np.random.default_rng(1)
    capacity, rows_per_batch, batches = 2000, 1000, 10_000
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
    print(f"\n10M rows into MetricsHistory: {seconds:.2f} s CPU")

    assert len(history) == rows_per_batch * batches
    assert history.buckets <= capacity
    for array in (history._min, history._max, history._last, history._step_lo, history._step_hi):
        assert len(array) <= capacity
    step, low, high = history.series("loss_g")
    assert high.max() == 1e6
    # The spike's bucket is plotted at that bucket's last step: at most one span after the spike.
    spike_x = step[np.argmax(high)]
    assert spike_step <= spike_x < spike_step + history.span
    assert (np.diff(step) > 0).all()
    assert step[0] == 0 and step[-1] == rows_per_batch * batches - 1
    assert low.min() == losses[:, 1].min()
    assert history.latest("loss_g") == losses[-1, 1]
    assert history.series("jsd_probe")[1].tolist() == [0.2] * len(history.series("jsd_probe")[1])
    assert seconds < 30  # a few seconds normally (about 1 s here); catches an O(n^2) slip


def test_markers_keep_the_last_ones_in_order() -> None:
    markers = Markers(maxlen=3)
    for step, kind in [(10, "pause"), (20, "k"), (30, "loss"), (40, "lr_d")]:
        markers.add(Intervention(step=step, t=0.0, kind=kind, detail=f"{kind} at {step}"))
    assert len(markers) == 3
    assert [m.step for m in markers] == [20, 30, 40]  # the oldest was dropped
    assert markers.in_range(25, 40) == [Marker(30, "loss", "loss at 30"), Marker(40, "lr_d", "lr_d at 40")]
    assert markers.in_range(0, 15) == []
    step, kind, detail = markers.in_range(20, 20)[0]
    assert (step, kind, detail) == (20, "k", "k at 20")
