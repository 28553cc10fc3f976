"""Launching data-parallel runs: killed ranks, a world of one, bad launch values, ``gantui --gpus``.

Real processes on the CPU (gloo), each with a wall-clock limit and 20 s collectives
(tests/ddp_helpers.py). A killed rank must end the others within seconds, never at a timeout.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from gantui.cli import main
from gantui.engine.checkpoint import load
from tests.ddp_helpers import ROOT, free_port, rank_env
from tests.test_distributed import POISON, _argv

EXIT_FAILED = 3
STOPS_WITHIN_S = 20.0  # after a rank is killed: far below the 20 s collective timeout plus start-up


def _gantui(env: dict, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-m", "gantui", *argv], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(stream) -> queue.Queue:
    """The lines of ``stream`` as they come, read on a thread (never a blocking read in the test)."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue, needle: str, timeout: float) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"no line with {needle!r} within {timeout} s: {seen[-10:]}")


def _drain(lines: queue.Queue) -> str:
    out = []
    while (line := lines.get(timeout=5.0)) is not None:
        out.append(line)
    return "".join(out)


@pytest.mark.parametrize("killed", [1, 0])
def test_a_killed_rank_ends_the_other_within_seconds(tmp_path, killed) -> None:
    port, run_dir = free_port(), tmp_path / "run"
    argv = _argv(run_dir, POISON, steps=1_000_000)
    procs = [_gantui(rank_env(r, 2, port, tmp_path), argv) for r in range(2)]
    try:
        out0, err1 = _lines(procs[0].stdout), _lines(procs[1].stderr)
        _wait_for_line(out0, "step ", timeout=90.0)  # training, both ranks in step
        procs[killed].send_signal(signal.SIGKILL)
        start = time.monotonic()
        survivor = procs[1 - killed]
        survivor.wait(timeout=STOPS_WITHIN_S)
        took = time.monotonic() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert took < STOPS_WITHIN_S and survivor.returncode == EXIT_FAILED
    if killed == 1:
        text = _drain(out0)
        assert "rank 1 of 2 stopped answering" in text
        saved = sorted((run_dir / "checkpoints").glob("last-good-*.pt"))
        assert saved and load(saved[-1])["step"] > 0  # the last good state, saved by rank 0
    else:
        assert "rank 0 of 2 stopped answering" in _drain(err1)


def test_a_world_of_one_trains_bit_for_bit_as_one_process(tmp_path, cli_env, monkeypatch) -> None:
    sets = ["log.png_every=0", "log.probe_every=0"]
    ranked = _gantui(rank_env(0, 1, free_port(), tmp_path), _argv(tmp_path / "ranked", sets, steps=30))
    _out, err = ranked.communicate(timeout=120)
    assert ranked.returncode == 0, err
    assert "data parallel: 1 ranks" in err
    monkeypatch.setenv("XDG_CONFIG_HOME", cli_env["XDG_CONFIG_HOME"])
    assert main(_argv(tmp_path / "plain", sets, steps=30)) == 0
    a = load(tmp_path / "ranked" / "checkpoints" / "final-0000030.pt")
    b = load(tmp_path / "plain" / "checkpoints" / "final-0000030.pt")
    for player in ("G", "D"):
        assert all(torch.equal(v, b[player][k]) for k, v in a[player].items())
    assert torch.equal(a["opt_d"]["state"][0]["exp_avg_sq"], b["opt_d"]["state"][0]["exp_avg_sq"])
    rows = [(tmp_path / name / "metrics.jsonl").read_text().splitlines() for name in ("ranked", "plain")]
    strip = [[{k: v for k, v in json.loads(r).items() if k not in ("t", "steps_per_sec")} for r in rs]
             for rs in rows]
    assert strip[0] == strip[1]


def _cores_or_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else (os.cpu_count() or 1)


@pytest.mark.parametrize(("argv", "message"), [
    (["--gpus", "0"], "--gpus 0: expected 1 or more"),
    (["--gpus", str(_cores_or_gpus() + 1)], f"--gpus {_cores_or_gpus() + 1}: this machine has"),
    (["--gpus", "2", "--set", "train.batch_size=33"],
     "train.batch_size = 33 does not divide across 2 ranks (the global batch is split evenly): use a "
     "multiple of 2, e.g. 32 or 34"),
    (["--gpus", "2", "--device", "cuda:1"], "cuda:"),
])
def test_bad_launch_values_are_one_line(argv, message, capsys, tmp_path) -> None:
    assert main(["--headless", "--steps", "10", "--run-dir", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "r").exists()


def test_a_batch_that_does_not_divide_under_torchrun_is_one_line_from_rank_0(tmp_path, capsys, monkeypatch):
    for rank, said in ((0, True), (1, False)):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "4")
        assert main(["--headless", "--steps", "10", "--set", "train.batch_size=30"]) == 2
        err = capsys.readouterr().err
        assert ("does not divide across 4 ranks" in err) is said and err.count("\n") == int(said)


def test_gpus_starts_the_ranks_with_torchs_launcher_and_the_run_folder_is_a_plain_one(tmp_path, cli_env,
                                                                                      monkeypatch) -> None:
    env = dict(cli_env, PYTHONPATH=str(ROOT), GANTUI_DIST_TIMEOUT_S="20", OMP_NUM_THREADS="1")
    argv = ["--headless", "--preset", "smoke", "--set", "log.probe_every=0"]
    launched = subprocess.run([sys.executable, "-m", "gantui", "--gpus", "2", *argv, "--run-dir",
                               str(tmp_path / "ranks")], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=150)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "starting 2 CPU ranks (torch.distributed.run)" in launched.stderr
    monkeypatch.setenv("XDG_CONFIG_HOME", cli_env["XDG_CONFIG_HOME"])
    assert main([*argv, "--run-dir", str(tmp_path / "plain")]) == 0

    def listing(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    assert listing(tmp_path / "ranks") == listing(tmp_path / "plain")
    for name in ("metrics.jsonl", "events.jsonl"):
        a, b = ([json.loads(line) for line in (tmp_path / d / name).read_text().splitlines()]
                for d in ("ranks", "plain"))
        # the same keys, row by row; the toy read-outs' rows follow a time budget, not the step
        timed = {"jsd_true", "modes", "hq"}
        assert [sorted(set(r) - timed) for r in a] == [sorted(set(r) - timed) for r in b]
        assert [r["step"] for r in a] == [r["step"] for r in b]
    configs = [(tmp_path / d / "config.toml").read_text() for d in ("ranks", "plain")]
    assert configs[0] == configs[1]
