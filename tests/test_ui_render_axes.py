"""The pure helpers behind the plots: ticks, binning, smoothing, marker labels, sparklines, and a
critic's score surface. Expected values are worked out by hand in each test."""

from __future__ import annotations

import numpy as np
import pytest

from gantui.protocol import frozen_array
from gantui.ui.markers import Marker
from gantui.ui.render.decimate import bin_columns, ema
from gantui.ui.render.markers import group_markers, place_labels
from gantui.ui.render.sparkline import sparkline
from gantui.ui.render.ticks import log_ticks, nice_ticks, step_ticks
from gantui.ui.render.toy import surface_levels, toy_legend
from tests.fakes import toy_samples


# --- ticks ----------------------------------------------------------------------------------------
def test_step_ticks_are_whole_steps_even_for_a_window_of_three_iterations() -> None:
    ticks, labels = step_ticks(2815.0, 2818.0, 6)
    assert ticks == [2815, 2816, 2817, 2818] and labels == ["2,815", "2,816", "2,817", "2,818"]
    ticks, labels = step_ticks(0, 3980, 4)  # 3980 / 4 = 995 -> spacing 1000
    assert ticks == [0, 1000, 2000, 3000] and labels == ["0", "1,000", "2,000", "3,000"]
    assert step_ticks(12_340_000, 12_360_000, 2)[1] == ["12.34M", "12.35M", "12.36M"]  # 10k apart


def test_nice_and_log_ticks() -> None:
    ticks, labels = nice_ticks(0.12, 0.43, 3)  # 0.31 / 3 -> spacing 0.2
    assert ticks == pytest.approx([0.2, 0.4]) and labels == ["0.2", "0.4"]
    ticks, labels = log_ticks(0.002, 50.0, 6)
    assert ticks == pytest.approx([0.01, 0.1, 1, 10]) and labels == ["0.01", "0.1", "1", "10"]
    ticks, _ = log_ticks(1.5, 9.0, 4)  # under a decade: 2 and 5
    assert ticks == pytest.approx([2, 5])


# --- binning and smoothing ---------------------------------------------------------------------------
def test_bins_follow_the_window_and_keep_extremes_and_means() -> None:
    x = np.arange(8.0)  # steps 0..7 in a window 0..8 split into 2 columns: 0-3 and 4-7
    low, high = np.array([1, 0, 2, 3, 5, 4, 9, 6.0]), np.array([1, 0, 2, 3, 5, 4, 9, 6.0])
    b = bin_columns(x, low, high, high.copy(), np.ones(8), 0.0, 8.0, 2)
    assert b.low.tolist() == [0, 4] and b.high.tolist() == [3, 9]
    assert b.mean.tolist() == [1.5, 6.0] and b.x.tolist() == [1.5, 5.5] and b.counts.tolist() == [4, 4]


def test_ema_is_tensorboards_debiased_average_and_a_bucket_counts_as_its_rows() -> None:
    # Rows 1, 2, 3 with w = 0.5: s = 0.5, 1.25, 2.125; weights z = 0.5, 0.75, 0.875 -> 1, 5/3, 17/7.
    assert ema(np.array([1.0, 2, 3]), np.ones(3), 0.5).tolist() == pytest.approx([1, 5 / 3, 17 / 7])
    # The same three rows as one bucket of 1 and one bucket of two rows (2 and 3, mean 2.5) give
    # the average of rows 1, 2.5, 2.5: s = 0.5, then 0.25*0.5 + 0.75*2.5 = 2, z = 0.875 -> 16/7.
    assert ema(np.array([1.0, 5.0]), np.array([1.0, 2.0]), 0.5)[-1] == pytest.approx(16 / 7)
    assert ema(np.array([4.0, 6.0]), np.array([2.0, 2.0]), 0.0).tolist() == [2, 3]  # 0: the means


# --- marker labels -------------------------------------------------------------------------------------
def marker(number: int, step: int, label: str = "k 3", kind: str = "k") -> Marker:
    return Marker(number, step, kind, label, "")


