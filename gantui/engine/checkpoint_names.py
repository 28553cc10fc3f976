"""Checkpoint files known by their names alone (``<tag>-<step>.pt``), without torch.

``gantui attach`` on a run that has ended says which checkpoint a resume would continue from, and it
must not import torch to say so (a viewer starts in a fraction of a second); ``checkpoint`` loads and
saves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TAGS", "CheckpointFile", "checkpoint_name", "checkpoints_folder", "latest", "list_checkpoints"]

TAGS = ("final", "manual", "periodic", "last-good")  # at one step, the first of these is preferred


_NAME = re.compile(r"(periodic|manual|final|last-good)-(\d{1,15})\.pt")


@dataclass(frozen=True, order=True)
class CheckpointFile:
    """A checkpoint in a run folder, known from its name."""

    step: int
    rank: int  # orders the tags at one step: final > manual > periodic > last-good
    path: Path

    @property
    def tag(self) -> str:
        return TAGS[len(TAGS) - 1 - self.rank]


def checkpoint_name(tag: str, step: int) -> str:
    return f"{tag}-{step:07d}.pt"


def list_checkpoints(folder: Path) -> list[CheckpointFile]:
    """The checkpoints in ``folder`` (a run's ``checkpoints/``), oldest step first."""
    out = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    for path in entries:
        match = _NAME.fullmatch(path.name)
        if match and path.is_file():
            out.append(CheckpointFile(int(match[2]), len(TAGS) - 1 - TAGS.index(match[1]), path))
    return sorted(out)


def latest(run_dir: Path) -> CheckpointFile | None:
    """The checkpoint of a run folder with the highest step (at one step: final, manual, periodic,
    last-good), None if it has none. ``run_dir`` may be the run folder or its ``checkpoints/`` folder."""
    files = list_checkpoints(checkpoints_folder(run_dir))
    return files[-1] if files else None


def checkpoints_folder(run_dir: Path) -> Path:
    """``RUN/checkpoints``, or ``run_dir`` itself when it is that folder."""
    run_dir = Path(run_dir)
    return run_dir if run_dir.name == "checkpoints" and not (run_dir / "checkpoints").is_dir() \
        else run_dir / "checkpoints"
