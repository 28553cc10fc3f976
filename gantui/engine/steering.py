"""Steering: how each command changes the run, applied by the runner between iterations.

Relative commands (the keys' ``TogglePause``, ``ChangeK``, ``ScaleLR``, ``ToggleFreeze``) act on the
trainer's value *now*, so presses faster than the trainer reports never collapse: five ``]`` double
D's learning rate five times. Every change is logged as an intervention whose detail says before →
after and whose label is short enough for a plot marker, and the state is reported back.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from gantui.engine.losses import LOSSES
from gantui.engine.session import KNOB_KEYS
from gantui.protocol import (
    ChangeK,
    Command,
    Evaluate,
    Freeze,
    Pause,
    PresetSaved,
    Probe,
    Resume,
    Rollback,
    SaveCheckpoint,
    SavePreset,
    ScaleLR,
    SetK,
    SetLoss,
    SetLR,
    Step,
    Stop,
    ToggleFreeze,
    TogglePause,
)
from gantui.text import printable

if TYPE_CHECKING:
    from gantui.engine.runner import Runner

__all__ = ["Steering", "factor_label"]

K_RANGE = (1, 100)
LR_MAX = 10.0


def factor_label(factor: float) -> str:
    """×2, ×½, ×¼, ×1.5: how a marker says a learning rate was scaled."""
    halves = {0.5: "½", 0.25: "¼", 0.125: "⅛"}
    if factor in halves:
        return f"×{halves[factor]}"
    frac = Fraction(factor).limit_denominator(16)
    return f"×{frac.numerator}" if frac.denominator == 1 else f"×{factor:g}"


def _lr(value: float) -> str:
    return f"{value:.3g}"


class Steering:
    """Applies commands to one runner's trainer; refusals are warnings, never failures."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.trainer = runner.trainer

    # -------------------------------------------------------------------------- dispatch
    def apply(self, c: Command) -> None:
        """Apply ``c``; a command with a bad value raises ValueError (the runner turns it into a warning)."""
        handler = _HANDLERS.get(type(c))
        if handler is None:
            raise ValueError(f"{type(c).__name__} is not a gantui command")
        _check(c)
        handler(self, c)

    # ------------------------------------------------------------------------ pause/step
    def pause(self, _c: Command) -> None:
        r = self.runner
        if r.status == "running":
            r.set_status("paused", "paused")
            r.intervention("pause", "paused", label="pause")
        else:
            r.emit_state(f"already {r.status}")

    def resume(self, _c: Command) -> None:
        self.resume_training()

    def toggle_pause(self, c: Command) -> None:
        if self.runner.status == "running":
            self.pause(c)
        else:
            self.resume(c)

    def step(self, c: Step) -> None:
        self.step_once(c.kind)

    def resume_training(self) -> None:
        """Train again, unless the run reached its end or its folder still cannot be written."""
        r = self.runner
        if r.finished:
            r.note("warning", f"the run reached train.steps = {r.cfg.train.steps:,}: quit (q), then continue "
                              f"it with gantui --resume RUN --steps N (N > {self.trainer.step:,})")
            r.emit_state("finished")
            return
        if r.recorder.failing:
            r.recorder.fresh_start()
            if not r.recorder.flush():
                r.note("warning", f"{r.recorder.failing}: training stays paused until writing works")
                r.emit_state("paused: run folder not writable")
                return
        if r.status == "running":
            r.emit_state("already running")
            return
        r.start_training("resumed")
        r.intervention("resume", "resumed", label="resume")

    def step_once(self, kind: str) -> None:
        """One iteration, D-step or G-step while paused, read out and shown at once."""
        r, t = self.runner, self.trainer
        if r.status == "running":
            r.note("warning", "step: pause first (space)")
            r.emit_state("running")
            return
        if r.finished:
            self.resume_training()  # says why not
            return
        {"iteration": t.iteration, "d": t.d_step, "g": t.g_step}[kind]()
        if not r.readout(measure_rate=False):
            return
        r.send_samples()
        r.flush(force=True)
        r.emit_state(f"one {'iteration' if kind == 'iteration' else kind.upper() + '-step'}")

    # -------------------------------------------------------------------------- knobs
    def set_k(self, c: SetK) -> None:
        self._k(c.k)

    def change_k(self, c: ChangeK) -> None:
        k = self.trainer.knobs.k + c.delta
        lo, hi = K_RANGE
        if not lo <= k <= hi:
            where = "at least one D-step per G-step" if k < lo else f"at most {hi}"
            self.runner.note("warning", f"k stays {self.trainer.knobs.k}: {where}")
            self.runner.emit_state("k unchanged")
            return
        self._k(k)

    def _k(self, k: int) -> None:
        before = self.trainer.knobs.k
        self.trainer.set_k(k)
        self.runner.intervention("k", f"k {before} → {k}", label=f"k {k}")
        self.knobs_changed(f"k = {k}")

    def set_loss(self, c: SetLoss) -> None:
        before = self.trainer.knobs.loss
        reset = c.reset_optimizers or self.runner.cfg.loss.reset_optim_on_switch
        self.trainer.set_loss(c.name, reset_optimizers=reset)
        detail = f"loss {before} → {c.name}" + (" (optimiser state reset)" if reset else "")
        self.runner.intervention("loss", detail, label=c.name)
        self.knobs_changed(f"loss = {c.name}")

    def set_lr(self, c: SetLR) -> None:
        self._lr(c.player, c.lr, label=f"lr_{c.player} {_lr(c.lr)}")

    def scale_lr(self, c: ScaleLR) -> None:
        now = self.trainer.knobs.lr_d if c.player == "d" else self.trainer.knobs.lr_g
        lr = now * c.factor
        if lr > LR_MAX:
            self.runner.note("warning", f"lr_{c.player} stays {_lr(now)}: at most {LR_MAX:g}")
            self.runner.emit_state(f"lr_{c.player} unchanged")
            return
        self._lr(c.player, lr, label=f"lr_{c.player} {factor_label(c.factor)}")

    def _lr(self, player: str, lr: float, *, label: str) -> None:
        knobs = self.trainer.knobs
        before = knobs.lr_d if player == "d" else knobs.lr_g
        self.trainer.set_lr(player, lr)
        self.runner.intervention(f"lr_{player}", f"lr_{player} {_lr(before)} → {_lr(lr)}", label=label)
        self.knobs_changed(f"lr_{player} = {_lr(lr)}")

    def freeze(self, c: Freeze) -> None:
        self._freeze(c.player, c.frozen)

    def toggle_freeze(self, c: ToggleFreeze) -> None:
        knobs = self.trainer.knobs
        self._freeze(c.player, not (knobs.frozen_d if c.player == "d" else knobs.frozen_g))

    def _freeze(self, player: str, frozen: bool) -> None:
        who = player.upper()
        self.trainer.freeze(player, frozen)
        word = "frozen" if frozen else "unfrozen"
        label = f"{'freeze' if frozen else 'unfreeze'} {who}"
        self.runner.intervention("freeze", f"{who} {word}", label=label)
        self.knobs_changed(f"{who} {word}")

    def knobs_changed(self, reason: str) -> None:
        """A live setting changed: config.toml says so (written with the next flush), and so does the UI."""
        r, k = self.runner, self.trainer.knobs
        values = {"k": k.k, "loss": k.loss, "lr_d": k.lr_d, "lr_g": k.lr_g, "frozen_d": k.frozen_d,
                  "frozen_g": k.frozen_g}
        r.cfg = r.cfg.replace(**{key: values[knob] for knob, key in KNOB_KEYS.items()})
        r.recorder.set_config(r.cfg)
        r.emit_state(reason)

    # --------------------------------------------------------------------- everything else
    def save_checkpoint(self, c: SaveCheckpoint) -> None:
        self.runner.keeper.checkpoint(c.tag)

    def rollback(self, _c: Rollback) -> None:
        self.runner.keeper.rollback()

    def probe(self, _c: Probe) -> None:
        self.runner.probe.request()

    def evaluate(self, _c: Evaluate) -> None:
        self.runner.quality.request()

    def save_preset(self, c: SavePreset) -> None:
        r = self.runner
        path = r.session.save_preset(c.name, self.trainer.knobs)
        r.note("info", f"preset '{printable(c.name)}' saved to {printable(path)}")
        r.emit(PresetSaved(name=c.name, path=str(path)))

    def stop(self, c: Stop) -> None:
        self.runner.stop_request = c


