"""Every user mistake is one line with exit status 2 — the cases issue 10 found still broken — and user
text never reaches the terminal raw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gantui.engine import checkpoint as ckpt
from gantui.engine.session import Session, open_checkpoint, resume_config
from tests.engine_helpers import smoke_config
from tests.test_bad_input import CONFIG_ERROR_SECONDS, LATE_ERROR_CPU_SECONDS, assert_one_line_error, run_cli

HUGE = "1" * 5000  # Python refuses to read integers of more than 4300 digits


def test_an_integer_of_5000_digits_in_set_or_a_preset(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--set", f"train.k={HUGE}", "--headless"], cli_env, tmp_path)
    assert_one_line_error(out, "more digits than any field allows", within=CONFIG_ERROR_SECONDS)
    preset = tmp_path / "big.toml"
    preset.write_text(f"[train]\nk = {HUGE}\n")
    out = run_cli(["--preset", str(preset), "--headless"], cli_env, tmp_path)
    assert_one_line_error(out, "big.toml: invalid TOML", within=CONFIG_ERROR_SECONDS)


def test_a_dataset_larger_than_memory_is_refused_up_front(cli_env: dict[str, str], tmp_path: Path) -> None:
    """An 824 GB allocation used to end in the allocator's traceback."""
    out = run_cli(
        [
            "--preset",
            "smoke",
            "--headless",
            "--set",
            "data.name=fake",
            "--set",
            "data.image_size=1024",
            "--set",
            "data.fake_size=65536",
        ],
        cli_env,
        tmp_path,
    )
    assert_one_line_error(
        out, "824.6 GB", "lower data.fake_size or data.image_size", within_cpu=LATE_ERROR_CPU_SECONDS
    )


def test_an_unreadable_image_in_a_folder_read_by_workers(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A worker's error arrived wrapped in its 15-line 'Original Traceback'."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    out = run_cli(
        [
            "--preset",
            "smoke",
            "--headless",
            "--set",
            "data.name=folder",
            "--set",
            f"data.path={folder}",
            "--set",
            "data.image_size=16",
            "--set",
            "data.workers=2",
            "--set",
            "model.name=mlp",
        ],
        cli_env,
        tmp_path,
    )
    assert_one_line_error(out, "broken.png: cannot read this image", within_cpu=LATE_ERROR_CPU_SECONDS)


