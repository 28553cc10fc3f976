"""Commands: what a controller asks the runner to do, applied between iterations.

The runner answers every applied command with a ``StateChanged`` event, so a controller shows what
happened, not what it asked for.

A key press is a *relative* command (``ScaleLR``, ``ChangeK``, ``TogglePause``, ``ToggleFreeze``): the
runner applies it to its own current value, in order, so five quick presses of ``]`` double the
learning rate five times even when the dashboard has not yet seen the first answer. The absolute
forms (``SetLR``, ``SetK``, ``Pause``, ``Resume``, ``Freeze``) are for scripts and tests that know the
value they want.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ChangeK",
    "Command",
    "Evaluate",
    "Freeze",
    "Pause",
    "Player",
    "Probe",
    "Resume",
    "Rollback",
    "SaveCheckpoint",
    "SavePreset",
    "ScaleLR",
    "SetK",
    "SetLR",
    "SetLoss",
    "Step",
    "StepKind",
    "Stop",
    "ToggleFreeze",
    "TogglePause",
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
class TogglePause(Command):
    """Pause a running run, resume a paused one: decided by the runner on its own status."""


@dataclass(frozen=True, slots=True)
class Step(Command):
    """While paused: one iteration (k D-steps + one G-step), or a single D-step or G-step."""

    kind: StepKind = "iteration"


@dataclass(frozen=True, slots=True)
class SetK(Command):
    """D-steps per G-step, from the next iteration on."""

    k: int


@dataclass(frozen=True, slots=True)
class ChangeK(Command):
    """k + ``delta`` (never below 1 nor above 100), applied to the runner's current k."""

    delta: int


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
class ScaleLR(Command):
    """Multiply one player's current learning rate by ``factor`` (the ``[ ] { }`` keys: ×½, ×2)."""

    player: Player
    factor: float


@dataclass(frozen=True, slots=True)
class Freeze(Command):
    """Freeze (skip the updates of) or unfreeze one player."""

    player: Player
    frozen: bool


@dataclass(frozen=True, slots=True)
class ToggleFreeze(Command):
    """Freeze a player that trains, unfreeze a frozen one (the ``D`` / ``G`` keys)."""

    player: Player


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
class Evaluate(Command):
    """Measure image quality now (FID or fd_classifier, precision / recall, class coverage)."""


@dataclass(frozen=True, slots=True)
class SavePreset(Command):
    """Save the current settings (k, loss, learning rates included) as a user preset."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop(Command):
    """End the run; with ``save`` a final checkpoint is written first."""

    save: bool = True
