"""The keys that steer the run (and end it): each sends one command, and the screen changes only when
the trainer reports back (``StateChanged``).

The keys send *relative* commands (``TogglePause``, ``ChangeK``, ``ScaleLR``, ``ToggleFreeze``): the
trainer applies each to its own current value, in order, so five quick presses of ``]`` double the
learning rate five times even before the first answer arrives. A mixin of :class:`~gantui.ui.app.GanApp`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantui.protocol import (
    ChangeK,
    Command,
    Evaluate,
    Probe,
    Rollback,
    RunState,
    SaveCheckpoint,
    SavePreset,
    ScaleLR,
    SetLoss,
    Step,
    Stop,
    ToggleFreeze,
    TogglePause,
)
from gantui.text import printable
from gantui.ui.screens.confirm import ConfirmDialog
from gantui.ui.screens.loss_picker import LossPicker
from gantui.ui.screens.preset_name import PresetNameDialog

if TYPE_CHECKING:
    from gantui.ui.app import GanApp

__all__ = ["DETACHED", "INTERRUPTED", "QUIT_TIMEOUT_S", "RunResult", "Steering"]

# What GanApp.run() returns: None (quit), ("restart", preset_name), INTERRUPTED (ctrl+c: saved
# and stopped as q does; the CLI exits with 130 for it) or DETACHED (b: the run goes on training; the
# local dashboard hands it to a background process, as after a hang-up).
RunResult = tuple[str, str] | None
INTERRUPTED: RunResult = ("interrupted", "")
DETACHED: RunResult = ("detached", "")
QUIT_TIMEOUT_S = 10.0  # how long q waits for the trainer's final checkpoint before leaving anyway


class Steering:
    """Actions that send commands (``self`` is the app)."""

    def send_command(self: GanApp, command: Command) -> None:
        """Queue ``command`` for the trainer; the display changes only when the trainer reports back."""
        if isinstance(command, ChangeK):
            self.k_in_flight += command.delta
        self.controller.send(command)

    def _state(self: GanApp) -> RunState | None:
        if self.run_state is None:
            self.notify("waiting for the trainer to report its state", severity="warning")
        return self.run_state

    def action_pause(self: GanApp) -> None:
        if (state := self._state()) is None:
            return
        if state.status == "finished":
            self.notify("the run has finished: q quits", severity="warning")
            return
        self.send_command(TogglePause())

    def action_resume(self: GanApp) -> None:
        self.action_pause()

    def action_pause_or_resume(self: GanApp) -> None:
        self.action_pause()

    def action_step(self: GanApp, kind: str) -> None:
        if (state := self._state()) is None:
            return
        if state.status != "paused":
            self.notify("stepping works while paused: press space first", severity="warning")
            return
        self.send_command(Step(kind))  # type: ignore[arg-type]

    def action_k(self: GanApp, delta: int) -> None:
        """k ± 1. Below 1 is refused here only when no other k change is on its way to the trainer."""
        if (state := self._state()) is None:
            return
        if state.k + self.k_in_flight + delta < 1:
            self.notify("k is already 1: at least one D-step per G-step", severity="warning")
            return
        self.send_command(ChangeK(delta))

    def action_lr(self: GanApp, player: str, factor: float) -> None:
        if self._state() is not None:
            self.send_command(ScaleLR(player, factor))  # type: ignore[arg-type]

    def action_freeze(self: GanApp, player: str) -> None:
        if self._state() is not None:
            self.send_command(ToggleFreeze(player))  # type: ignore[arg-type]

    def action_probe(self: GanApp) -> None:
        self.send_command(Probe())

    def action_evaluate(self: GanApp) -> None:
        self.send_command(Evaluate())

    def action_save_checkpoint(self: GanApp) -> None:
        self.send_command(SaveCheckpoint())

    def action_rollback(self: GanApp) -> None:
        self.send_command(Rollback())

    def action_pick_loss(self: GanApp) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.send_command(SetLoss(name))

        self.push_screen(LossPicker(self.losses, self.current_loss()), chosen)

    def action_save_preset(self: GanApp) -> None:
        """Ask for a name; a name that is taken (a bundled preset above all) is confirmed first."""

        def save(name: str | None) -> None:
            if not name:
                return
            shown = printable(name)
            if name in self.bundled_presets:
                question = (f"'{shown}' is a bundled preset. Save yours under the same name? From now on "
                            f"--preset {shown} finds yours, not the bundled one.")
            elif name in self.presets:
                question = f"A preset '{shown}' exists already. Replace it?"
            else:
                self.send_command(SavePreset(name))
                return
            self.push_screen(ConfirmDialog(question), lambda yes: yes and self.send_command(SavePreset(name)))

        self.push_screen(PresetNameDialog(), save)

    def ask_restart(self: GanApp, preset: str) -> None:
        """From the palette: confirm, then end this run and return ``("restart", preset)`` from run()."""
        if self.controller.quit_detaches:  # a viewer cannot start a run in the run's process
            self.notify(f"start preset '{printable(preset)}' from its own gantui; here q detaches",
                        severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._result = ("restart", preset)
                self.action_quit()

        self.push_screen(ConfirmDialog(f"End this run (saving a checkpoint) and start preset "
                                       f"'{printable(preset)}'?"), answered)

    # ---------------------------------------------------------------- quitting
    def _send_stop(self: GanApp) -> None:
        self._stop_sent = True
        self.send_command(Stop(save=True))

    def action_quit(self: GanApp) -> None:  # type: ignore[override]
        """First q: stop with a final checkpoint and wait for Finished; q again (or no trainer): exit now.

        Where the controller says q detaches (an attached viewer), q leaves the run training instead.
        """
        if self.controller.quit_detaches:
            self.action_detach()
            return
        if self._quitting or self._finished:
            self.exit(self._result)
            return
        self._quitting = True
        self._send_stop()
        self.event_log.note("saving final checkpoint…")
        self._show_state()
        self.set_timer(QUIT_TIMEOUT_S, self.quit_timed_out)

    def action_leave(self: GanApp) -> None:
        """q where it detaches (the binding whose footer label says "Detach")."""
        self.action_quit()

    def action_close(self: GanApp) -> None:
        """The palette's quit: what q means here (check_action disables "quit" where q detaches)."""
        self.action_quit()

    def action_detach(self: GanApp) -> None:
        """b: leave the run training and return DETACHED from run() once the controller let it go.

        A local run saves its final checkpoint first (the CLI's background process resumes from it);
        a viewer just says goodbye. A second press (or b during q) leaves at once.
        """
        if self._quitting:
            self.exit(self._result)
            return
        if not self.controller.can_detach or (self._finished and not self.controller.quit_detaches):
            self.notify("nothing to detach here: q quits", severity="warning")
            return
        if self._finished:  # a viewer of a run that has ended: nothing left to leave behind
            self.exit(DETACHED)
            return
        self._quitting = self._detaching = True
        self._result = DETACHED
        self.controller.detach()
        self.event_log.note("detaching: the run goes on training…")
        self._show_state()
        self.set_timer(QUIT_TIMEOUT_S, self.quit_timed_out)

    def action_stop_run(self: GanApp) -> None:
        """K in a viewer: stop the run itself (a final checkpoint), after a confirmation."""
        if not self.controller.quit_detaches:  # here q stops the run (check_action hides K)
            self.action_quit()
            return
        if self._finished or self._quitting:
            self.notify("the run has ended or this viewer is leaving", severity="warning")
            return
        step = self.run_state.step if self.run_state else self.clock.step

        def answered(yes: bool | None) -> None:
            if yes and not (self._finished or self._quitting):
                self._quitting = True
                self._send_stop()
                self.event_log.note("stopping the run: saving final checkpoint…")
                self._show_state()
                self.set_timer(QUIT_TIMEOUT_S, self.quit_timed_out)

        question = f"Stop the run at step {step:,} and save a final checkpoint?"
        self.push_screen(ConfirmDialog(question), answered)

    def action_interrupt(self: GanApp) -> None:
        """ctrl+c: quit as q does (final checkpoint, then exit); run() then returns INTERRUPTED."""
        self.interrupted = True
        self._result = INTERRUPTED
        self.action_quit()

    def quit_timed_out(self: GanApp) -> None:
        """The trainer did not report Finished in time: leave anyway, and say so."""
        if not self.is_running or self._finished:
            return
        self.exit(self._result, message=f"gantui: the trainer did not finish within {QUIT_TIMEOUT_S:.0f} s "
                                        "of the stop request; the final checkpoint may be missing.")
