"""The benchmarks still run: each mode of ``bench/bench.py`` for a fraction of a second.

Not a measurement (benchmarks live in bench/ and print figures; nothing here checks a rate beyond its
being positive): a benchmark that crashes is found by CI, not on the one GPU session that runs it
(bench.py's dashboard mode once handed the app a Runner where a Controller belongs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench.py"


@pytest.mark.parametrize("mode", ["plain", "headless", "dashboard"])
def test_each_mode_of_bench_py_runs_and_reports_a_rate(mode: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--one", mode, "--cases", "ring8-mlp", "--k", "1",
                           "--device", "cpu", "--seconds", "0.3", "--quiet"],
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    assert result["rate"] > 0
    if mode == "dashboard":
        assert 0 <= result["ui_cpu"] < 2  # a share of one core


REMOTE = BENCH.parent / "remote_bench.py"


@pytest.mark.parametrize(("what", "options", "expect"), [
    ("throughput", ["--rounds", "1", "--seconds", "0.3", "--warmup", "0"], "x of none"),
    ("latency", ["--repeats", "2"], "viewer command -> runner applied"),
])
def test_remote_bench_runs_its_viewers_and_reports(what: str, options: list[str], expect: str) -> None:
    done = subprocess.run([sys.executable, str(REMOTE), what, *options, "--set", "log.checkpoint_every=0"],
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout, done.stdout
