"""The real ``gantui`` in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen.

This is how a user meets gantui over SSH. Waits poll the screen for a condition with a deadline;
nothing sleeps for a fixed time to synchronise.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

DEADLINE = 90.0  # seconds: torch's import and the first iterations on a busy 2-core CI machine


class Terminal:
    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.socket = str(tmp / "tmux.sock")
        self.exit_file = tmp / "exit-status"

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                              check=True).stdout

    def start(self, command: str, *, width: int, height: int) -> None:
        shell = f"{command}; echo $? > {shlex.quote(str(self.exit_file))}; sleep 600"
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, check: Callable[[str], object], what: str, deadline: float = DEADLINE) -> object:
        end = time.monotonic() + deadline
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            assert "Traceback" not in screen, screen
            result = check(screen)
            if result:
                return result
            time.sleep(0.1)  # polling interval of a bounded wait, not a synchronisation
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")

    def wait_exit(self, deadline: float = DEADLINE) -> int:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"gantui did not exit; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal("gantui-test", tmp_path)
    yield term
    term.close()


def step_on(screen: str) -> int | None:
    match = re.search(r"step ([\d,]+)", screen.splitlines()[0] if screen else "")
    return int(match.group(1).replace(",", "")) if match else None


def gantui_command(tmp_path: Path, *args: str, env: str = "") -> str:
    xdg = tmp_path / "xdg"
    argv = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "gantui", *args))
    return f"cd {shlex.quote(str(tmp_path))} && env XDG_CONFIG_HOME={shlex.quote(str(xdg))} {env} {argv}"


def test_a_user_session_in_tmux(terminal: Terminal, tmp_path: Path) -> None:
    run = tmp_path / "run"
    terminal.start(gantui_command(tmp_path, "--run-dir", str(run), "--set", "train.threads=1"),
                   width=120, height=40)
    first = terminal.wait_for(lambda s: (step_on(s) or 0) > 0 and "running" in s and s, "the step counter")
    terminal.wait_for(lambda s: (step_on(s) or 0) > step_on(first), "the step counter to move")

    terminal.keys("space")
    paused = terminal.wait_for(lambda s: "paused" in s.splitlines()[0] and s, "paused")
    assert step_on(terminal.screen()) == step_on(paused)  # paused means paused

    terminal.keys("+")
    terminal.wait_for(lambda s: re.search(r"k\s+2\b", s), "k = 2 in the controls panel")

    terminal.keys("l")
    terminal.wait_for(lambda s: "minimax" in s and "maxlikelihood" in s, "the loss picker")
    terminal.keys("Up", "Enter")  # from the current (nonsaturating) up to minimax
    terminal.wait_for(lambda s: re.search(r"loss[ \t]+minimax", s) and "enter: switch" not in s,
                      "the minimax loss reported, the picker closed")
    terminal.keys("l")
    terminal.wait_for(lambda s: "maxlikelihood" in s, "the loss picker again")
    terminal.keys("Down", "Enter")
    terminal.wait_for(lambda s: re.search(r"loss[ \t]+nonsaturating", s) and "enter: switch" not in s,
                      "back to non-saturating, the picker closed")

    terminal.keys("space")
    terminal.wait_for(lambda s: "running" in s.splitlines()[0], "running again")

    terminal.keys("p")
    terminal.wait_for(lambda s: "name" in s.lower(), "the preset name dialog")
    terminal.keys("my-ring", "Enter")
    preset = tmp_path / "xdg" / "gantui" / "presets" / "my-ring.toml"
    terminal.wait_for(lambda s: preset.exists(), "the saved preset")
    assert "k = 2" in preset.read_text()

    terminal.keys("q")
    assert terminal.wait_exit() == 0
    finals = list((run / "checkpoints").glob("final-*.pt"))
    assert len(finals) == 1
    state = torch.load(finals[0], weights_only=True)
    assert state["knobs"]["k"] == 2 and state["knobs"]["loss"] == "nonsaturating"
    events = (run / "events.jsonl").read_text()
    for kind in ('"pause"', '"k"', '"loss"', '"resume"', '"checkpoint"'):
        assert kind in events


def x_ticks(screen: str) -> list[int]:
    """The step labels under the first plot: the first line whose plot-side part is only numbers."""
    for line in screen.splitlines():
        words = re.split(r"[│╭╮╰╯]", line)[0].split()  # the side panels' borders end the plot column
        if len(words) >= 2 and all(re.fullmatch(r"\d{1,3}(,\d{3})*", w) for w in words):
            return [int(w.replace(",", "")) for w in words]
    return []


def test_zoom_smooth_resize_and_a_plain_terminal(terminal: Terminal, tmp_path: Path) -> None:
    command = gantui_command(tmp_path, "--run-dir", str(tmp_path / "run"), "--colors", "16",
                             "--set", "train.threads=1", env="TERM=screen")
    terminal.start(command, width=100, height=30)
    terminal.wait_for(lambda s: (step_on(s) or 0) > 1500 and "whole run" in s, "1 500 iterations")
    terminal.keys("1")  # the last 1 000 iterations: the axis starts well after step 0, in whole steps
    zoomed = terminal.wait_for(lambda s: "last 1k it" in s and x_ticks(s) and min(x_ticks(s)) > 0 and s,
                               "the zoomed view")
    ticks = x_ticks(zoomed)
    assert max(ticks) - min(ticks) <= 1000, ticks
    terminal.keys("e")
    terminal.wait_for(lambda s: "EMA 0.6" in s, "smoothing 0.6 on the view line")
    terminal.keys("0")
    terminal.wait_for(lambda s: "whole run" in s and "raw" in s, "the view reset")
    terminal.tmux("resize-window", "-t", "gantui-test", "-x", "40", "-y", "10")
    terminal.wait_for(lambda s: "too small" in s, "the too-small notice")
    terminal.tmux("resize-window", "-t", "gantui-test", "-x", "80", "-y", "24")
    terminal.wait_for(lambda s: (step_on(s) or 0) > 0 and re.search(r"D\(x\) +[\d.]+ +[▁▂▃▄▅▆▇█]", s),
                      "the compact dashboard at 80x24: a number and a sparkline per metric")
    terminal.keys("q")
    assert terminal.wait_exit() == 0


def test_ring8_minimax_stalls_on_screen_and_the_doctor_names_it(terminal: Terminal, tmp_path: Path) -> None:
    """The preset's promise, as a user sees it: the gradient-norm plot and the doctor's badge and log line."""
    command = gantui_command(tmp_path, "--preset", "ring8-minimax", "--run-dir", str(tmp_path / "run"),
                             "--set", "train.threads=1")
    terminal.start(command, width=160, height=48)
    screen = terminal.wait_for(lambda s: "gradient vanishes" in s and "‖∇G‖" in s and s,
                               "the doctor's alert and the gradient-norm plot")
    assert "nonsaturating" in screen  # the log line's suggestion names the key and the loss
    terminal.keys("q")
    assert terminal.wait_exit() == 0


def stop_background_run(run: Path) -> None:
    """Never leave a background run behind, whatever the test did: kill every gantui process whose
    command line names ``run`` (a detached run may still be starting, before its attach.json exists)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        named = any(str(run) in arg for arg in cmdline) and any("gantui" in arg for arg in cmdline)
        if named and proc.pid != os.getpid():
            with contextlib.suppress(psutil.Error):
                proc.kill()


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Path]:
    run = tmp_path / "run"
    yield run
    stop_background_run(run)


