"""From a key press and the *reported* run state to the command to send: pure functions, no Textual.

The dashboard never changes a setting locally: it sends a command computed from what the trainer last
reported, and shows the new value only when the trainer's ``StateChanged`` says it was applied.
"""

from __future__ import annotations

import re

from gantui.protocol import Command, Freeze, Pause, Player, Resume, RunState, SetK, SetLR

__all__ = ["PRESET_NAME", "freeze_toggle", "k_changed", "lr_scaled", "pause_or_resume", "valid_preset_name"]

PRESET_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def pause_or_resume(state: RunState) -> Command:
    """Pause a running run; resume anything else (paused, or failed after a rollback)."""
    return Pause() if state.status == "running" else Resume()


def k_changed(state: RunState, delta: int) -> SetK | None:
    """SetK(k + delta), or None when that would take k below 1 (Algorithm 1 needs one D-step)."""
    k = state.k + delta
    return SetK(k) if k >= 1 else None


def lr_scaled(state: RunState, player: Player, factor: float) -> SetLR:
    """The reported learning rate of ``player`` times ``factor``."""
    lr = state.lr_d if player == "d" else state.lr_g
    return SetLR(player, lr * factor)


def freeze_toggle(state: RunState, player: Player) -> Freeze:
    """Freeze a player that is training, unfreeze one that is frozen."""
    frozen = state.frozen_d if player == "d" else state.frozen_g
    return Freeze(player, not frozen)


def valid_preset_name(name: str) -> bool:
    """A preset name becomes a file name: letters, digits, ``_ . -`` only."""
    return PRESET_NAME.fullmatch(name) is not None and name not in (".", "..")