def test_a_resume_whose_logs_hold_garbage_resumes_and_says_so(tmp_path: Path) -> None:
    """Lines without a step or with text metrics gave TypeError / KeyError; headless crashed while the
    trainer kept training unseen."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run = [sys.executable, "-m", "gantui", "--preset", "smoke", "--headless"]
    subprocess.run(
        [*run, "--run-dir", "r"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120
    )
    with open(tmp_path / "r" / "metrics.jsonl", "a") as f:
        f.write('{"loss_d": 1.0}\n{"step": "twelve", "loss_d": 1}\n{"step": 20, "loss_d": "high"}\n[]\n')
    with open(tmp_path / "r" / "events.jsonl", "a") as f:
        f.write('{"kind": "k"}\n{"step": null}\n')
    done = subprocess.run(
        [*run[:3], "--resume", "r", "--headless", "--steps", "60"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "dropped 6 unusable line(s)" in done.stdout
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(isinstance(r["step"], int) for r in rows) and rows[-1]["step"] == 60


@pytest.fixture(scope="module")
def good_state(tmp_path_factory) -> dict:
    session = Session.create(smoke_config(), write=False)
    for _ in range(3):
        session.trainer.iteration()
    return ckpt.capture(session.trainer, config=session.config.as_dict(), history=[])


KEYS = (
    "format",
    "step",
    "d_steps",
    "g_steps",
    "knobs",
    "config",
    "G",
    "D",
    "opt_g",
    "opt_d",
    "fixed_noise",
    "rng",
    "history",
    "elapsed",
)
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(torch.zeros(2)),
    st.just(torch.full((2, 3), float("nan"))),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(KEYS),
    sub=st.sampled_from(("k", "loss", "lr_d", "frozen_d", None)),
    value=ODD,
    drop=st.booleans(),
)
def test_hand_made_checkpoints_are_one_line_errors(
    good_state: dict, tmp_path_factory, key: str, sub, value, drop: bool
) -> None:
    """13 of 27 hand-made or older checkpoints gave tracebacks: load and resume say one line instead."""
    import copy

    state = copy.deepcopy(good_state)
    target = state["knobs"] if key == "knobs" and sub else state
    name = sub if key == "knobs" and sub else key
    if drop:
        target.pop(name, None)
    else:
        target[name] = value
    path = tmp_path_factory.mktemp("ck") / "c.pt"
    torch.save(state, path)
    try:
        resumed = open_checkpoint(path)
        Session.create(resume_config(resumed, ["train.steps=0"]), write=False, resume=resumed)
    except (ckpt.CheckpointError, ValueError) as exc:  # ConfigError is a ValueError
        assert ("\n" not in str(exc) and str(path) in str(exc)) or "train." in str(exc), str(exc)


def test_a_truncated_checkpoint_says_so(tmp_path: Path, good_state: dict) -> None:
    path = tmp_path / "c.pt"
    ckpt.save(path, good_state)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ckpt.CheckpointError, match=r"not a complete checkpoint|not a readable"):
        ckpt.load(path)


def test_resume_from_a_fifo_does_not_hang(cli_env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "c.pt"
    os.mkfifo(fifo)
    out = run_cli(["--resume", str(fifo), "--headless", "--steps", "5"], cli_env, tmp_path)
    assert_one_line_error(out, "not a regular file", within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--run-dir", "", "--headless"], "--run-dir ''"),
        (["--preset", "/dev/null", "--headless"], "/dev/null: not a regular file"),
        (["--resume", "x", "--overwrite", "--headless"], "--overwrite and --resume"),
        ([], "the dashboard needs a terminal"),  # stdin and stdout are not a terminal here
    ],
)
def test_more_usage_mistakes(args: list[str], fragment: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    full = args if "--preset" in args or "--resume" in args else ["--preset", "smoke", *args]
    line = assert_one_line_error(run_cli(full, cli_env, tmp_path), fragment, within=CONFIG_ERROR_SECONDS)
    assert line.count("/dev/null") <= 1


def test_a_device_number_that_does_not_exist_is_not_called_malformed(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    out = run_cli(["--preset", "smoke", "--headless", "--device", "cuda:9999"], cli_env, tmp_path)
    line = assert_one_line_error(out, "cuda:9999", within_cpu=LATE_ERROR_CPU_SECONDS)
    assert "expected auto" not in line


def test_list_presets_into_a_closed_pipe(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        f"{sys.executable} -m gantui --list-presets | head -1",
        shell=True,
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr and done.stdout.strip()


def test_control_characters_in_user_text_are_escaped(cli_env: dict[str, str], tmp_path: Path) -> None:
    """An ESC in --run-dir or a preset description was printed raw: it could drive the terminal."""
    folder = tmp_path / "xdg" / "gantui" / "presets"
    folder.mkdir(parents=True)
    (folder / "evil.toml").write_text('description = "pwn\\u001b[2J\\u001b]0;title\\u0007"\n')
    done = subprocess.run(
        [sys.executable, "-m", "gantui", "--list-presets"],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "\x1b" not in done.stdout and "pwn\\x1b[2J" in done.stdout
    run_dir = "run\x1b[31mred"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gantui",
            "--preset",
            "smoke",
            "--headless",
            "--steps",
            "5",
            "--run-dir",
            run_dir,
        ],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "\x1b" not in done.stdout + done.stderr.replace("\x1b[?25", "") and "run\\x1b[31mred" in done.stdout
    )
