"""The gantui command end to end, in subprocesses: headless runs, run folders, signals and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

from gantui.presets import load_config

TIMEOUT = 120


def gantui(*args: str, cwd: Path, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    proc = subprocess.run([sys.executable, "-m", "gantui", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_headless_run_writes_a_complete_run_folder(tmp_path: Path) -> None:
    proc = gantui("--preset", "smoke", "--headless", "--set", "train.k=2", cwd=tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-smoke")
    run = runs[0]
    assert "step" in proc.stdout and "it/s" in proc.stdout
    # config.toml is the resolved configuration and loads as a preset.
    config = load_config(str(run / "config.toml"))
    assert config.train.k == 2 and config.train.steps == 50
    assert tomllib.loads((run / "config.toml").read_text())["train"]["k"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows][:3] == [5, 10, 15] and rows[-1]["step"] == 50
    for key in ("step", "t", "k", "d_real", "d_fake", "loss_d", "loss_g", "jsd_bound", "steps_per_sec"):
        assert key in rows[3], key
    assert all(r["k"] == 2 for r in rows)
    assert any("jsd_true" in r and "modes" in r and "hq" in r for r in rows)
    assert any("jsd_probe" in r for r in rows)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert {"checkpoint", "probe"} <= {e["kind"] for e in events}
    assert all({"step", "t", "kind", "detail"} <= set(e) for e in events)
    assert (run / "samples" / "step-0000025.png").is_file()
    finals = list((run / "checkpoints").glob("final-*.pt"))
    assert [f.name for f in finals] == ["final-0000050.pt"]


def test_overrides_reach_the_trainer(tmp_path: Path) -> None:
    gantui("--preset", "smoke", "--headless", "--steps", "10", "--seed", "3", "--run-dir", "r",
           "--set", "loss.name=hinge", cwd=tmp_path)
    state = torch.load(tmp_path / "r" / "checkpoints" / "final-0000010.pt", weights_only=True)
    assert state["knobs"]["loss"] == "hinge" and state["config"]["train"]["seed"] == 3


def test_divergence_stops_headless_with_exit_3_and_the_last_good_checkpoint(tmp_path: Path) -> None:
    proc = gantui("--preset", "smoke", "--headless", "--run-dir", "r", "--set", "train.optimizer=sgd",
                  "--set", "train.lr_d=10", "--set", "train.lr_g=10", "--set", "loss.name=lsgan",
                  cwd=tmp_path, check_rc=3)
    assert "non-finite" in proc.stdout
    saved = list((tmp_path / "r" / "checkpoints").glob("last-good-*.pt"))
    assert len(saved) == 1
    state = torch.load(saved[0], weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["G"].values())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_saves_and_resume_matches_an_uninterrupted_run(tmp_path: Path, sig: signal.Signals) -> None:
    """Cut a run by a signal, resume it to step T, and compare with a run straight to T.

    The cut run is configured for far more steps than it can take before the signal lands (the
    smoke preset runs ~600 it/s: a 400-step run had finished before a stalled parent sent it), and
    T is chosen after the cut. ``train.steps`` only says when to stop, so both runs see the same
    streams.
    """
    common = ["--preset", "smoke", "--headless", "--set", "log.checkpoint_every=0", "--set", "log.every=10"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cut_run = [sys.executable, "-m", "gantui", *common, "--steps", "1000000", "--run-dir", "cut"]
    proc = subprocess.Popen(cut_run, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    for line in proc.stdout:  # wait (bounded by the run itself) until training is under way
        if line.startswith("step"):
            break
    proc.send_signal(sig)
    out = proc.stdout.read()
    assert proc.wait(timeout=TIMEOUT) == 128 + sig, out
    assert "Traceback" not in out
    cut = list((tmp_path / "cut" / "checkpoints").glob("final-*.pt"))
    assert len(cut) == 1
    stopped_at = torch.load(cut[0], weights_only=True)["step"]
    assert 0 < stopped_at < 1_000_000, "the signal should arrive mid-run"

    target = str(stopped_at + 200)
    gantui(*common, "--steps", target, "--run-dir", "straight", cwd=tmp_path)
    gantui("--resume", "cut", "--headless", "--steps", target, cwd=tmp_path)
    a = torch.load(tmp_path / "straight" / "checkpoints" / f"final-{int(target):07d}.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "checkpoints" / f"final-{int(target):07d}.pt", weights_only=True)
    for player in ("G", "D"):
        for key in a[player]:
            assert torch.equal(a[player][key], b[player][key]), (player, key)
    rows = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss_d" in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), "no step is logged twice"


def test_python_dash_m_and_version(tmp_path: Path) -> None:
    proc = gantui("--version", cwd=tmp_path)
    assert proc.stdout.startswith("gantui ")
