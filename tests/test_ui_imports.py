"""The dashboard's import boundary: gantui.ui never pulls in torch, and it caps Textual's frame rate.

Each check runs in a fresh interpreter, because this test process may already have imported torch
(conftest) or Textual (other tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UI = Path(__file__).resolve().parents[1] / "gantui" / "ui"


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_app_does_not_import_torch():
    out = run_python("import sys, gantui.ui.app\n"
                     "print('torch' in sys.modules, 'gantui.engine' in sys.modules)")
    assert out == "False False"


def test_no_ui_module_mentions_torch_in_an_import():
    offenders = [str(path) for path in UI.rglob("*.py")
                 if any(line.lstrip().startswith(("import torch", "from torch"))
                        for line in path.read_text().splitlines())]
    assert offenders == []


def test_frame_rate_is_capped_unless_the_user_chose_one():
    from gantui.ui.terminal import MAX_FPS

    code = "import gantui.ui.app, textual.constants as c; print(c.MAX_FPS)"
    assert run_python(code) == str(MAX_FPS)
    assert MAX_FPS < 60  # below Textual's default, or capping would mean nothing
    assert run_python(code, TEXTUAL_FPS="45") == "45"