def test_markers_in_one_column_merge_with_their_numbers_and_count() -> None:
    # 0..1000 over 101 columns: one column is 10 steps; 500 and 504 share column 50.
    groups = group_markers([marker(1, 100), marker(2, 500), marker(3, 504, "lr_d ×2", "lr_d")], 0, 1000, 101)
    assert [(g.column, len(g.markers)) for g in groups] == [(10, 1), (50, 2)]
    assert groups[0].texts() == ("1 k 3", "1") and groups[1].texts() == ("2–3 (2)", "2–3")
    same = group_markers([marker(4, 500), marker(5, 501)], 0, 1000, 101)
    assert same[0].texts() == ("4–5 k 3 (2)", "4–5")


def test_labels_never_overlap_and_move_left_or_down_or_shrink_when_short_of_room() -> None:
    # 0..100 over 101 columns: a marker's column is its step. Labels are 5 characters ("n k 3"), a
    # one-column gap is kept between two, and the newest (largest step) are placed first.
    groups = group_markers([marker(1, 20), marker(2, 23), marker(3, 98)], 0, 100, 101)
    legend = [(0, 0, 18)]  # row 0, columns 0-18 are taken
    placed = {p.text: (p.row, p.align) for p in place_labels(groups, 101, rows=2, blocked=legend)}
    assert placed["3 k 3"] == (0, "right")  # 98-102 is past column 100: it ends at its line (94-98)
    assert placed["2 k 3"] == (0, "left")  # 23-27
    assert placed["1 k 3"] == (1, "left")  # 20-24 touches 23-27, 16-20 the legend: one row down
    only = {p.text: (p.row, p.align) for p in place_labels(groups, 101, rows=1, blocked=legend)}
    assert only["1"] == (0, "left")  # no row to go down to: the label shrinks to its number (20-20)
    under = place_labels(group_markers([marker(1, 2)], 0, 100, 101), 101, rows=1, blocked=[(0, 0, 12)])
    assert under == []  # under the legend, no room even for "1": the line alone is drawn


# --- sparklines -------------------------------------------------------------------------------------------
def test_sparkline_scales_to_its_range_and_leaves_gaps_for_missing_values() -> None:
    assert sparkline(np.array([0, 1, 2, 3, 4, 5, 6, 7.0]), 8) == "▁▂▃▄▅▆▇█"
    assert sparkline(np.array([1.0, np.nan, 1.0]), 3) == "▄ ▄"
    assert sparkline(np.array([0.01, 0.1, 1, 10, 100.0]), 5, log=True) == "▁▃▅▆█"
    assert sparkline(np.arange(20.0), 4) == "▁▃▆█"  # the last 4 values


# --- a critic's score surface ------------------------------------------------------------------------------
def test_a_score_surface_is_coloured_relative_to_itself_never_a_uniform_square() -> None:
    from dataclasses import replace

    base = toy_samples()
    v = -57.0 + 3.0 * np.asarray(base.d_surface, dtype=np.float64)  # a drifted critic: v in [-57, -54]
    critic = replace(base, d_surface=frozen_array(v.astype(np.float32)), surface="score")
    levels, v_range = surface_levels(critic)
    lo, hi = np.percentile(v, [2, 98])
    assert v_range == pytest.approx((lo, hi), abs=1e-4)
    assert levels.min() == 0.0 and levels.max() == 1.0  # the full map, green to purple
    assert np.corrcoef(levels.ravel(), v.ravel())[0, 1] > 0.99  # higher v, more real-like
    legend = " ".join(line.plain for line in toy_legend(120, v_range))
    assert "v high: real-like" in legend and "v low: fake-like" in legend and "D≈1" not in legend
    assert "D≈1 real" in " ".join(line.plain for line in toy_legend(120))  # probabilities keep it
    flat = replace(critic, d_surface=frozen_array(np.full_like(v, -3.0).astype(np.float32)))
    assert np.all(surface_levels(flat)[0] == 0.5)  # no score higher than another: neutral