def test_a_hang_up_detaches_the_run_and_it_goes_on_in_the_background(terminal: Terminal,
                                                                      background: Path) -> None:
    """Issue 12: killing the dashboard's terminal (an SSH connection that drops) no longer stops the run:
    it saves a final checkpoint, goes on training in the background, is listed by gantui ls, can be
    attached from a new terminal (and left with q) and stopped."""
    run = background
    terminal.start(gantui_command(run.parent, "--run-dir", str(run), "--set", "train.threads=1"),
                   width=100, height=30)
    terminal.wait_for(lambda s: (step_on(s) or 0) > 0, "the dashboard")
    terminal.close()  # the terminal goes away, as when an SSH connection drops: SIGHUP
    log = run / "gantui.log"
    wait_until(lambda: list((run / "checkpoints").glob("final-*.pt")) and log.exists()
               and "step " in log.read_text(), "the run to go on in the background")
    handed_over = torch.load(next((run / "checkpoints").glob("final-*.pt")), weights_only=True)["step"]
    assert handed_over > 0
    gantui = [sys.executable, "-m", "gantui"]
    listed = subprocess.run([*gantui, "ls"], capture_output=True, text=True, timeout=60)
    assert str(run) in listed.stdout and "running" in listed.stdout, listed.stdout
    # Log in again and attach: the run is still there, training on past the hang-up.
    (run.parent / "again").mkdir(exist_ok=True)
    again = Terminal("gantui-after-hangup", run.parent / "again")
    try:
        again.start(gantui_command(run.parent, "attach", str(run)), width=100, height=30)
        again.wait_for(lambda s: (step_on(s) or 0) > handed_over and "running" in s,
                       "the attached dashboard past the hand-over")
        again.keys("q")
        assert again.wait_exit() == 0
        again.wait_for(lambda s: "detached from" in s, "the detach line")
    finally:
        again.close()
    stopped = subprocess.run([*gantui, "stop", str(run)], capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    finals = sorted((run / "checkpoints").glob("final-*.pt"))
    assert torch.load(finals[-1], weights_only=True)["step"] > handed_over  # it trained on in the background


def gantui_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``gantui ARGS`` as a plain process (no terminal), its output captured."""
    return subprocess.run([sys.executable, "-m", "gantui", *args], capture_output=True, text=True,
                          timeout=timeout)


def listed_running(run: Path) -> bool:
    """``gantui ls`` lists ``run`` as running (other runs of this user may be listed too)."""
    return bool(re.search(rf"{re.escape(str(run))} .* running ", gantui_cli("ls", timeout=60).stdout))


def test_b_detaches_the_dashboard_run_and_says_how_to_attach_again(terminal: Terminal,
                                                                   background: Path) -> None:
    """b does what a hang-up does, on purpose: final checkpoint, the shell back with the attach line,
    and the run training on in the background until gantui stop."""
    run = background
    terminal.start(gantui_command(run.parent, "--run-dir", str(run), "--set", "train.threads=1"),
                   width=100, height=30)
    terminal.wait_for(lambda s: (step_on(s) or 0) > 0, "the dashboard")
    terminal.keys("b")
    assert terminal.wait_exit() == 0
    terminal.wait_for(lambda s: "detached" in s, "the line saying how to attach again")
    joined = terminal.tmux("capture-pane", "-p", "-J", "-t", terminal.name)  # wrapped lines joined
    assert f"watch it with: gantui attach {run}" in joined, joined
    handed_over = torch.load(next((run / "checkpoints").glob("final-*.pt")), weights_only=True)["step"]
    log = run / "gantui.log"
    wait_until(lambda: log.exists() and "detached" in log.read_text(), "the background run's log")
    wait_until(lambda: listed_running(run), "the background run in gantui ls")
    stopped = gantui_cli("stop", str(run))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    finals = sorted((run / "checkpoints").glob("final-*.pt"))
    assert torch.load(finals[-1], weights_only=True)["step"] > handed_over


def test_a_hang_up_stops_the_run_with_on_hangup_stop(terminal: Terminal, tmp_path: Path) -> None:
    run = tmp_path / "run"
    terminal.start(gantui_command(tmp_path, "--run-dir", str(run), "--set", "train.threads=1",
                                  "--set", "ui.on_hangup=stop"), width=100, height=30)
    terminal.wait_for(lambda s: (step_on(s) or 0) > 0, "the dashboard")
    terminal.close()
    wait_until(lambda: list((run / "checkpoints").glob("final-*.pt")), "the final checkpoint")
    assert not (run / "gantui.log").exists()


def wait_until(check, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)  # polling interval of a bounded wait, not a synchronisation
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def headless(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """``gantui --headless`` with a step limit it never reaches (headless runs need one), a real process
    of its own (as under nohup), killed at teardown whatever the test did."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "gantui", "--headless", "--steps", "100000000", "--run-dir", str(run),
            "--set", "train.threads=1"]
    with open(tmp_path / "headless.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield run, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        stop_background_run(run)


def k_is_2(screen: str) -> bool:
    return bool(re.search(r"k\s+2\b", screen))


def test_attach_steer_detach_attach_again_and_stop_a_headless_run(terminal: Terminal, tmp_path: Path,
                                                                  headless) -> None:
    """Issue 12's end-to-end: a headless run in the background, a viewer in tmux presses +, detaches
    with q; a second viewer sees k = 2 and the whole history from the start; gantui stop ends the run."""
    run, proc = headless

    def serving() -> bool:
        log = run.parent / "headless.log"
        assert proc.poll() is None, f"gantui --headless ended: {log.read_text() if log.exists() else ''}"
        return (run / "attach.json").exists() and listed_running(run)

    wait_until(serving, "the headless run serving")
    attach = gantui_command(tmp_path, "attach", str(run))
    terminal.start(attach, width=120, height=40)
    first = terminal.wait_for(lambda s: (step_on(s) or 0) > 0 and "running" in s and s,
                              "the attached dashboard")
    terminal.wait_for(lambda s: (step_on(s) or 0) > step_on(first), "the step counter to move (live)")
    terminal.keys("+")
    terminal.wait_for(k_is_2, "k = 2 in the controls panel")
    left_at = step_on(terminal.screen()) or 0
    terminal.keys("q")
    assert terminal.wait_exit() == 0
    terminal.wait_for(lambda s: "detached from" in s and "goes on training" in s, "the detach line")
    assert proc.poll() is None  # the run trains on
    terminal.close()

    (tmp_path / "again").mkdir()
    again = Terminal("gantui-again", tmp_path / "again")
    try:
        again.start(attach, width=120, height=40)
        screen = again.wait_for(lambda s: (step_on(s) or 0) > left_at and k_is_2(s) and "whole run" in s
                                and x_ticks(s) and s, "k = 2 and the step past the detach")
        # The whole history: the axis runs from the run's first row (within a tick) to past the detach.
        ticks = x_ticks(screen)
        spacing = ticks[1] - ticks[0]
        with (run / "metrics.jsonl").open() as rows:
            first_row = json.loads(rows.readline())["step"]
        assert min(ticks) - first_row <= spacing, (ticks, first_row)
        assert max(ticks) + spacing >= left_at, (ticks, left_at)
        stopped = gantui_cli("stop", str(run))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert proc.wait(60) == 0
        again.wait_for(lambda s: "finished" in s, "the viewer saying the run finished")
        again.keys("q")
        assert again.wait_exit() == 0
        again.wait_for(lambda s: "has ended" in s, "the line saying the run ended")
    finally:
        again.close()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    every = steps[1] - steps[0]
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    # No gap, no repeat; the last row may be the short window before the stop.
    assert all(g == every for g in gaps[:-1]) and 0 < gaps[-1] <= every, steps
    assert steps[-1] > left_at
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    by = [e.get("by", "") for e in events if e["kind"] == "k"]
    assert len(by) == 1 and by[0].startswith("viewer"), events
