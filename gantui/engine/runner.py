"""The runner: one trainer on one background thread, steered by commands, reporting by events.

Commands arrive on a queue and are applied between iterations (:mod:`gantui.engine.steering`); every
applied command is answered with a ``StateChanged``. Metrics are read out once per logging window and
sent in batches at most a few times a second, so the watcher's cost does not grow with the training
speed. Failures pause the run instead of killing it: a non-finite value anywhere in the state restores
the last good one (:mod:`gantui.engine.good_state`), names what blew up, and waits for the user. A
write that fails pauses the run until writing works again (:mod:`gantui.engine.recorder`). Probes run
as a background job on a copy of G, a slice at a time, so they never stall the run or the dashboard.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gantui.config import Config
from gantui.engine import checkpoint as ckpt
from gantui.engine.cadence import Cadence
from gantui.engine.doctor_slot import DoctorSlot
from gantui.engine.good_state import GoodState
from gantui.engine.health import nonfinite_summary
from gantui.engine.host import HostProbe
from gantui.engine.keeper import RunKeeper
from gantui.engine.losses import describe
from gantui.engine.observe import Observer
from gantui.engine.probe_slot import ProbeSlot
from gantui.engine.quality_slot import QualitySlot
from gantui.engine.recorder import Recorder
from gantui.engine.session import Session
from gantui.engine.steering import Steering
from gantui.protocol import (
    METRIC_NAMES,
    Command,
    Event,
    Failure,
    Finished,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    RunState,
    StateChanged,
    Stop,
    frozen_array,
)
from gantui.text import printable

EMIT_INTERVAL = 0.25  # seconds between metric batches sent to the sink
STOP_POLL = 0.1  # how often a paused runner wakes to check for a stop
SAMPLES_BUDGET = 0.05  # at most this share of training time goes to the display's sample grids
HOST_EVERY_S = 2.0  # seconds between HostStats (the header's clock and machine line)
TOY_METRICS_BUDGET = 0.05  # of the run's time, at most, for jsd_true / modes on 2-D data
MIN_WINDOW_S = 0.05  # on CUDA, a read-out window lasts at least this long (else it is merged on)


class Runner:
    """Drives a :class:`Session` on a thread. ``start(sink)``, ``send(command)``, ``join(timeout)``."""

    def __init__(self, session: Session, *, exit_when_done: bool) -> None:
        self.session = session
        self.trainer = session.trainer
        self.cfg: Config = session.config
        self.folder = session.folder
        self.exit_when_done = exit_when_done
        self.observer = Observer(self.trainer, session.toy)
        self.history: list[dict[str, Any]] = list(session.history)
        self.recorder = Recorder(self.folder)
        self.steering = Steering(self)
        self.good = GoodState()
        self.host = HostProbe(self.trainer.device)
        self._commands: queue.Queue[tuple[Command, str]] = queue.Queue()
        self._origin = ""  # who sent the command being applied (see send)
        self._sink: Callable[[Event], None] = lambda e: None
        self._thread: threading.Thread | None = None
        self.status = "running"
        self._paused_by_disk = False
        self.stop_request: Stop | None = None
        self._pending: list[dict[str, Any]] = []
        self._last_row: dict[str, Any] | None = None
        self._last_emit = 0.0
        self._samples_due = -math.inf  # monotonic time of the next sample grid for the display
        self._host_due = 0.0
        self._t0 = time.monotonic() - session.elapsed
        self._rate_ref = (self.trainer.step, time.monotonic())
        self.keeper = RunKeeper(self)
        self.probe = ProbeSlot(self)
        self.quality = QualitySlot(self)
        self.doctor = DoctorSlot(self)
        self._graph_status = ""
        step = self.trainer.step
        # Files come every N iterations, as the user set; the toy metrics (and probes, in their slot) also
        # keep within a share of the time, so that their cost does not grow with the training speed.
        self._next = {"png": _after(step, self.cfg.log.png_every),
                      "checkpoint": _after(step, self.cfg.log.checkpoint_every)}
        self.toy_cadence = Cadence(self.cfg.log.toy_metrics_every if self.observer.is_toy else 0,
                                   budget=TOY_METRICS_BUDGET)
        self.toy_cadence.start_at(step)
        self._windows: dict[int, tuple[dict[str, float], int, int]] = {}  # closed, not yet read out
        self._window_closed = 0.0  # monotonic time the last window closed
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

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    # ------------------------------------------------------------------------- the loop
    def _main(self) -> None:
        ranks = self.trainer.ranks  # data parallelism: rank 0 keeps the other ranks in step (else None)
        try:
            if self.trainer.device.type == "cuda":
                torch.cuda.set_device(self.trainer.device)
            self.emit_state("started")
            self.keeper.announce_start()
            self.send_samples(png=self.trainer.step == 0 and self.cfg.log.png_every > 0)
            self.good.remember(self.trainer)  # before the first good read-out, the initial state is good
            while self.stop_request is None:
                if ranks is not None:
                    ranks.boundary(self)
                idle = self.status != "running" and not self.probe.busy and not self.quality.busy
                self._apply_commands(block=idle)
                if self.stop_request is None and self.status == "running":
                    self._guarded(self._advance)
                self.probe.run()
                self.quality.run()
                self._retry_writes()
                self._host_stats_if_due()
                self.flush()
            save = self.stop_request.save if self.stop_request else True
            self._finish(save, reason=self.exit_reason or "stopped")
        except BaseException as exc:  # the last line of defence: never die silently
            self.emit(Failure(step=self.trainer.step, message=f"trainer thread crashed: {exc!r}",
                              detail=traceback.format_exc()))
            self.emit(Finished(step=self.trainer.step, reason="failed"))
        finally:
            if ranks is not None:
                ranks.close()

    def _advance(self) -> None:
        t, log = self.trainer, self.cfg.log
        t.iteration()
        if t.step % log.every == 0 and self._window_may_close() and not self.readout(wait=False):
            return  # a read-out found a blow-up and restored a good state
        if t.pending_readouts and not self.take_windows(wait=False):
            return
        if self.folder and log.checkpoint_every and t.step >= self._next["checkpoint"]:
            self._next["checkpoint"] = _after(t.step, log.checkpoint_every)
            self.keeper.checkpoint("periodic")
            if self.status != "running":
                return
        if self.cfg.train.steps and t.step >= self.cfg.train.steps:
            self._reach_the_end()
        self.quality.maybe_start()
        png_due = bool(self.folder and log.png_every and t.step >= self._next["png"])
        if png_due:
            self._next["png"] = _after(t.step, log.png_every)
        if png_due or time.monotonic() >= self._samples_due:
            self.send_samples(png=png_due)

    def _reach_the_end(self) -> None:
        self._readout_pending()
        if self.status != "running":
            return
        self.note("info", f"reached train.steps = {self.cfg.train.steps:,}")
        if self.exit_when_done:
            self.exit_reason = "steps"
            self.stop_request = Stop(save=True)
        else:
            self.keeper.checkpoint("final")
            self.set_status("finished", "finished: reached train.steps")

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a training action; turn any exception into a paused, reported failure."""
        try:
            action()
        except torch.OutOfMemoryError:
            b = self.cfg.train.batch_size
            self.fail(f"CUDA out of memory at batch size {b}: try --set train.batch_size={max(1, b // 2)}",
                      traceback.format_exc())
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {printable(exc)}", traceback.format_exc())

    # ---------------------------------------------------------------------------- metrics
    def _window_may_close(self) -> bool:
        """On CUDA (read-outs arrive later) a window lasts at least MIN_WINDOW_S: at graph speed, log.every
        iterations are milliseconds. Elsewhere every log.every iterations, as configured."""
        if self.trainer.device.type != "cuda":
            return True
        now = time.monotonic()
        if now - self._window_closed < MIN_WINDOW_S:
            return False
        self._window_closed = now
        return True

    def readout(self, *, measure_rate: bool = True, wait: bool = True) -> bool:
        """Close the measurement window and take every window read out so far (with ``wait``: all).

        False if one was not finite: the last good state is then restored and the run has failed.
        The toy metrics due now are measured here, on the state the window closes on.
        """
        t = self.trainer
        n_d, n_g = t.window_steps
        extra: dict[str, float] = {}
        if self.toy_cadence.due(t.step, self.elapsed):
            start = time.monotonic()
            extra = self.observer.toy_metrics()
            self.toy_cadence.finished(step=t.step, seconds=time.monotonic() - start)
        self.good.stage(t)
        t.request_readout()
        self._windows[t.step] = (extra, n_d, n_g)
        return self.take_windows(wait=wait, measure_rate=measure_rate)

    def take_windows(self, *, wait: bool, measure_rate: bool = True) -> bool:
        """Take the windows whose values reached the host, oldest first; False at a non-finite one."""
        for window in self.trainer.ready_readouts(wait=wait):
            extra, n_d, n_g = self._windows.pop(window.step, ({}, 1, 1))
            if not self._take(window, extra, n_d, n_g, measure_rate=measure_rate):
                return False
        return True

    def _take(self, window, extra: dict[str, float], n_d: int, n_g: int, *, measure_rate: bool) -> bool:
        row = dict(window.values)
        if row.pop("finite") == 0.0:
            blew_up = self._what_blew_up(row, n_d, n_g)
            good = self.good.step
            self.fail(f"{blew_up} became non-finite (NaN or inf) between steps {good + 1:,} and "
                      f"{window.step:,}; restored step {good:,}. Lower a learning rate or switch the loss, "
                      "then resume, or roll back to the last checkpoint (u)")
            return False
        self.good.commit(window.step)
        step0, t0 = self._rate_ref
        if measure_rate and window.time > t0 and window.step > step0:
            row["steps_per_sec"] = (window.step - step0) / (window.time - t0)
        self._rate_ref = (window.step, window.time)
        row.update(extra)
        self.probe.maybe_start()
        row.update(self.observer.condition_metrics(row, self.note))  # label / info accuracy when due
        self.queue_row(row, step=window.step)
        self._report_graph_status()
        return True

    def _what_blew_up(self, row: dict[str, float], n_d: int, n_g: int) -> str:
        """Which measurement or tensor is NaN or inf, in the GAN's words."""
        tensor = nonfinite_summary(self.trainer.named_live_tensors())
        penalty = self.trainer.loss.penalty is not None
        players = ((("loss_d", "grad_norm_d", "gp"), n_d), (("loss_g", "grad_norm_g"), n_g))
        measured = [name for names, n in players if n for name in names
                    if (name != "gp" or penalty) and not math.isfinite(row.get(name, 0.0))]
        parts = measured[:2] + ([tensor] if tensor else [])
        return ", ".join(parts) or "a measurement"

    def _report_graph_status(self) -> None:
        """On CUDA, say once whether iterations replay a CUDA graph (and why not, if not)."""
        status = self.trainer.graph_status
        if self.trainer.device.type == "cuda" and status != self._graph_status:
            self._graph_status = status
            self.note("info", f"CUDA graph: {status}")

    def _readout_pending(self) -> None:
        """Read out a partial window (at the end of a run), if any step happened since the last."""
        if self.trainer.has_pending_readout:
            self.readout()

    def queue_row(self, row: dict[str, Any], *, step: int | None = None) -> None:
        """Queue a metrics row (at ``step``, by default the current one); a second row at one step (a
        single D- or G-step while paused, a probe's result) is merged into the first, so metrics.jsonl
        keeps one row per step. Windows are taken before any command applies, so k and the loss are
        the ones the row was measured under."""
        t = self.trainer
        step = t.step if step is None else step
        row.update(step=step, t=self.elapsed, k=t.knobs.k, loss=t.knobs.loss)
        row = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        last = self._last_row
        if last is not None and last["step"] == step:
            row = {**last, **row}
            if self._pending and self._pending[-1]["step"] == step:
                self._pending.pop()
        self._pending.append(row)
        self._last_row = row

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._pending and (force or now - self._last_emit >= EMIT_INTERVAL):
            rows, self._pending = self._pending, []
            self._last_emit = now
            self.recorder.add_rows(rows)
            self.emit(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(_as_array(rows))))
            self.doctor.observe(rows)
        if self.recorder.pending and not self.recorder.failing and not self.recorder.flush():
            self.write_failed()

    def send_samples(self, *, png: bool = False) -> None:
        """Send the current samples to the sink; with ``png``, also save them in the run folder.

        The next grid is due after ``log.samples_every_s``, or later if making this one took more than
        SAMPLES_BUDGET of that time: 64 images through a DCGAN on a CPU took a fifth of training.
        """
        start = time.monotonic()
        event = self.observer.samples()
        cost = time.monotonic() - start
        self._samples_due = start + max(self.cfg.log.samples_every_s, cost / SAMPLES_BUDGET)
        self.emit(event)
        if not (png and self.folder) or self.recorder.failing:
            return
        step, folder = self.trainer.step, self.folder
        if isinstance(event, ImageSamples):
            ok = self.recorder.write("a sample PNG", lambda: folder.write_image_grid(step, event.fake,
                                                                                     columns=event.columns))
        else:
            ok = self.recorder.write("a sample PNG", lambda: folder.write_toy_scatter(
                step, event.real, event.fake, event.d_surface, event.extent, score=event.surface == "score"))
        if not ok:
            self.write_failed()

    def _host_stats_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._host_due:
            self._host_due = now + HOST_EVERY_S
            t = self.trainer
            self.emit(self.host.stats(step=t.step, t=self.elapsed, graph=t.graph_status))

    # ------------------------------------------------------------------------- commands
    def _apply_commands(self, *, block: bool) -> None:
        while True:
            try:
                command, self._origin = (self._commands.get(timeout=STOP_POLL) if block
                                         else self._commands.get_nowait())
            except queue.Empty:
                return
            block = False
            if self.trainer.pending_readouts:  # rows first, measured under the settings they had
                self._guarded(lambda: self.take_windows(wait=True))
            self._guarded(lambda c=command: self._apply_checked(c))
            self._origin = ""
            if self.stop_request is not None:
                return

    def _apply_checked(self, c: Command) -> None:
        """Apply one command; a command with a bad value is refused with a warning, not a failure."""
        if not isinstance(c, Command):
            self.note("warning", f"ignored {type(c).__name__}: not a gantui command")
            return
        try:
            self.steering.apply(c)
        except (ValueError, KeyError, TypeError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            self.note("warning", f"{type(c).__name__} refused: {printable(reason)}")
            self.emit_state(f"{type(c).__name__} refused")

    # ------------------------------------------------------------------------ failures
    def fail(self, message: str, detail: str = "") -> None:
        """Pause at the last good state and report; the run can be resumed or rolled back."""
        self.probe.cancel()
        self.quality.cancel()
        self.trainer.ready_readouts(wait=True)  # the windows after the bad one are of the bad branch
        self._windows.clear()
        self.good.restore(self.trainer)
        if self.trainer.ranks is not None:
            self.trainer.ranks.restored()
        self._pending = [r for r in self._pending if r["step"] <= self.trainer.step]
        self._last_row = self._pending[-1] if self._pending else None
        self.set_status("failed", message, emit=False)
        self.flush(force=True)
        self.intervention("failure", message, label="failed")
        self.emit(Failure(step=self.trainer.step, message=message, detail=detail,
                          checkpoint=str(self.keeper.last_checkpoint or "")))
        self.emit_state("failed")

    def write_failed(self) -> None:
        """A write failed: pause (no new rows pile up); retried until it works or, headless, gives up."""
        failing = self.recorder.failing
        if self.status == "running":
            self._paused_by_disk = True
            self.set_status("paused", "paused: run folder not writable")
            how = ("it resumes by itself when writing works again, or press space to retry now"
                   if not self.exit_when_done else
                   f"retrying for up to {self.cfg.log.write_retry_s:g} s before the run stops")
            self.note("warning", f"{failing}; training paused: {how}")

    def _retry_writes(self) -> None:
        rec = self.recorder
        if not rec.failing:
            return
        gave_up = self.exit_when_done and rec.failing_for() > self.cfg.log.write_retry_s
        if gave_up and self.stop_request is None:
            self.note("warning", f"{rec.failing} for {rec.failing_for():.0f} s: stopping the run")
            self.exit_reason = "write-failed"
            self.stop_request = Stop(save=True)
            return
        if rec.retry_due() and rec.flush() and self._paused_by_disk:
            self.note("info", "writing works again: training resumed")
            self.start_training("resumed: run folder writable again")

    def start_training(self, reason: str) -> None:
        """Set the run going again (from a pause, a failure, or a folder that failed to write)."""
        self._paused_by_disk = False
        self._rate_ref = (self.trainer.step, time.monotonic())
        self.set_status("running", reason)

    def forget_after(self, step: int) -> None:
        """The run went back to ``step``: drop what was measured or scheduled for the abandoned branch."""
        self.probe.cancel()
        self.quality.cancel()
        self.doctor.forget_after(step)
        self._pending = [r for r in self._pending if r["step"] <= step]
        self._last_row = None
        self.recorder.discard_after(step)
        self.history = [e for e in self.history if e.get("step", 0) <= step]
        log = self.cfg.log
        self.trainer.ready_readouts(wait=True)
        self._windows.clear()
        self._next = {"png": _after(step, log.png_every), "checkpoint": _after(step, log.checkpoint_every)}
        self.toy_cadence.start_at(step)
        self.probe.cadence.start_at(step)

    def _finish(self, save: bool, *, reason: str) -> None:
        self.probe.cancel()
        self.quality.cancel()
        self._guarded(self._readout_pending)
        self.flush(force=True)
        keeper = self.keeper
        saved_already = (self.finished and keeper.last_checkpoint is not None
                         and ckpt.checkpoint_name("final", self.trainer.step) == keeper.last_checkpoint.name)
        if save and self.folder and not saved_already:
            keeper.save_final("final" if self.status != "failed" else "last-good")
        self.recorder.fresh_start()
        if not self.recorder.flush():
            self.note("warning", f"{self.recorder.failing}: {self.recorder.pending} record(s) could not be "
                                 "written")
        if self.status == "failed" and reason == "stopped":
            reason = "failed"
        self.status = "finished"
        self.emit_state(reason)
        if self.folder:
            self.folder.close()
        last = keeper.rescued or str(keeper.last_checkpoint or "")
        self.emit(Finished(step=self.trainer.step, reason=reason, checkpoint=last,
                           extra={"rescued": bool(keeper.rescued), "unwritten": self.recorder.pending}))

    # -------------------------------------------------------------------------- events
    def emit(self, event: Event) -> None:
        with contextlib.suppress(Exception):  # a broken watcher must not stop training
            self._sink(event)

    def note(self, level: str, message: str) -> None:
        self.emit(Notice(step=self.trainer.step, level=level, message=message))

    def intervention(self, kind: str, detail: str, *, label: str = "", marker: bool = True) -> None:
        """Record ``kind`` in events.jsonl and the checkpoint history, and tell the watcher.

        What the user did becomes an Intervention (a marker, labelled, on every plot); what the runner
        does on its own schedule (periodic probes and checkpoints) is only a line in the log.
        """
        step, t = self.trainer.step, self.elapsed
        record: dict[str, Any] = {"step": step, "t": round(t, 3), "kind": kind, "detail": detail}
        if marker:
            record["label"] = label or kind
        if self._origin:
            record["by"] = self._origin
        self.history.append(record)
        self.recorder.add_event(record)
        if marker:
            self.emit(Intervention(step=step, t=t, kind=kind, detail=detail, label=label or kind,
                                   origin=self._origin))
        else:
            self.note("info", detail)

    def set_status(self, status: str, reason: str, *, emit: bool = True) -> None:
        self.status = status
        if emit:
            self.emit_state(reason)

    def state(self) -> RunState:
        t, s, loss = self.trainer, self.session, self.cfg.loss
        return RunState(
            status=self.status, step=t.step, d_steps=t.d_steps, g_steps=t.g_steps, k=t.knobs.k,
            loss=t.knobs.loss, loss_description=describe(t.loss, gp_weight=loss.gp_weight, clip=loss.clip,
                                                        lsgan_coding=loss.lsgan_coding, fgan_g=loss.fgan_g),
            lr_d=t.knobs.lr_d, lr_g=t.knobs.lr_g, frozen_d=t.knobs.frozen_d, frozen_g=t.knobs.frozen_g,
            preset=self.cfg.preset, dataset=self.cfg.data.name, device=str(t.device),
            is_toy=self.observer.is_toy, run_dir=str(self.folder.path) if self.folder else "",
            memory=s.memory(), critic=t.loss.critic, total_steps=self.cfg.train.steps,
        )

    def emit_state(self, reason: str) -> None:
        self.flush(force=True)
        self.emit(StateChanged(state=self.state(), reason=reason))


def _after(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step`` (never, for every = 0)."""
    return (step // every + 1) * every if every else 2**62


def _as_array(rows: list[dict[str, Any]]) -> np.ndarray:
    out = np.full((len(rows), len(METRIC_NAMES)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(METRIC_NAMES):
            value = row.get(name)
            if isinstance(value, (int, float)):
                out[i, j] = value
    return out
