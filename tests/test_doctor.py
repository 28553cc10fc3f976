"""The GAN doctor's rules on synthetic metric streams: raised after ``patience`` windows, raised once,
cleared with hysteresis, not applied to a loss it does not fit, and written as events.jsonl records."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from gantui.engine.doctor import Doctor, Finding, Thresholds
from gantui.engine.doctor_slot import loss_traits
from gantui.presets import load_config
from gantui.protocol import Alert
from gantui.protocol.records import alert_from_record, alert_record
from gantui.remote.runlog import record_event

_step = itertools.count(20, 20)


def rows(n: int, **values: float | str) -> list[dict]:
    """``n`` logged windows, 20 iterations apart, with ``values`` (loss defaults to nonsaturating)."""
    return [{"step": next(_step), "loss": "nonsaturating", "k": 1, **values} for _ in range(n)]


def feed(doctor: Doctor, stream: Iterable[dict]) -> list[Finding]:
    return [finding for row in stream for finding in doctor.observe(row)]


@pytest.fixture
def doctor() -> Doctor:
    return Doctor(Thresholds(), loss_traits)


def test_loss_traits_name_the_saturating_costs_and_the_critics() -> None:
    assert loss_traits("minimax").saturating and not loss_traits("minimax").critic
    assert not loss_traits("nonsaturating").saturating
    assert loss_traits("wgan-gp").critic and loss_traits("wgan-gp").wasserstein
    assert not loss_traits("hinge").wasserstein
    assert loss_traits("no-such-loss").critic  # unknown: no rule that needs probabilities applies


def test_g_vanishing_is_raised_after_patience_windows_and_only_once(doctor: Doctor) -> None:
    stall = rows(30, loss="minimax", d_real=0.98, d_fake=0.02, loss_g=-0.02, grad_norm_g=0.004)
    found = feed(doctor, stall[:4])
    assert found == []
    found = feed(doctor, stall[4:])
    assert [(f.rule, f.active, f.step) for f in found] == [("g_vanishing", True, stall[4]["step"])]
    assert "D(G(z)) 0.020" in found[0].message and "grad_norm_g 0.004" in found[0].message
    assert "`l`" in found[0].suggestion and "nonsaturating" in found[0].suggestion
    # D wins too, but under minimax that is the vanishing gradient's cause, not a second alert.
    assert "d_wins" not in doctor.active


def test_d_wins_waits_while_the_vanishing_gradient_counts_and_then_is_included_in_it(doctor: Doctor) -> None:
    """ring8-minimax: the gap passes 0.4 a window before D(G(z)) passes 0.1 (measured, seed 0)."""
    early = rows(1, loss="minimax", d_real=0.9, d_fake=0.14)
    stall = rows(10, loss="minimax", d_real=1.0, d_fake=0.0)
    found = feed(doctor, early + stall)
    assert [(f.rule, f.active) for f in found] == [("g_vanishing", True)]
    # Raised before, under nonsaturating: cleared as included once the vanishing gradient is raised.
    fresh = Doctor(Thresholds(), loss_traits)
    feed(fresh, rows(5, d_real=0.9, d_fake=0.15))
    assert set(fresh.active) == {"d_wins"}
    found = feed(fresh, rows(5, loss="minimax", d_real=1.0, d_fake=0.0))
    assert [(f.rule, f.active) for f in found] == [("g_vanishing", True), ("d_wins", False)]
    assert "included in" in found[1].message


def test_an_alert_clears_only_after_patience_windows_clearly_past_the_threshold(doctor: Doctor) -> None:
    feed(doctor, rows(5, loss="minimax", d_real=0.97, d_fake=0.03))
    # Hovering just above d_fake = 0.1 (below 2 x 0.1) neither clears it nor raises it again.
    hover = [{**r, "d_fake": 0.05 if i % 2 else 0.15}
             for i, r in enumerate(rows(40, loss="minimax", d_real=0.9))]
    assert feed(doctor, hover) == []
    recovered = rows(5, loss="minimax", d_real=0.6, d_fake=0.4)
    found = feed(doctor, recovered)
    assert [(f.rule, f.active, f.step) for f in found] == [("g_vanishing", False, recovered[-1]["step"])]


def test_d_wins_under_the_nonsaturating_cost_says_l_g_is_rising(doctor: Doctor) -> None:
    stream = [{**r, "loss_g": 1.5 + 0.1 * i} for i, r in enumerate(rows(6, d_real=0.76, d_fake=0.22, k=3))]
    found = feed(doctor, stream)
    assert [(f.rule, f.step) for f in found] == [("d_wins", stream[4]["step"])]
    assert "D(x) 0.76, D(G(z)) 0.22" in found[0].message and "rising from 1.50" in found[0].message
    assert "gap 0.54" in found[0].message
    assert "`-`" in found[0].suggestion and "k 3 → 2" in found[0].suggestion and "`[`" in found[0].suggestion


def test_d_wins_is_not_raised_by_a_balanced_game_with_brief_excursions(doctor: Doctor) -> None:
    """ring8 with its preset's learning rates: gaps of 0.2-0.3, once 0.44 and 0.40 (measured, seed 0)."""
    gaps = [0.17, 0.22, 0.24, 0.24, 0.29, 0.32, 0.34, 0.44, 0.40, 0.32, 0.24, 0.30, 0.20, 0.32, 0.27] * 4
    stream = [{**r, "d_real": 0.5 + g / 2, "d_fake": 0.5 - g / 2} for r, g in zip(rows(len(gaps)), gaps,
                                                                                 strict=True)]
    assert feed(doctor, stream) == []