def _check(c: Command) -> None:
    """Refuse values a command of a script or a remote viewer may carry but the trainer cannot take."""
    if isinstance(c, (SetK, ChangeK)):
        value = c.k if isinstance(c, SetK) else c.delta
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{type(c).__name__}: {value!r} is not an integer")
        if isinstance(c, SetK) and not K_RANGE[0] <= c.k <= K_RANGE[1]:
            raise ValueError(f"k = {c.k}: expected {K_RANGE[0]} to {K_RANGE[1]}")
    if isinstance(c, (SetLR, ScaleLR, Freeze, ToggleFreeze)) and c.player not in ("d", "g"):
        raise ValueError(f"player {c.player!r}: expected 'd' or 'g'")
    if isinstance(c, SetLR) and not (isinstance(c.lr, (int, float)) and math.isfinite(c.lr)
                                     and 0 <= c.lr <= LR_MAX):
        raise ValueError(f"learning rate {c.lr!r}: expected a number from 0 to {LR_MAX:g}")
    if isinstance(c, ScaleLR) and not (isinstance(c.factor, (int, float)) and math.isfinite(c.factor)
                                       and c.factor > 0):
        raise ValueError(f"factor {c.factor!r}: expected a positive number")
    if isinstance(c, SetLoss) and c.name not in LOSSES:
        raise ValueError(f"unknown loss {c.name!r}")
    if isinstance(c, Step) and c.kind not in ("iteration", "d", "g"):
        raise ValueError(f"step {c.kind!r}: expected iteration, d or g")


_HANDLERS = {
    Pause: Steering.pause, Resume: Steering.resume, TogglePause: Steering.toggle_pause, Step: Steering.step,
    SetK: Steering.set_k, ChangeK: Steering.change_k, SetLoss: Steering.set_loss, SetLR: Steering.set_lr,
    ScaleLR: Steering.scale_lr, Freeze: Steering.freeze, ToggleFreeze: Steering.toggle_freeze,
    SaveCheckpoint: Steering.save_checkpoint, Rollback: Steering.rollback, Probe: Steering.probe,
    Evaluate: Steering.evaluate, SavePreset: Steering.save_preset, Stop: Steering.stop,
}
