"""The runner: one trainer on one background thread, steered by commands, reporting by events.

Commands arrive on a queue and are applied between iterations; every applied command is answered
with a ``StateChanged``. Metrics are read out once per logging window and sent in batches at most
a few times a second, so the watcher's cost does not grow with the training speed. Failures pause
the run instead of killing it: an exception or a non-finite value restores the state of the last
good read-out, reports what happened, and waits for the user.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantui.config import Config
from gantui.engine import checkpoint as ckpt
from gantui.engine.good_state import GoodState
from gantui.engine.observe import Observer
from gantui.engine.probe import probe_trainer
from gantui.engine.runfolder import RunFolder
from gantui.engine.session import Session
from gantui.protocol import (
    METRIC_NAMES,
    Command,
    Event,
    Failure,
    Finished,
    Freeze,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    Pause,
    Probe,
    Resume,
    Rollback,
    RunState,
    SaveCheckpoint,
    SavePreset,
    SetK,
    SetLoss,
    SetLR,
    StateChanged,
    Step,
    Stop,
    frozen_array,
)

EMIT_INTERVAL = 0.25  # seconds between metric batches sent to the sink
STOP_POLL = 0.1  # how often a paused runner wakes to check for a stop
SAMPLES_BUDGET = 0.05  # at most this share of training time goes to the display's sample grids


class Runner:
    """Drives a :class:`Session` on a thread. ``start(sink)``, ``send(command)``, ``join(timeout)``."""

    def __init__(self, session: Session, *, exit_when_done: bool) -> None:
        self.session = session
        self.trainer = session.trainer
        self.cfg: Config = session.config
        self.folder: RunFolder | None = session.folder
        self.exit_when_done = exit_when_done
        self.observer = Observer(self.trainer, session.toy)
        self.history: list[dict[str, Any]] = list(session.history)
        self._commands: queue.Queue[tuple[Command, str]] = queue.Queue()
        self._origin = ""  # who sent the command being applied (see send)
        self._sink: Callable[[Event], None] = lambda e: None
        self._thread: threading.Thread | None = None
        self.status = "running"
        self._stop: Stop | None = None
        self._pending: list[list[float]] = []
        self._last_emit = 0.0
        self._samples_due = -math.inf  # monotonic time of the next sample grid for the display
        self._t0 = time.monotonic() - session.elapsed
        self._rate_ref = (self.trainer.step, time.monotonic())
        self.good = GoodState()
        self._probe_requested = False
        self._graph_status = ""
        self.last_checkpoint = session.checkpoint_path
        self.exit_reason = ""

    # ------------------------------------------------------------------------- public API
    def start(self, sink: Callable[[Event], None]) -> None:
        self._sink = sink
        self._thread = threading.Thread(target=self._main, name="gantui-trainer", daemon=False)
        self._thread.start()

    def send(self, command: Command, *, origin: str = "") -> None:
        """Queue ``command``; ``origin`` names who sent it ("" for the local dashboard or CLI), and is
        recorded with every intervention it causes."""
        self._commands.put((command, origin))

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    # ------------------------------------------------------------------------- the loop
    def _main(self) -> None:
        try:
            self._emit_state("started")
            if self.session.resumed_rows is not None:
                self._emit(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(self.session.resumed_rows)))
            self._send_samples(png=self.trainer.step == 0 and self.cfg.log.png_every > 0)
            self.good.remember(self.trainer)
            while self._stop is None:
                self._apply_commands(block=self.status != "running")
                if self._stop is None and self.status == "running":
                    self._guarded(self._advance)
                self._flush_if_due()
            self._finish(self._stop.save if self._stop else True, reason=self.exit_reason or "stopped")
        except BaseException as exc:  # the last line of defence: never die silently
            self._emit(Failure(step=self.trainer.step, message=f"trainer thread crashed: {exc!r}",
                               detail=traceback.format_exc()))
            self._emit(Finished(step=self.trainer.step, reason="failed"))

    def _advance(self) -> None:
        t = self.trainer
        t.iteration()
        every = self.cfg.log.every
        if t.step % every == 0:
            self._readout()
            if self.status != "running":  # the read-out found a blow-up and restored a good state
                return
        if self.folder and self.cfg.log.checkpoint_every and t.step % self.cfg.log.checkpoint_every == 0:
            self._checkpoint("periodic")
        if self.cfg.train.steps and t.step >= self.cfg.train.steps and self.status == "running":
            self._readout_pending()
            self._note("info", f"reached train.steps = {self.cfg.train.steps}")
            if self.exit_when_done:
                self.exit_reason = "steps"
                self._stop = Stop(save=True)
            else:
                self._checkpoint("final")
                self._set_status("paused", "finished: reached train.steps")
        png = self.cfg.log.png_every
        png_due = bool(self.folder and png and t.step % png == 0)
        if png_due or time.monotonic() >= self._samples_due:
            self._send_samples(png=png_due)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a training action; turn any exception into a paused, reported failure."""
        try:
            action()
        except torch.OutOfMemoryError:
            b = self.cfg.train.batch_size
            self._fail(f"CUDA out of memory at batch size {b}: try --set train.batch_size={max(1, b // 2)}",
                       traceback.format_exc())
        except Exception as exc:
            self._fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    # ---------------------------------------------------------------------------- metrics
    def _readout(self, *, measure_rate: bool = True) -> None:
        t = self.trainer
        row = t.readout()
        if row.pop("finite") == 0.0:
            bad = [n for n in ("loss_d", "loss_g") if not math.isfinite(row.get(n, 0.0))]
            what = " and ".join(bad) if bad else "a parameter"
            good = self.good.step
            self._fail(f"{what} became non-finite (NaN or inf) between steps {good + 1} and {t.step}; "
                       f"restored step {good}. Lower a learning rate or switch the loss, then resume, "
                       "or roll back to the last checkpoint")
            return
        self.good.remember(self.trainer)
        now = time.monotonic()
        step0, t0 = self._rate_ref
        if measure_rate and now > t0 and t.step > step0:
            row["steps_per_sec"] = (t.step - step0) / (now - t0)
        self._rate_ref = (t.step, now)
        if self.observer.is_toy and t.step % self.cfg.log.toy_metrics_every == 0:
            row.update(self.observer.toy_metrics())
        probe_every = self.cfg.log.probe_every
        if self._probe_requested or (self.observer.is_toy and probe_every and t.step % probe_every == 0):
            row["jsd_probe"] = self._probe()
        self._queue_row(row)
        self._report_graph_status()

    def _report_graph_status(self) -> None:
        """On CUDA, say once whether iterations replay a CUDA graph (and why not, if not)."""
        status = self.trainer.graph_status
        if self.trainer.device.type == "cuda" and status != self._graph_status:
            self._graph_status = status
            self._note("info", f"CUDA graph: {status}")

    def _readout_pending(self) -> None:
        """Read out a partial window (at the end of a run), if any step happened since the last."""
        if self.trainer.has_pending_readout:
            self._readout()

    def _queue_row(self, row: dict[str, float]) -> None:
        row.update(step=float(self.trainer.step), t=self.elapsed, k=float(self.trainer.knobs.k))
        self._pending.append([row.get(name, math.nan) for name in METRIC_NAMES])

    def _probe(self) -> float:
        requested, self._probe_requested = self._probe_requested, False
        value = probe_trainer(self.trainer, steps=self.cfg.log.probe_steps)
        self._intervention("probe", f"jsd_probe = {value:.4f} nats", marker=requested)
        return value

    def _flush_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._pending or (not force and now - self._last_emit < EMIT_INTERVAL):
            return
        values = np.asarray(self._pending, dtype=np.float64)
        self._pending = []
        self._last_emit = now
        batch = MetricsBatch(columns=METRIC_NAMES, values=frozen_array(values))
        if self.folder:
            self._io("metrics.jsonl", lambda: self.folder.append_metrics(batch.rows()))
        self._emit(batch)

    def _send_samples(self, *, png: bool = False) -> None:
        """Send the current samples to the sink; with ``png``, also save them in the run folder.

        The next grid is due after ``log.samples_every_s``, or later if making this one took more than
        SAMPLES_BUDGET of that time: 64 images through a DCGAN on a CPU took a fifth of training.
        """
        start = time.monotonic()
        event = self.observer.samples()
        cost = time.monotonic() - start
        self._samples_due = start + max(self.cfg.log.samples_every_s, cost / SAMPLES_BUDGET)
        self._emit(event)
        step = self.trainer.step
        if png and self.folder:
            if isinstance(event, ImageSamples):
                self._io("a sample PNG", lambda: self.folder.write_image_grid(step, event.fake))
            else:
                self._io("a sample PNG", lambda: self.folder.write_toy_scatter(
                    step, event.real, event.fake, event.d_surface, event.extent))

    # ------------------------------------------------------------------------- commands
    def _apply_commands(self, *, block: bool) -> None:
        while True:
            try:
                command, self._origin = (self._commands.get(timeout=STOP_POLL) if block
                                         else self._commands.get_nowait())
            except queue.Empty:
                return
            block = False
            self._guarded(lambda c=command: self._apply_checked(c))
            self._origin = ""
            if self._stop is not None:
                return

    def _apply_checked(self, c: Command) -> None:
        """Apply one command; a command with a bad value is refused with a warning, not a failure."""
        if not isinstance(c, Command):
            self._note("warning", f"ignored {type(c).__name__}: not a gantui command")
            return
        try:
            if isinstance(c, SetK) and (not isinstance(c.k, int) or isinstance(c.k, bool)):
                raise ValueError(f"k = {c.k!r}: expected an integer from 1 to 100")
            if isinstance(c, (SetLR, Freeze)) and c.player not in ("d", "g"):
                raise ValueError(f"player {c.player!r}: expected 'd' or 'g'")
            self._apply(c)
        except (ValueError, KeyError, TypeError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            self._note("warning", f"{type(c).__name__} refused: {reason}")
            self._emit_state(f"{type(c).__name__} refused")

    def _apply(self, c: Command) -> None:
        t = self.trainer
        if isinstance(c, Pause):
            self._set_status("paused", "paused")
            self._intervention("pause", "paused")
        elif isinstance(c, Resume):
            self._rate_ref = (t.step, time.monotonic())
            self._set_status("running", "resumed")
            self._intervention("resume", "resumed")
        elif isinstance(c, Step):
            if self.status == "running":
                self._note("warning", "step: pause first (space)")
                return
            {"iteration": t.iteration, "d": t.d_step, "g": t.g_step}[c.kind]()
            self._readout(measure_rate=False)
            self._send_samples()
            self._flush_if_due(force=True)
            self._emit_state(f"one {'iteration' if c.kind == 'iteration' else c.kind.upper() + '-step'}")
        elif isinstance(c, SetK):
            t.set_k(c.k)
            self._intervention("k", f"k = {c.k}")
            self._emit_state(f"k = {c.k}")
        elif isinstance(c, SetLoss):
            t.set_loss(c.name, reset_optimizers=c.reset_optimizers or self.cfg.loss.reset_optim_on_switch)
            self._intervention("loss", f"loss = {c.name}")
            self._emit_state(f"loss = {c.name}")
        elif isinstance(c, SetLR):
            t.set_lr(c.player, c.lr)
            self._intervention(f"lr_{c.player}", f"lr_{c.player} = {c.lr:.3g}")
            self._emit_state(f"lr_{c.player} = {c.lr:.3g}")
        elif isinstance(c, Freeze):
            t.freeze(c.player, c.frozen)
            word = "frozen" if c.frozen else "unfrozen"
            self._intervention("freeze", f"{c.player.upper()} {word}")
            self._emit_state(f"{c.player.upper()} {word}")
        elif isinstance(c, SaveCheckpoint):
            self._checkpoint(c.tag)
        elif isinstance(c, Rollback):
            self._rollback()
        elif isinstance(c, Probe):
            self._probe_requested = True
            if self.status != "running":
                self._queue_row({"jsd_probe": self._probe()})
                self._flush_if_due(force=True)
        elif isinstance(c, SavePreset):
            path = self.session.save_preset(c.name, t.knobs)
            self._note("info", f"preset '{c.name}' saved to {path}")
        elif isinstance(c, Stop):
            self._stop = c

    # ------------------------------------------------------------------------ failures
    def _fail(self, message: str, detail: str = "") -> None:
        """Pause at the last good state and report; the run can be resumed or rolled back."""
        self.good.restore(self.trainer)
        self._set_status("failed", message, emit=False)
        self._flush_if_due(force=True)
        self._intervention("failure", message)
        self._emit(Failure(step=self.trainer.step, message=message, detail=detail,
                           checkpoint=str(self.last_checkpoint or "")))
        self._emit_state("failed")

    def _rollback(self) -> None:
        path = self.last_checkpoint
        if path is None or not Path(path).exists():
            self._note("warning", "rollback: this run has no checkpoint yet")
            return
        try:
            state = ckpt.load(path)
            ckpt.restore(self.trainer, state, path=path)
        except ckpt.CheckpointError as exc:
            self._note("warning", f"rollback failed: {exc}")
            return
        self.good.remember(self.trainer)
        self._intervention("rollback", f"rolled back to step {self.trainer.step} ({Path(path).name})")
        self._set_status("paused", f"rolled back to step {self.trainer.step}")
        self._send_samples()

    # --------------------------------------------------------------------- checkpoints
    def _checkpoint(self, tag: str) -> Path | None:
        if self.folder is None:
            return None
        path = self.folder.checkpoint_path(tag, self.trainer.step)
        state = ckpt.capture(self.trainer, config=self.cfg.as_dict(),
                             history=self.history) | {"elapsed": self.elapsed,
                                                                "preset": self.cfg.preset}
        if not self._io(f"checkpoint {path.name}", lambda: ckpt.save(path, state)):
            return None
        if tag == "periodic":
            self._io("old checkpoints", self.folder.prune_periodic)
        self.last_checkpoint = path
        self._intervention("checkpoint", f"saved {path}", marker=tag == "manual")
        return path

    def _io(self, what: str, write: Callable[[], object]) -> bool:
        """Write to the run folder; on a full disk or a permission error, report and pause."""
        try:
            write()
            return True
        except OSError as exc:
            self._note("warning", f"cannot write {what}: {exc.strerror or exc}; training paused")
            if self.status == "running":
                self._set_status("paused", "paused: run folder not writable")
            return False

    def _finish(self, save: bool, *, reason: str) -> None:
        self._guarded(self._readout_pending)
        self._flush_if_due(force=True)
        if save:  # after a failure the trainer holds the last good state: save that
            self._checkpoint("final" if self.status != "failed" else "last-good")
        self.status = "finished"
        self._emit_state(reason)
        last = str(self.last_checkpoint or "")
        self._emit(Finished(step=self.trainer.step, reason=reason, checkpoint=last))

    # -------------------------------------------------------------------------- events
    def _emit(self, event: Event) -> None:
        with contextlib.suppress(Exception):  # a broken watcher must not stop training
            self._sink(event)

    def _note(self, level: str, message: str) -> None:
        self._emit(Notice(step=self.trainer.step, level=level, message=message))

    def _intervention(self, kind: str, detail: str, *, marker: bool = True) -> None:
        """Record ``kind`` in events.jsonl and the checkpoint history, and tell the watcher.

        What the user did becomes an Intervention (a marker on every plot); what the runner does
        on its own schedule (periodic probes and checkpoints) is only a line in the log.
        """
        step, t = self.trainer.step, self.elapsed
        record = {"step": step, "t": round(t, 3), "kind": kind, "detail": detail}
        if self._origin:
            record["by"] = self._origin
        self.history.append(record)
        if self.folder:
            self._io("events.jsonl", lambda: self.folder.append_event(record))
        if marker:
            self._emit(Intervention(step=step, t=t, kind=kind, detail=detail, origin=self._origin))
        else:
            self._note("info", detail)

    def _set_status(self, status: str, reason: str, *, emit: bool = True) -> None:
        self.status = status
        if emit:
            self._emit_state(reason)

    def state(self) -> RunState:
        t, s = self.trainer, self.session
        return RunState(
            status=self.status, step=t.step, d_steps=t.d_steps, g_steps=t.g_steps, k=t.knobs.k,
            loss=t.knobs.loss, loss_description=t.loss.description, lr_d=t.knobs.lr_d, lr_g=t.knobs.lr_g,
            frozen_d=t.knobs.frozen_d, frozen_g=t.knobs.frozen_g, preset=self.cfg.preset,
            dataset=self.cfg.data.name, device=str(t.device), is_toy=self.observer.is_toy,
            run_dir=str(self.folder.path) if self.folder else "", memory=s.memory(), critic=t.loss.critic,
        )

    def _emit_state(self, reason: str) -> None:
        self._flush_if_due(force=True)
        self._emit(StateChanged(state=self.state(), reason=reason))