def test_a_rule_that_does_not_fit_the_new_loss_clears_at_once(doctor: Doctor) -> None:
    feed(doctor, rows(5, loss="minimax", d_real=0.97, d_fake=0.03))
    switched = rows(1, loss="nonsaturating", d_real=0.97, d_fake=0.03)
    found = feed(doctor, switched)
    assert [(f.rule, f.active) for f in found] == [("g_vanishing", False)]
    assert "no longer applies" in found[0].message


def test_critics_are_judged_on_their_scores_not_on_sigmoids(doctor: Doctor) -> None:
    # sigmoid(v) of a critic is 1 / 0 here: no "D wins" and no vanishing gradient for a WGAN.
    found = feed(doctor, rows(5, loss="wgan-gp", d_real=1.0, d_fake=0.0, v_real=1600.0, v_fake=1500.0))
    assert [(f.rule, f.active) for f in found] == [("critic_drift", True)]
    assert "v(x) 1.6e+03, v(G(z)) 1.5e+03" in found[0].message and "= 100" in found[0].message
    assert feed(doctor, rows(10, loss="wgan-gp", v_real=800.0, v_fake=700.0)) == []  # between 500 and 1000
    found = feed(doctor, rows(5, loss="wgan-gp", v_real=3.0, v_fake=-2.0))
    assert [(f.rule, f.active) for f in found] == [("critic_drift", False)]


def test_exploding_gradients_name_the_player(doctor: Doctor) -> None:
    found = feed(doctor, rows(5, grad_norm_d=3.0, grad_norm_g=250.0))
    assert [(f.rule, f.active) for f in found] == [("grad_explode", True)]
    assert found[0].message.startswith("grad_norm_g 250, above 100")
    assert feed(doctor, rows(10, grad_norm_d=3.0, grad_norm_g=70.0)) == []
    assert [f.active for f in feed(doctor, rows(5, grad_norm_d=3.0, grad_norm_g=9.0))] == [False]


def test_mode_collapse_compares_with_the_runs_best_over_two_measurements(doctor: Doctor) -> None:
    measured = {500: 8.0, 1000: 8.0, 1500: 5.0, 2000: 4.0}
    stream = [{"step": s, "loss": "nonsaturating", **({"modes": measured[s]} if s in measured else {})}
              for s in range(20, 2001, 20)]
    found = feed(doctor, stream)
    assert [(f.rule, f.active, f.step) for f in found] == [("mode_collapse", True, 2000)]
    assert found[0].message.startswith("4 modes covered, down from 8 at step 500")
    # 7 of 8 is past the midpoint between 75 % and 100 %: recovering, twice, clears it.
    found = feed(doctor, [{"step": 2500, "modes": 7.0}, {"step": 3000, "modes": 8.0}])
    assert [(f.rule, f.active) for f in found] == [("mode_collapse", False)]


