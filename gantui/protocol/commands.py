"""Commands: what a controller asks the runner to do, applied between iterations.

The runner answers every applied command with a ``StateChanged`` event, so a controller shows what
happened, not what it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Command",
    "Freeze",
    "Pause",
    "Player",
    "Probe",
    "Resume",
    "Rollback",
    "SaveCheckpoint",
    "SavePreset",
    "SetK",
    "SetLR",
    "SetLoss",
    "Step",
    "StepKind",
    "Stop",
]

Player = Literal["d", "g"]
StepKind = Literal["iteration", "d", "g"]


@dataclass(frozen=True, slots=True)
class Command:
    """Base class of everything that can be put on the runner's queue."""


@dataclass(frozen=True, slots=True)
class Pause(Command):
    """Stop training after the current iteration; the thread stays alive and answers commands."""


@dataclass(frozen=True, slots=True)
class Resume(Command):
    """Continue training (also clears a failure once the user has rolled back)."""


@dataclass(frozen=True, slots=True)
class Step(Command):
    """While paused: one iteration (k D-steps + one G-step), or a single D-step or G-step."""

    kind: StepKind = "iteration"


@dataclass(frozen=True, slots=True)
class SetK(Command):
    """D-steps per G-step, from the next iteration on."""

    k: int


@dataclass(frozen=True, slots=True)
class SetLoss(Command):
    """Switch the objective; optimiser state is kept unless ``reset_optimizers``."""

    name: str
    reset_optimizers: bool = False


@dataclass(frozen=True, slots=True)
class SetLR(Command):
    """Set one player's learning rate."""

    player: Player
    lr: float


@dataclass(frozen=True, slots=True)
class Freeze(Command):
    """Freeze (skip the updates of) or unfreeze one player."""

    player: Player
    frozen: bool


@dataclass(frozen=True, slots=True)
class SaveCheckpoint(Command):
    """Write a checkpoint now (atomically)."""

    tag: str = "manual"


@dataclass(frozen=True, slots=True)
class Rollback(Command):
    """Load the newest good checkpoint of this run and pause there."""


@dataclass(frozen=True, slots=True)
class Probe(Command):
    """Train a probe discriminator towards D* on the frozen current G and report ``jsd_probe``."""


@dataclass(frozen=True, slots=True)
class SavePreset(Command):
    """Save the current settings (k, loss, learning rates included) as a user preset."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop(Command):
    """End the run; with ``save`` a final checkpoint is written first."""

    save: bool = True
