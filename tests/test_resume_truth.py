"""Resume tells the truth and a run folder has one writer, through the real command (issue 10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import tomllib
import torch

from tests.test_cli import TIMEOUT, gantui

SMOKE = ("--preset", "smoke", "--headless")


def events_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_overrides_on_resume_apply_and_are_logged(tmp_path: Path) -> None:
    """Issue 10.0: config.toml said lr_g = 0, k = 5, hinge, but the trainer kept the checkpoint's values."""
    gantui(*SMOKE, "--run-dir", "r", cwd=tmp_path)
    proc = gantui(
        "--resume",
        "r",
        "--headless",
        "--steps",
        "60",
        "--set",
        "train.lr_g=0",
        "--set",
        "train.k=5",
        "--set",
        "loss.name=hinge",
        cwd=tmp_path,
    )
    assert "resuming r from final-0000050.pt (step 50)" in proc.stderr
    state = torch.load(tmp_path / "r" / "checkpoints" / "final-0000060.pt", weights_only=True)
    assert state["knobs"]["k"] == 5 and state["knobs"]["loss"] == "hinge" and state["knobs"]["lr_g"] == 0
    config = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert (config["train"]["k"], config["loss"]["name"], config["train"]["lr_g"]) == (5, "hinge", 0.0)
    logged = {e["detail"] for e in events_of(tmp_path / "r") if e["step"] == 50}
    assert {"train.k 1 → 5 (set on resume)", "loss.name nonsaturating → hinge (set on resume)"} <= logged


def test_an_override_a_checkpoint_cannot_take_is_refused(tmp_path: Path) -> None:
    gantui(*SMOKE, "--run-dir", "r", cwd=tmp_path)
    proc = gantui(
        "--resume", "r", "--headless", "--steps", "60", "--set", "model.z_dim=8", cwd=tmp_path, check_rc=2
    )
    assert proc.stderr.count("\n") == 1 and "cannot change when resuming" in proc.stderr


def test_a_finished_run_resumes_only_with_a_larger_steps(tmp_path: Path) -> None:
    """Issue 10.7: every resume of a finished run trained one more iteration (51/50, then 52/10)."""
    gantui(*SMOKE, "--run-dir", "r", cwd=tmp_path)
    for extra in ((), ("--steps", "50"), ("--steps", "10")):
        proc = gantui("--resume", "r", "--headless", *extra, cwd=tmp_path, check_rc=2)
        assert "finished at step 50" in proc.stderr and "--steps 100" in proc.stderr
    assert [p.name for p in (tmp_path / "r" / "checkpoints").glob("final-*.pt")] == ["final-0000050.pt"]


def test_resume_picks_the_newest_checkpoint_by_step(tmp_path: Path) -> None:
    """Issue 10.6: after a touch, resume took step 25 although step 50 was there, and cut the logs back."""
    gantui(*SMOKE, "--run-dir", "r", "--set", "log.checkpoint_every=25", cwd=tmp_path)
    periodic = tmp_path / "r" / "checkpoints" / "periodic-0000025.pt"
    os.utime(periodic, (2e9, 2e9))
    proc = gantui("--resume", "r", "--headless", "--steps", "60", cwd=tmp_path)
    assert "(step 50)" in proc.stderr
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and 50 in steps and steps[-1] == 60


def test_resume_from_an_earlier_checkpoint_sets_the_later_ones_aside(tmp_path: Path) -> None:
    gantui(*SMOKE, "--run-dir", "r", "--set", "log.checkpoint_every=25", cwd=tmp_path)
    gantui("--resume", "r/checkpoints/periodic-0000025.pt", "--headless", "--steps", "30", cwd=tmp_path)
    names = sorted(p.name for p in (tmp_path / "r" / "checkpoints").glob("*.pt"))
    assert names == ["final-0000030.pt", "periodic-0000025.pt"]
    assert (tmp_path / "r" / "checkpoints" / "abandoned" / "final-0000050.pt").is_file()
    assert (
        max(json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()) == 30
    )


def test_a_second_process_on_a_run_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """Issue 10.4: two processes on one run folder both exited 0 and interleaved their files."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    first = subprocess.Popen(
        [sys.executable, "-m", "gantui", *SMOKE, "--steps", "1000000", "--run-dir", "r"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        for line in first.stdout:  # training is under way: the folder is held
            if line.startswith("step"):
                break
        for args in (
            (*SMOKE, "--run-dir", "r", "--overwrite"),
            ("--resume", "r", "--headless", "--steps", "9"),
        ):
            proc = gantui(*args, cwd=tmp_path, check_rc=2)
            assert f"in use by gantui pid {first.pid}" in proc.stderr, proc.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=TIMEOUT)
    assert first.returncode == 128 + signal.SIGTERM


def test_a_new_run_refuses_a_run_folder_that_holds_one(tmp_path: Path) -> None:
    gantui(*SMOKE, "--run-dir", "r", cwd=tmp_path)
    proc = gantui(*SMOKE, "--run-dir", "r", cwd=tmp_path, check_rc=2)
    assert "already holds a run" in proc.stderr and "--overwrite" in proc.stderr
    gantui(*SMOKE, "--run-dir", "r", "--overwrite", cwd=tmp_path)
