"""Checkpoints: safe loading, refusal of another model, atomic writes and exact resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gantui.atomic import atomic_write
from gantui.engine import checkpoint as ckpt
from gantui.engine.session import Session, open_checkpoint, resume_config
from tests.engine_helpers import smoke_config


def params(session: Session) -> list[torch.Tensor]:
    t = session.trainer
    return [p.detach().clone() for p in (*t.G.parameters(), *t.D.parameters())]


def save(session: Session, path: Path) -> Path:
    return ckpt.save(path, ckpt.capture(session.trainer, config=session.config.as_dict(), history=[]))


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = smoke_config("train.k=2")
    straight = Session.create(cfg, write=False)
    for _ in range(40):
        straight.trainer.iteration()

    first = Session.create(cfg, write=False)
    for step in range(20):
        first.trainer.iteration()
        if step % 7 == 0:  # being looked at must not change the future
            first.trainer.readout()
            first.trainer.generate(50)
    path = save(first, tmp_path / "mid.pt")

    resumed = Session.create(resume_config(open_checkpoint(path)), write=False,
                             resume=open_checkpoint(path))
    assert resumed.trainer.step == 20
    for _ in range(20):
        resumed.trainer.iteration()
    for a, b in zip(params(straight), params(resumed), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(straight.trainer.opt_d.state_dict()["state"].values(),
                    resumed.trainer.opt_d.state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_live_settings_survive_a_checkpoint(tmp_path: Path) -> None:
    session = Session.create(smoke_config(), write=False)
    t = session.trainer
    t.set_k(7)
    t.set_loss("hinge")
    t.set_lr("d", 0.003)
    t.freeze("g", True)
    path = save(session, tmp_path / "c.pt")
    resumed = open_checkpoint(path)
    again = Session.create(resume_config(resumed), write=False, resume=resumed)
    k = again.trainer.knobs
    assert (k.k, k.loss, k.lr_d, k.frozen_g) == (7, "hinge", 0.003, True)
    assert again.trainer.opt_d.param_groups[0]["lr"] == 0.003


def test_checkpoints_load_with_weights_only(tmp_path: Path) -> None:
    session = Session.create(smoke_config(), write=False)
    path = save(session, tmp_path / "c.pt")
    state = torch.load(path, weights_only=True)
    assert state["step"] == 0 and "G" in state and "rng" in state


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    path = save(Session.create(smoke_config(), write=False), tmp_path / "c.pt")
    with pytest.raises(ckpt.CheckpointError, match=r"c\.pt: G in the checkpoint has another shape"):
        Session.create(smoke_config("model.g_hidden=[32]"), write=False,
                       resume=open_checkpoint(path))


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage \x13" * 50, b"PK\x03\x04 not a zip"])
def test_garbage_is_a_one_line_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        ckpt.load(tmp_path / "nope.pt")
    with pytest.raises(ckpt.CheckpointError, match="no checkpoints"):
        open_checkpoint(tmp_path)


def test_an_interrupted_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "c.pt"
    session = Session.create(smoke_config(), write=False)
    save(session, target)
    before = target.read_bytes()

    def half_then_crash(f) -> None:
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, half_then_crash)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


def test_a_killed_writer_never_leaves_a_corrupt_checkpoint(tmp_path: Path) -> None:
    # A child process writes a large checkpoint and is killed mid-write (SIGKILL); the target
    # is either the old complete file or the new complete one, never a torn file.
    import signal
    import subprocess
    import sys

    target = tmp_path / "c.pt"
    target.write_bytes(b"old")
    code = (
        "import sys, torch\n"
        "from gantui.atomic import atomic_write\n"
        "big = {'x': torch.zeros(64_000_000, dtype=torch.uint8)}\n"
        "def write(f):\n"
        "    print('writing', flush=True)\n"
        "    torch.save(big, f)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    content = target.read_bytes()
    assert content == b"old" or torch.load(target, weights_only=True)["x"].numel() == 64_000_000
