"""The header and the status line: step, clock, rate, ETA, pause; host and device figures; alerts; a
rollback's reset; and user text that cannot act on the terminal. Pilot with the fake controller."""

from __future__ import annotations

import math

from gantui.protocol import Alert, HistoryReset, HostStats, Intervention, Notice
from gantui.ui.clock import RunClock
from gantui.ui.widgets.controls_panel import ControlsPanel
from gantui.ui.widgets.run_header import RunHeader
from gantui.ui.widgets.status_line import StatusLine
from tests.fakes import (
    make_app,
    metrics_batch,
    run_async,
    run_state,
    started,
    state_changed,
    text_of,
    toy_samples,
)

GiB = 2**30


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def alert(rule: str, title: str, *, active: bool = True, step: int = 3000) -> Alert:
    return Alert(step=step, t=30.0, rule=rule, title=title, message="D(x) 0.99 over 5 windows",
                 suggestion="try l → nonsaturating, or [ to halve lr_d", active=active)


@run_async
async def test_host_stats_give_the_step_and_clock_before_the_first_metric_row():
    """A DCGAN's first row can take a minute: the header must not say '–' meanwhile."""
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller, step=0, device="cuda:0", is_toy=False)
        assert "waiting for the trainer's first report" in text_of(app.query_one(StatusLine))
        controller.push(HostStats(step=3, t=14.2, cpu_percent=101.0, rss_bytes=3 * GiB // 2,
                                  device="NVIDIA H200",
                                  device_used_bytes=12 * GiB, device_peak_bytes=15 * GiB,
                                  device_total_bytes=140 * GiB, utilization=87.0, graph="replaying"))
        await pilot.pause()
        header = text_of(app.query_one(RunHeader))
        assert "step 3" in header and "0:00:14" in header and "–" not in header
        status = text_of(app.query_one(StatusLine))
        for part in ("NVIDIA H200", "MEM", "12.0/140.0 GiB", "peak 15.0", "UTL 87 %",
                     "graph: replaying", "CPU 101 %", "RSS 1.5 GiB"):
            assert part in status, part


@run_async
async def test_a_cpu_host_line_has_no_device_figures_and_no_utilisation_is_not_zero():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)
        controller.push(HostStats(step=10, t=1.0, cpu_percent=98.0, rss_bytes=812 * 2**20, device="cpu"))
        await pilot.pause()
        status = text_of(app.query_one(StatusLine))
        assert "CPU 98 %  RSS 812 MiB" in status and "MEM" not in status and "UTL" not in status


@run_async
async def test_the_header_rate_is_smoothed_and_gives_an_eta_and_pause_says_paused_with_the_clock_running():
    app, controller = make_app()
    app.clock = RunClock(now=(clock := FakeTime()))
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, controller, step=0, total_steps=10_000)
        controller.push(metrics_batch(0, 200))  # steps 0..3980 at 100 it/s, t = step / 100
        await pilot.pause()
        app.refresh_plots()
        header = text_of(app.query_one(RunHeader))
        # (10 000 - 3 980) steps at 100 it/s: 60.2 s left.
        assert "step 3,980/10,000" in header and "100.0 it/s" in header and "ETA 0:01:00" in header
        controller.push(state_changed(run_state(status="paused", step=3980, total_steps=10_000)))
        await pilot.pause()
        header = text_of(app.query_one(RunHeader))
        assert "it/s" not in header and "ETA" not in header and "paused" in header
        assert "0:00:39" in header  # t = 39.8 s at the last row
        clock.now += 3.0  # paused: the clock runs on from the last report (3 s later) …
        app.plot_tick()
        assert "0:00:42" in text_of(app.query_one(RunHeader))
        clock.now += 60.0  # … but no further than a few seconds past it: no report, no time passing
        app.plot_tick()
        assert "0:00:44" in text_of(app.query_one(RunHeader))


def test_the_rate_averages_training_time_so_a_pause_between_rows_does_not_drag_it_down() -> None:
    clock = RunClock(now=FakeTime())
    clock.rows(metrics_batch(0, 10))  # steps 0..180 at 100 it/s
    later = metrics_batch(10_000, 10)  # after a long pause: t jumps, but each row's own rate is 100 it/s
    clock.rows(later)
    assert math.isclose(clock.rate, 100.0)
    assert clock.step == 10_180


@run_async
async def test_alerts_raise_badges_markers_and_log_lines_and_clearing_removes_the_badge():
    app, controller = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, controller)
        controller.push(metrics_batch(0, 200), HostStats(step=3980, t=39.8, cpu_percent=98.0, rss_bytes=2**29,
                                                         device="cpu"),
                        alert("d_wins", "D wins"),
                        alert("g_vanishing", "G's gradient vanishes", step=3100),
                        alert("mode_collapse", "mode collapse", step=3200))
        await pilot.pause()
        status = app.query_one(StatusLine)
        line = status.line(78).plain
        # 80 columns with the host figures: two whole badges, then "+1" for the third
        assert "⚠ D wins" in line and "⚠ G's gradient vanishes" in line
        assert "+1" in line and "CPU 98 %" in line
        assert [m.label for m in app.markers] == ["D wins", "G's gradient vanishes", "mode collapse"]
        log = "\n".join(line.text for line in app.event_log.lines)
        joined = log.replace("\n        ", " ")
        assert "#1 ⚠ D wins: D(x) 0.99 over 5 windows → try l → nonsaturating" in joined
        controller.push(alert("d_wins", "D wins", active=False, step=3500))
        await pilot.pause()
        assert list(status.alerts) == ["g_vanishing", "mode_collapse"]
        assert "D wins" not in status.line(200).plain
        assert len(app.markers) == 3  # clearing adds no marker; it says so in the log
        log = " ".join("\n".join(line.text for line in app.event_log.lines).split())
        assert "✓ cleared: D wins (D(x) 0.99 over 5 windows)" in log  # why it cleared


