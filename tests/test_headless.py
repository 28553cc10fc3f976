"""The headless printer: its metric line, and that a narrow or piped console never wraps it."""

from __future__ import annotations

import io
import math
from pathlib import Path

from rich.console import Console

from gantui.engine.session import Session
from gantui.headless import metrics_line, run_headless
from tests.engine_helpers import smoke_config


def test_metrics_line_names_each_figure_and_skips_what_was_not_measured() -> None:
    row = {"step": 20.0, "d_real": 0.62831, "d_fake": 0.45449, "loss_d": 1.11391, "loss_g": 0.87592,
           "jsd_bound": 0.15051, "fdiv_bound": math.nan, "w_estimate": math.nan, "hq": 0.5,
           "steps_per_sec": 157.4}
    assert metrics_line(row) == ("step      20  D(x) 0.628  D(G(z)) 0.454  L_D 1.1139  L_G 0.8759  "
                                 "JSD>= 0.1505  hq 50.0%  157 it/s")


def test_metrics_line_shows_a_critics_raw_scores_not_sigmoids() -> None:
    row = {"step": 900.0, "d_real": 0.00001, "d_fake": 0.0, "v_real": -11.52, "v_fake": -14.7349,
           "loss_d": -3.1, "loss_g": 14.73, "w_estimate": 3.2149, "steps_per_sec": 51.0}
    assert metrics_line(row) == ("step     900  v(x) -11.520  v(G(z)) -14.735  L_D -3.1000  L_G 14.7300  "
                                 "W 3.2149  51 it/s")


def test_metric_lines_stay_whole_on_a_narrow_console(tmp_path: Path) -> None:
    """A 60-column console (a log file is 80) used to push "157 it/s" onto a line of its own."""
    session = Session.create(smoke_config("log.headless_every_s=0.1"), run_dir=tmp_path / "run")
    out = io.StringIO()
    assert run_headless(session, Console(file=out, width=60, highlight=False)) == 0
    lines = out.getvalue().splitlines()
    metric_lines = [line for line in lines if line.startswith("step ")]
    assert metric_lines, lines
    assert all("D(x)" in line and line.endswith(" it/s") for line in metric_lines), lines
    known = ("step", "training", "final")
    stray = [line for line in lines if line.endswith("it/s") and not line.startswith(known)]
    assert stray == []
    # The end says how far the run got and how to continue it.
    assert lines[-1].startswith("run folder ")
    assert f"gantui --resume {tmp_path / 'run'} --steps 100" in lines[-1]
    assert any(line.startswith("final: step      50") for line in lines)
