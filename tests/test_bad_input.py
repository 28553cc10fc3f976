"""Bad input, end to end: every malformed preset or flag ends in one line and exit status 2, fast.

Issue 6: "Every malformed preset or command-line value ... ends with a one-line error that names the
file, the key and what is allowed, and exit status 2 — no traceback, within a second."

The corpus in ``tests/bad_presets/`` holds one mistake per file; its first line says what the error
must contain: ``# expect: fragment | fragment | ...``. Each file is checked in-process (``read_toml``
+ ``resolve``) and through the real command (``python -m gantui --preset FILE``) in a subprocess.
Times are measured around the subprocess, wall clock and the child's CPU time; run with ``-s`` to
see them.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from gantui.config import ConfigError, resolve
from gantui.tomlio import read_toml

CORPUS = sorted((Path(__file__).parent / "bad_presets").glob("*.toml"))
# A config error is found before torch is imported: Python + gantui.config start in ~0.1 s (0.4 s on
# a machine loaded with six busy processes), so a wall-clock bound is loose enough for CI. An error found
# after importing torch and building the trainer (devices, checkpoints, run folders) costs ~3 s of
# CPU, and its wall time stretched to 22 s under that load: it is bounded in the child's CPU time,
# which a busy machine does not stretch.
CONFIG_ERROR_SECONDS = 3.0
LATE_ERROR_CPU_SECONDS = 10.0


def expectations(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name}: first line must be '# expect: ...'"
    return [part.strip() for part in first.removeprefix("# expect:").split("|")]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float  # the child's user + system time


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    start, cpu_start = time.monotonic(), children_cpu_seconds()
    done = subprocess.run([sys.executable, "-m", "gantui", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, errors="replace", stdin=subprocess.DEVNULL, timeout=60)
    seconds, cpu = time.monotonic() - start, children_cpu_seconds() - cpu_start
    print(f"\n{seconds:5.2f}s ({cpu:5.2f}s CPU)  gantui {' '.join(args)}\n       {done.stderr.strip()}")
    return Outcome(done.returncode, done.stdout, done.stderr, seconds, cpu)


def assert_one_line_error(out: Outcome, *fragments: str, within: float = math.inf,
                          within_cpu: float = math.inf) -> str:
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {out.stderr!r}"
    assert lines[0].startswith("gantui: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert out.stdout == ""
    assert out.seconds < within, f"took {out.seconds:.2f}s"
    assert out.cpu_seconds < within_cpu, f"took {out.cpu_seconds:.2f}s of CPU"
    return lines[0]


# ----------------------------------------------------------------------------- the corpus, in-process
def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_preset_in_process(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(read_toml(path), source=str(path))
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    for fragment in expectations(path):
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ----------------------------------------------------------------------------- the corpus, end to end
@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_preset_through_the_command(path: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--preset", str(path)], cli_env, tmp_path)
    assert_one_line_error(out, f"gantui: error: {path}: ", *expectations(path), within=CONFIG_ERROR_SECONDS)
    assert not (tmp_path / "runs").exists()  # nothing was started


# ----------------------------------------------------------------------------- files that are not presets
def test_binary_garbage_preset(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(bytes((i * 167 + 13) % 256 for i in range(4096)))  # fixed bytes, not UTF-8
    out = run_cli(["--preset", str(path)], cli_env, tmp_path)
    assert_one_line_error(out, f"{path}: not a text file (expected UTF-8 TOML)", within=CONFIG_ERROR_SECONDS)


def test_a_directory_as_a_preset(cli_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "a_directory"
    folder.mkdir()
    out = run_cli(["--preset", str(folder)], cli_env, tmp_path)
    assert_one_line_error(out, f"{folder}: is a directory, expected a .toml preset file",
                          within=CONFIG_ERROR_SECONDS)


def test_a_missing_preset_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--preset", str(tmp_path / "nope.toml")], cli_env, tmp_path)
    assert_one_line_error(out, f"{tmp_path / 'nope.toml'}: no such preset file", within=CONFIG_ERROR_SECONDS)


def test_a_fifo_as_a_preset_does_not_hang(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    out = run_cli(["--preset", str(path)], cli_env, tmp_path)
    assert_one_line_error(out, f"{path}: not a regular file", within=CONFIG_ERROR_SECONDS)


def test_a_broken_user_preset_is_named_by_its_path(cli_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "xdg" / "gantui" / "presets"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text("[train]\nk = 0\n")
    out = run_cli(["--preset", "mine"], cli_env, tmp_path)
    assert_one_line_error(out, f"{folder / 'mine.toml'}: train.k = 0", ">= 1", within=CONFIG_ERROR_SECONDS)


# ----------------------------------------------------------------------------- bad flags
CONFIG_FLAG_CASES = [
    (["--set", "train.k=0"], ["--set train.k=0: train.k = 0: expected an integer >= 1, <= 100"]),
    (["--set", "train.k=-3"], ["--set train.k=-3: train.k = -3", ">= 1"]),
    (["--set", "train.k=1.5"], ["train.k = 1.5: expected an integer"]),
    (["--set", "train.k=true"], ["train.k = true: expected an integer"]),
    (["--set", "loss.name=hinje"], ["--set loss.name=hinje: loss.name = 'hinje'", "did you mean 'hinge'?"]),
    (["--set", "data.name=imagenet"], ["data.name = 'imagenet'", "expected one of ring8, grid25"]),
    (["--set", "train.lr=1e-3"], ["--set train.lr=1e-3: unknown key 'train.lr'",
                                  "did you mean 'lr_d' or 'lr_g'?"]),
    (["--set", "trian.k=2"], ["unknown section 'trian'", "did you mean 'train'?"]),
    (["--set", "train.k"], ["--set train.k: expected section.key=value"]),
    (["--set", "k=5"], ["--set k=5: 'k' should be section.key"]),
    (["--set", "train.k=1\ndata.name=x"], ["--set train.k=1\\ndata.name=x: control characters"]),
    (["--set", "train.beta1=1"], ["train.beta1 = 1: expected a number >= 0, < 1"]),
    (["--set", "train.lr_d=nan"], ["train.lr_d = nan: expected a number"]),
    (["--set", "model.name=dcgan"], ["--set model.name=dcgan: model.name = 'dcgan' needs image data"]),
    (["--device", "gpu"], ["train.device = 'gpu': expected auto, cpu, cuda, cuda:N or mps"]),
    (["--device", "cuda:x"], ["train.device = 'cuda:x'", "cuda:N"]),
    (["--device", "cuda:-1"], ["train.device = 'cuda:-1'", "cuda:N"]),
    (["--steps", "-1"], ["train.steps = -1: expected an integer >= 0"]),
    (["--seed", "99999999999999999999"], ["train.seed = 99999999999999999999", "<= 2147483647"]),
    (["--preset", "missing"], ["--preset missing: no such preset", "available: ", "ring8"]),
    (["--preset", "ring9"], ["--preset ring9: no such preset (did you mean 'ring8'?)"]),
]


@pytest.mark.parametrize(("args", "fragments"), CONFIG_FLAG_CASES,
                         ids=[" ".join(a) for a, _ in CONFIG_FLAG_CASES])
def test_bad_flags(args: list[str], fragments: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(args, cli_env, tmp_path)
    assert_one_line_error(out, *fragments, within=CONFIG_ERROR_SECONDS)
    assert not (tmp_path / "runs").exists()


# Errors the engine finds after importing torch: slower, still one line, exit 2, no traceback.
@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--preset", "smoke", "--device", "cuda", "--headless"], cli_env, tmp_path)
    assert_one_line_error(out, "train.device = 'cuda': CUDA is not available",
                          within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.slow
def test_resume_from_a_missing_path(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--resume", "/nonexistent/run"], cli_env, tmp_path)
    assert_one_line_error(out, "/nonexistent/run", within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.slow
def test_resume_from_random_bytes(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(bytes((i * 131 + 7) % 256 for i in range(2048)))
    out = run_cli(["--resume", str(path)], cli_env, tmp_path)
    assert_one_line_error(out, f"{path}: ", "checkpoint", within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.slow
def test_resume_from_a_folder_without_checkpoints(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    out = run_cli(["--resume", str(tmp_path / "run")], cli_env, tmp_path)
    assert_one_line_error(out, str(tmp_path / "run"), "checkpoint", within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.slow
def test_headless_with_zero_steps(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--preset", "smoke", "--headless", "--steps", "0"], cli_env, tmp_path)
    assert_one_line_error(out, "train.steps = 0", "--headless needs", within_cpu=LATE_ERROR_CPU_SECONDS)


@pytest.mark.parametrize("args", [["--seed", "abc"], ["--steps", "x"], ["--colors", "blue"], ["--bogus"]])
def test_argparse_errors_are_one_line(args: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(run_cli(args, cli_env, tmp_path), within=CONFIG_ERROR_SECONDS)


@pytest.mark.slow
def test_a_run_dir_that_is_a_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    args = ["--preset", "smoke", "--headless", "--run-dir", str(tmp_path / "afile")]
    out = run_cli(args, cli_env, tmp_path)
    assert_one_line_error(out, str(tmp_path / "afile"), within_cpu=LATE_ERROR_CPU_SECONDS)


# ----------------------------------------------------------------------------- no torch for quick answers
def run_in_fresh_python(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Call ``gantui.cli.main`` in a fresh interpreter and report which heavy modules it imported."""
    code = (
        "import sys\n"
        "from gantui.cli import main\n"
        f"try:\n    rc = main({argv!r})\nexcept SystemExit as stop:\n    rc = stop.code\n"
        "heavy = sorted(m for m in ('torch', 'textual', 'numpy') if m in sys.modules)\n"
        "print('RC', rc, 'HEAVY', ','.join(heavy) or '-', file=sys.stderr)\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


@pytest.mark.parametrize(("argv", "rc"), [
    (["--help"], 0),
    (["--list-presets"], 0),
    (["--version"], 0),
    (["--set", "train.k=0"], 2),
    (["--preset", "missing"], 2),
    (["--device", "gpu"], 2),
])
def test_quick_answers_do_not_import_torch(argv: list[str], rc: int, cli_env: dict[str, str],
                                           tmp_path: Path) -> None:
    done = run_in_fresh_python(argv, cli_env, tmp_path)
    assert done.stderr.splitlines()[-1] == f"RC {rc} HEAVY -", done.stderr


def test_list_presets_lists_every_bundled_preset_quickly(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run_cli(["--list-presets"], cli_env, tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert {"ring8", "grid25", "smoke"} <= set(names)
    assert out.seconds < CONFIG_ERROR_SECONDS