@run_async
async def test_a_history_reset_forgets_later_rows_and_markers_and_rewinds_the_header():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)
        controller.push(metrics_batch(0, 200), Intervention(step=1000, t=10.0, kind="k", detail="k 1 → 2"),
                        Intervention(step=3000, t=30.0, kind="k", detail="k 2 → 3"))
        await pilot.pause()
        controller.push(HistoryReset(step=2000, reason="rolled back to checkpoint periodic-0002000"),
                        state_changed(run_state(status="paused", step=2000)))
        await pilot.pause()
        assert app.history.step_range() == (0.0, 2000.0)
        assert [m.step for m in app.markers] == [1000]
        assert "step 2,000" in text_of(app.query_one(RunHeader))
        # The trainer re-sends the kept marker: it is not drawn twice, nor logged twice.
        controller.push(Intervention(step=1000, t=10.0, kind="k", detail="k 1 → 2"))
        await pilot.pause()
        assert len(app.markers) == 1
        log = "\n".join(line.text for line in app.event_log.lines)
        assert log.count("k 1 → 2") == 1 and "history reset to step 2,000" in log


@run_async
async def test_a_rollback_re_sending_its_alerts_keeps_the_badge_without_repeating_the_log():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)
        raised = alert("grad_explode", "gradients explode", step=1500)
        controller.push(metrics_batch(0, 200), raised, alert("d_wins", "D wins", step=1000),
                        alert("d_wins", "D wins", step=1400, active=False))
        await pilot.pause()
        # What the runner sends on a rollback to 2 000: its clears, the reset, then the kept history.
        controller.push(alert("grad_explode", "gradients explode", step=2000, active=False),
                        HistoryReset(step=2000, reason="rolled back"), alert("d_wins", "D wins", step=1000),
                        alert("d_wins", "D wins", step=1400, active=False), raised)
        await pilot.pause()
        assert list(app.query_one(StatusLine).alerts) == ["grad_explode"]
        assert len(app.markers) == 2
        log = "\n".join(line.text for line in app.event_log.lines)
        assert log.count("⚠ D wins") == 1 and log.count("cleared: D wins") == 1
        assert log.count("⚠ gradients explode") == 1 and log.count("cleared: gradients explode") == 1


@run_async
async def test_readouts_from_an_earlier_step_say_the_step_they_were_measured_at():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)
        controller.push(metrics_batch(0, 200), toy_samples())  # the newest row is 3980; toy metrics every 500
        await pilot.pause()
        app.refresh_plots()
        text = text_of(app.query_one(ControlsPanel))
        assert "7/8 @3,500" in text and "hq 95.0 % @3,500" in text and "true 0.2434 @3,500" in text


@run_async
async def test_user_text_with_control_characters_is_escaped_everywhere_it_is_drawn():
    esc = "\x1b[2J\x1b]0;owned\x07"
    app, controller = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, controller, preset=f"my{esc}preset", loss_description=f"desc{esc}",
                      run_dir=f"/tmp/{esc}")
        controller.push(Notice(step=1, level="info", message=f"saved to /tmp/{esc}"),
                        Intervention(step=2, t=0.0, kind="loss", detail=f"loss = x{esc}", label=f"x{esc}"),
                        alert("r", f"title{esc}"),
                        HostStats(step=3, t=1.0, cpu_percent=1.0, rss_bytes=1, device=f"GPU{esc}", graph=esc))
        await pilot.pause()
        shown = [text_of(app.query_one(RunHeader)), text_of(app.query_one(StatusLine)),
                 text_of(app.query_one(ControlsPanel)), *(line.text for line in app.event_log.lines)]
        assert all("\x1b" not in s and "\x07" not in s for s in shown)
        assert "\\x1b" in shown[0] and "\\x1b" in shown[1] and "\\x1b" in shown[2]


@run_async
async def test_the_controls_panel_does_not_redraw_when_only_the_newest_step_moved():
    """A read-out not measured yet is NaN, and NaN != NaN: the panel once rebuilt its table at every tick."""
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller)
        panel = app.query_one(ControlsPanel)
        updates = []
        original = panel.update
        panel.update = lambda *a, **kw: (updates.append(a), original(*a, **kw))[1]
        controller.push(metrics_batch(0, 200), toy_samples())
        await pilot.pause()
        app.plot_tick()
        drawn = len(updates)
        controller.push(metrics_batch(4020, 4))  # new rows 4020-4080: no toy read-out (every 500 steps)
        await pilot.pause()
        app.plot_tick()
        app.plot_tick()
        assert len(updates) == drawn
