"""What a runner keeps of its run: checkpoints, a rescue when the folder fails, rollbacks, and the
history a watcher is shown after a resume or a rollback.

A checkpoint is only ever written from a finite state (a state that is not fails the run instead,
which restores the last good one). A rollback goes back to the newest checkpoint and makes the files
and the watchers forget what came after it: the logs are cut at its step, later checkpoints are set
aside, and the kept history is sent again after a ``HistoryReset``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantui.engine import checkpoint as ckpt
from gantui.engine.distributed.resume import world_change
from gantui.engine.health import nonfinite_in_state
from gantui.engine.recorder import rescue_dirs
from gantui.engine.session import rows_array
from gantui.protocol import METRIC_NAMES, HistoryReset, Intervention, MetricsBatch, frozen_array
from gantui.protocol.records import alert_from_record
from gantui.text import printable

if TYPE_CHECKING:
    from gantui.engine.runner import Runner

__all__ = ["RunKeeper"]


class RunKeeper:
    """Checkpoints, rescue, rollback and history replay for one runner."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.last_checkpoint: Path | None = runner.session.checkpoint_path
        self.rescued = ""  # where a final checkpoint went when the run folder could not take it

    # --------------------------------------------------------------------- checkpoints
    def capture(self) -> dict[str, Any]:
        r = self.runner
        state = ckpt.capture(r.trainer, config=r.cfg.as_dict(), history=r.history) | {
            "elapsed": r.elapsed, "preset": r.cfg.preset}
        if r.trainer.ranks is not None:
            r.trainer.ranks.checkpoint(state)  # every rank's random streams
        return state

    def checkpoint(self, tag: str) -> Path | None:
        """Save a checkpoint; a state that is not finite is never saved (it fails the run instead)."""
        r = self.runner
        if r.folder is None:
            if tag == "manual":
                r.note("warning", "this run writes no run folder: nothing to save")
            return None
        state = self.capture()
        bad = nonfinite_in_state(state)
        if bad is not None:
            good = r.good.step
            r.fail(f"{bad} became non-finite (NaN or inf) after step {good:,}; restored step {good:,} "
                   "and saved nothing. Lower a learning rate or switch the loss, then resume")
            return None
        folder = r.folder
        path = folder.checkpoint_path(tag, r.trainer.step)
        if not r.recorder.write(f"checkpoint {path.name}", lambda: ckpt.save(path, state)):
            r.write_failed()
            return None
        if tag == "periodic":
            r.recorder.write("old checkpoints", folder.prune_periodic)
        self.last_checkpoint = path
        r.intervention("checkpoint", f"saved {path}", label="save", marker=tag == "manual")
        return path

    def save_final(self, tag: str) -> None:
        """The run ends: save its state as ``tag``, as last-good if it was not finite, or rescue it."""
        r = self.runner
        path = self.checkpoint(tag) if not r.recorder.failing else None
        if path is None and r.status == "failed" and not r.recorder.failing:
            path = self.checkpoint("last-good")  # the state was not finite: the good one now is
            tag = "last-good"
        if path is None and r.recorder.failing:
            self.rescue(tag)

    def rescue(self, tag: str) -> Path | None:
        """The run folder cannot be written: save the final state wherever it can be."""
        r = self.runner
        state = self.capture()
        name = ckpt.checkpoint_name(tag, r.trainer.step)
        for folder in rescue_dirs(r.folder.path if r.folder else Path("run")):
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                path = ckpt.save(folder / name, state)
                self.rescued = str(path)
                r.note("warning", f"the run folder cannot be written: checkpoint saved to {printable(path)}")
                return path
        r.note("warning", "the checkpoint could not be saved anywhere (run folder, temp dir, home)")
        return None

    # ------------------------------------------------------------------ history, rollback
    def announce_start(self) -> None:
        """What the session has to say, and for a resumed run its history and what the resume changed."""
        r = self.runner
        s = r.session
        for note in s.notes:
            r.note("warning" if "cannot" in note else "info", note)
        if s.resumed_from is None:
            return
        self.replay_history()
        name = printable(s.checkpoint_path.name if s.checkpoint_path else "")
        r.intervention("resume", f"resumed from {name} at step {s.resumed_from:,}", label="resumed")
        world = r.trainer.ranks.world if r.trainer.ranks is not None else 1
        if s.resumed_world != world:
            r.intervention("config", world_change(s.resumed_world, world, r.cfg.train.batch_size),
                           label=f"ranks {world}")
        kinds = {"train.k": "k", "loss.name": "loss", "train.lr_d": "lr_d", "train.lr_g": "lr_g",
                 "train.freeze_d": "freeze", "train.freeze_g": "freeze"}
        for key, before, after in s.resume_changes:
            r.intervention(kinds.get(key, "config"), f"{key} {before} → {after} (set on resume)",
                           label=f"{key.split('.')[-1]} {after}")

    def replay_history(self) -> None:
        """Send the run's history so far: its metric rows and its markers (a resume, a rollback)."""
        r = self.runner
        rows = r.session.resumed_rows if r.folder is None else rows_array(r.folder.read_metrics().rows)
        if rows is not None and len(rows):
            r.emit(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(rows)))
        for record in r.history:
            alert = alert_from_record(record)
            if alert is not None:
                r.emit(alert)
            elif record.get("label"):
                r.emit(Intervention(step=int(record["step"]), t=float(record.get("t", 0.0)),
                                    kind=str(record.get("kind", "")), detail=str(record.get("detail", "")),
                                    label=str(record["label"]), origin=str(record.get("by", ""))))
        r.doctor.adopt_history(r.history)

    def rollback(self) -> None:
        r = self.runner
        files = r.folder.checkpoints() if r.folder else []
        if not files:
            r.note("warning", "rollback: this run has no checkpoint yet")
            r.emit_state("no checkpoint")
            return
        path = files[-1].path
        before = r.trainer.step
        try:
            state = ckpt.load(path)
            ckpt.restore(r.trainer, state, path=path)
        except ckpt.CheckpointError as exc:
            r.note("warning", f"rollback failed: {exc}")
            r.emit_state("rollback failed")
            return
        if r.trainer.ranks is not None:
            r.trainer.ranks.loaded(state)  # the other ranks take the same state
        step, folder = r.trainer.step, r.folder
        assert folder is not None
        r.forget_after(step)
        r.recorder.write("the logs", lambda: folder.truncate_after(step))
        r.recorder.write("checkpoints", lambda: folder.set_aside_checkpoints_after(step))
        r.good.remember(r.trainer)
        r.emit(HistoryReset(step=step, reason=f"rolled back from step {before:,}"))
        self.replay_history()
        r.intervention("rollback", f"rolled back from step {before:,} to {step:,} ({path.name}); "
                                   "what came after it is discarded", label="rollback")
        self.last_checkpoint = path
        r.steering.knobs_changed(f"rolled back to step {step:,}")
        r.set_status("paused", f"rolled back to step {step:,}")
        r.send_samples()