def test_mode_collapse_reads_recall_on_images_and_skips_runs_that_never_covered_much(
        doctor: Doctor) -> None:
    found = feed(doctor, [{"step": s, "recall": r} for s, r in ((1000, 0.6), (2000, 0.4), (3000, 0.3))])
    assert [(f.rule, f.step) for f in found] == [("mode_collapse", 3000)]
    fresh = Doctor(Thresholds(), loss_traits)
    assert feed(fresh, [{"step": s, "modes": m} for s, m in ((500, 1.0), (1000, 0.0), (1500, 0.0))]) == []


def test_oscillation_needs_wide_swings_across_the_mean_not_a_trend(doctor: Doctor) -> None:
    trend = [{**r, "loss_d": 0.02 * i} for i, r in enumerate(rows(60))]  # std 0.35, never crosses back
    assert feed(doctor, trend) == []
    swings = [{**r, "loss_d": 1.2 + (0.5 if (i // 2) % 2 else -0.5)} for i, r in enumerate(rows(60))]
    found = feed(Doctor(Thresholds(), loss_traits), swings)
    assert [f.rule for f in found] == ["oscillation"]
    assert "L_D swings ±0.50 around 1.20" in found[0].message


def test_a_row_merged_into_a_step_already_seen_is_not_counted_twice(doctor: Doctor) -> None:
    row = rows(1, loss="minimax", d_real=0.97, d_fake=0.03)[0]
    assert feed(doctor, [row] * 10) == []


def test_adopted_alerts_clear_when_the_resumed_run_recovers_and_clear_all_forgets(doctor: Doctor) -> None:
    doctor.adopt([Finding("g_vanishing", "G's gradient vanishes", 100, "D(G(z)) 0.01"),
                  Finding("no_such_rule", "?", 100, "")])
    assert set(doctor.active) == {"g_vanishing"}
    assert [f.active for f in feed(doctor, rows(5, loss="minimax", d_real=0.6, d_fake=0.4))] == [False]
    feed(doctor, rows(5, grad_norm_g=500.0))
    cleared = doctor.clear_all(40, "the run went back to step 40")
    assert [(f.rule, f.active, f.step) for f in cleared] == [("grad_explode", False, 40)]
    assert doctor.active == {} and feed(doctor, rows(4, grad_norm_g=500.0)) == []  # counting starts again


def test_thresholds_come_from_the_alerts_section() -> None:
    cfg = load_config("ring8", ["alerts.patience=2", "alerts.d_gap=0.3", "alerts.grad_norm=10"])
    th = Thresholds.from_section(cfg.alerts)
    assert (th.patience, th.d_gap, th.grad_norm, th.d_fake) == (2, 0.3, 10.0, 0.1)
    doctor = Doctor(th, loss_traits)
    assert [f.rule for f in feed(doctor, rows(2, grad_norm_d=11.0))] == ["grad_explode"]


def test_alert_records_round_trip_and_read_back_from_events_jsonl() -> None:
    raised = Alert(step=120, t=5.2, rule="g_vanishing", title="G's gradient vanishes",
                   message="D(G(z)) 0.000", suggestion="press `l`")
    record = alert_record(raised, t=5.2)
    assert record["kind"] == "alert" and record["marker"] and record["label"] == "G's gradient vanishes"
    assert alert_from_record(record) == raised and record_event(record) == raised
    cleared = Alert(step=300, t=9.0, rule="g_vanishing", title="G's gradient vanishes", message="cleared",
                    active=False)
    record = alert_record(cleared, t=9.0)
    assert not record["marker"] and "label" not in record
    assert alert_from_record(record) == cleared
    for bad in ({"kind": "alert"}, {"kind": "alert", "rule": "x", "title": "y", "step": "nan?"},
                {"kind": "pause", "step": 3}):
        assert alert_from_record(bad) is None
