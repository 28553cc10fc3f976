"""``gantui attach | ls | stop | view`` as a user types them: answers and one-line mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gantui.cli import main
from gantui.protocol import Finished, StateChanged, Stop
from gantui.remote.cli import dispatch
from gantui.remote.server import RunServer
from tests.fakes import metrics_batch, run_state
from tests.remote_helpers import FakeRunner, private_dir


@pytest.fixture
def xdg(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This user's runtime directory, private to the test."""
    with private_dir() as path:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
        yield path


def serve(runner: FakeRunner, run_dir: Path, preset: str = "ring8") -> RunServer:
    run_dir.mkdir(exist_ok=True)
    server = RunServer(runner, run_dir=run_dir, preset=preset)
    server.start()
    server.publish(StateChanged(state=run_state(step=1234)))
    server.publish(metrics_batch(1240, 2))
    server.sync()
    return server


def test_other_command_lines_are_not_subcommands() -> None:
    assert dispatch(["--preset", "ls"]) is None
    assert dispatch([]) is None


def test_ls_without_runs(xdg: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ls"]) == 0
    assert capsys.readouterr().out == "no live gantui runs of yours on this machine\n"


def test_ls_lists_each_live_run(xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    server = serve(FakeRunner(), tmp_path / "run-a", preset="grid25")
    try:
        assert main(["ls"]) == 0
    finally:
        server.close()
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["#", "RUN", "PRESET", "STEP", "STATUS", "IT/S", "VIEWERS", "UPTIME", "PID"]
    cells = row.split()
    assert cells[1:7] == [str((tmp_path / "run-a").resolve()), "grid25", "1,260", "running", "100.0", "0"]
    assert cells[-1] == str(os.getpid())


def test_stop_saves_and_reports_the_checkpoint(xdg: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    runner = FakeRunner()
    server = serve(runner, tmp_path / "run")
    runner.on_command = lambda command, origin: isinstance(command, Stop) and server.publish(
        Finished(step=1260, reason="stopped", checkpoint="run/checkpoints/final-0001260.pt"))
    try:
        assert main(["stop", str(tmp_path / "run")]) == 0
    finally:
        server.close()
    assert runner.received == [(Stop(save=True), f"gantui stop (pid {os.getpid()})")]
    out = capsys.readouterr().out
    assert "saving a final checkpoint" in out
    assert out.splitlines()[-1] == "stopped at step 1,260; checkpoint run/checkpoints/final-0001260.pt"


def test_attach_mistakes_are_one_line(xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["attach"]) == 1
    assert capsys.readouterr().err == ("gantui attach: no live gantui run of yours on this machine "
                                       "(gantui ls lists them)\n")
    assert main(["attach", "host:7000"]) == 1
    assert "needs --key-file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # as for the main command: argparse exits with 2
        main(["attach", "--nope"])
    assert usage.value.code == 2
    assert capsys.readouterr().err.startswith("gantui attach: error: unrecognized arguments: --nope")
    first, second = serve(FakeRunner(), tmp_path / "a"), serve(FakeRunner(), tmp_path / "b")
    try:
        assert main(["attach"]) == 1  # stdin is not a terminal here: the list, and say which
    finally:
        first.close()
        second.close()
    err = capsys.readouterr().err
    assert err.startswith("gantui attach: 2 live runs: say which")
    assert str((tmp_path / "a").resolve()) in err and str((tmp_path / "b").resolve()) in err


def test_view_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["view", str(tmp_path / "missing")]) == 1
    assert "not a run folder" in capsys.readouterr().err
    good = tmp_path / "good"
    good.mkdir()
    (good / "metrics.jsonl").write_text("")
    assert main(["view", str(good), str(tmp_path / "missing")]) == 1  # every folder is checked first
    assert capsys.readouterr().err == f"gantui view: {tmp_path / 'missing'}: not a run folder\n"
    assert main(["view", *[str(good)] * 8]) == 1
    assert capsys.readouterr().err == "gantui view: 8 run folders: at most 7 can be compared\n"


def test_the_viewer_side_imports_neither_torch_nor_textual() -> None:
    code = ("import sys, gantui.cli, gantui.remote.cli, gantui.remote.client, gantui.remote.registry, "
            "gantui.remote.filecontroller, gantui.remote.server\n"
            "print('torch' in sys.modules, 'textual' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.stdout.strip() == "False False", done.stderr


def ended_run(tmp_path: Path, *, limit: int, checkpoints: tuple[str, ...]) -> Path:
    """A run folder as a run leaves it: its config.toml and checkpoint files (names are all that
    ``gantui attach`` reads of them), no live process behind it."""
    run = tmp_path / "ended"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text(f'preset = "ring8"\n\n[train]\nk = 1\nsteps = {limit}\n')
    for name in checkpoints:
        (run / "checkpoints" / name).write_bytes(b"")
    return run


def at_a_terminal(monkeypatch: pytest.MonkeyPatch, answer: str) -> list[str]:
    """stdin and stdout are a terminal and the user types ``answer``; returns the prompts."""
    prompts: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": prompts.append(prompt) or answer)
    return prompts


def test_attach_to_an_ended_run_prints_the_resume_command_outside_a_terminal(
        xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ended_run(tmp_path, limit=0, checkpoints=("periodic-0005000.pt", "last-good-0004800.pt"))
    assert main(["attach", str(run)]) == 1
    assert capsys.readouterr().err == (f"gantui attach: the run in {run} has ended at step 5,000 "
                                       f"(periodic-0005000.pt): continue with gantui --resume {run}\n")


def test_attach_to_a_run_that_reached_its_limit_offers_a_longer_resume(
        xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    run = ended_run(tmp_path, limit=2000, checkpoints=("periodic-0001000.pt", "final-0002000.pt"))
    resumed: list[list[str]] = []
    monkeypatch.setattr("gantui.cli.main", lambda argv: resumed.append(argv) or 0)
    prompts = at_a_terminal(monkeypatch, "y")
    assert main(["attach", str(run)]) == 0
    assert prompts == [f"the run in {run} has ended at step 2,000 (final-0002000.pt). "
                       f"Resume it with gantui --resume {run} --steps 4000? [y/N] "]
    assert resumed == [["--resume", str(run), "--steps", "4000"]]  # the same rules as gantui --resume


def test_attach_to_an_ended_run_resumes_only_when_asked(
        xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    run = ended_run(tmp_path, limit=9000, checkpoints=("manual-0000300.pt",))
    monkeypatch.setattr("gantui.cli.main", lambda argv: pytest.fail(f"resumed: {argv}"))
    at_a_terminal(monkeypatch, "")
    assert main(["attach", str(run)]) == 0
    assert capsys.readouterr().out == f"not resumed; later: gantui --resume {run}\n"


def test_attach_to_an_ended_run_without_checkpoints(xdg: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    run = ended_run(tmp_path, limit=0, checkpoints=())
    assert main(["attach", str(run)]) == 1
    assert capsys.readouterr().err == (f"gantui attach: {run}: the run has ended and left no checkpoint to "
                                       f"resume from (gantui view {run} opens it read-only)\n")
