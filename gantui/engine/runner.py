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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantui.config import Config
from gantui.engine import checkpoint as ckpt
from gantui.engine.good_state import GoodState
from gantui.engine.health import first_nonfinite, nonfinite_in_state
from gantui.engine.host import HostProbe
from gantui.engine.losses import describe
from gantui.engine.observe import Observer
from gantui.engine.probe import ProbeJob, probe_job
from gantui.engine.recorder import Recorder, rescue_dirs
from gantui.engine.session import KNOB_KEYS, Session, rows_array
from gantui.engine.steering import Steering
from gantui.protocol import (
    METRIC_NAMES,
    Command,
    Event,
    Failure,
    Finished,
    HistoryReset,
    ImageSamples,
    Intervention,
    MetricsBatch,
    Notice,
    PresetSaved,
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
JOB_SLICE_S = 0.05  # a background job (a probe) runs this long, then gives the loop back
JOB_SHARE = {False: 0.25, True: 0.5}  # of the loop's time while training: periodic / requested probes


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
        self._stop: Stop | None = None
        self._pending: list[dict[str, Any]] = []
        self._last_row: dict[str, Any] | None = None
        self._last_emit = 0.0
        self._samples_due = -math.inf  # monotonic time of the next sample grid for the display
        self._host_due = 0.0
        self._t0 = time.monotonic() - session.elapsed
        self._rate_ref = (self.trainer.step, time.monotonic())
        self._job: ProbeJob | None = None
        self._job_requested = False
        self._job_due = 0.0
        self._graph_status = ""
        step = self.trainer.step
        self._next = {"toy": _after(step, self.cfg.log.toy_metrics_every),
                      "probe": _after(step, self.cfg.log.probe_every),
                      "png": _after(step, self.cfg.log.png_every),
                      "checkpoint": _after(step, self.cfg.log.checkpoint_every)}
        self.last_checkpoint = session.checkpoint_path
        self.exit_reason = ""
        self.rescued = ""  # where a final checkpoint went when the run folder could not take it

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
        try:
            if self.trainer.device.type == "cuda":
                torch.cuda.set_device(self.trainer.device)
            self._emit_state("started")
            self._announce_start()
            self._send_samples(png=self.trainer.step == 0 and self.cfg.log.png_every > 0)
            self.good.remember(self.trainer)  # before the first good read-out, the initial state is good
            while self._stop is None:
                self._apply_commands(block=self.status != "running" and self._job is None)
                if self._stop is None and self.status == "running":
                    self._guarded(self._advance)
                self._run_job()
                self._retry_writes()
                self._host_stats_if_due()
                self._flush_if_due()
            self._finish(self._stop.save if self._stop else True, reason=self.exit_reason or "stopped")
        except BaseException as exc:  # the last line of defence: never die silently
            self._emit(Failure(step=self.trainer.step, message=f"trainer thread crashed: {exc!r}",
                               detail=traceback.format_exc()))
            self._emit(Finished(step=self.trainer.step, reason="failed"))

    def _announce_start(self) -> None:
        s = self.session
        for note in s.notes:
            self.note("warning" if "cannot" in note else "info", note)
        if s.resumed_from is None:
            return
        self._replay_history()
        name = printable(s.checkpoint_path.name if s.checkpoint_path else "")
        self.intervention("resume", f"resumed from {name} at step {s.resumed_from:,}", label="resumed")
        knob_keys = set(KNOB_KEYS.values())
        for key, before, after in s.resume_changes:
            kind = {"train.k": "k", "loss.name": "loss", "train.lr_d": "lr_d", "train.lr_g": "lr_g"}.get(
                key, "freeze" if key in knob_keys else "config")
            self.intervention(kind, f"{key} {before} → {after} (set on resume)", label=f"{key.split('.')[-1]} {after}")

    def _advance(self) -> None:
        t, log = self.trainer, self.cfg.log
        t.iteration()
        if t.step % log.every == 0 and not self._readout():
            return  # the read-out found a blow-up and restored a good state
        if self.folder and log.checkpoint_every and t.step >= self._next["checkpoint"]:
            self._next["checkpoint"] = _after(t.step, log.checkpoint_every)
            self.checkpoint("periodic")
            if self.status != "running":
                return
        if self.cfg.train.steps and t.step >= self.cfg.train.steps:
            self._reach_the_end()
        png_due = bool(self.folder and log.png_every and t.step >= self._next["png"])
        if png_due:
            self._next["png"] = _after(t.step, log.png_every)
        if png_due or time.monotonic() >= self._samples_due:
            self._send_samples(png=png_due)

    def _reach_the_end(self) -> None:
        self._readout_pending()
        if self.status != "running":
            return
        self.note("info", f"reached train.steps = {self.cfg.train.steps:,}")
        if self.exit_when_done:
            self.exit_reason = "steps"
            self._stop = Stop(save=True)
        else:
            self.checkpoint("final")
            self.set_status("finished", "finished: reached train.steps")

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a training action; turn any exception into a paused, reported failure."""
        try:
            action()
        except torch.OutOfMemoryError:
            b = self.cfg.train.batch_size
            self._fail(f"CUDA out of memory at batch size {b}: try --set train.batch_size={max(1, b // 2)}",
                       traceback.format_exc())
        except Exception as exc:
            self._fail(f"{type(exc).__name__}: {printable(exc)}", traceback.format_exc())

    # ---------------------------------------------------------------------------- metrics
    def _readout(self, *, measure_rate: bool = True) -> bool:
        """Read out the window; False if it found a non-finite value (the good state is then restored)."""
        t = self.trainer
        n_d, n_g = t.window_steps
        row = t.readout()
        finite = row.pop("finite") != 0.0
        blew_up = self._what_blew_up(row, finite, n_d, n_g)
        if blew_up is not None:
            good = self.good.step
            self._fail(f"{blew_up} became non-finite (NaN or inf) between steps {good + 1:,} and {t.step:,}; "
                       f"restored step {good:,}. Lower a learning rate or switch the loss, then resume, "
                       "or roll back to the last checkpoint (u)")
            return False
        self.good.remember(t)
        now = time.monotonic()
        step0, t0 = self._rate_ref
        if measure_rate and now > t0 and t.step > step0:
            row["steps_per_sec"] = (t.step - step0) / (now - t0)
        self._rate_ref = (t.step, now)
        log = self.cfg.log
        if self.observer.is_toy and t.step >= self._next["toy"]:
            self._next["toy"] = _after(t.step, log.toy_metrics_every)
            row.update(self.observer.toy_metrics())
        if self.observer.is_toy and log.probe_every and t.step >= self._next["probe"]:
            self._next["probe"] = _after(t.step, log.probe_every)
            self._start_probe(requested=False)
        self._queue_row(row)
        self._report_graph_status()
        return True

    def _what_blew_up(self, row: dict[str, float], finite: bool, n_d: int, n_g: int) -> str | None:
        """Which measurement or tensor is NaN or inf, in the GAN's words; None when all is finite."""
        tensor = first_nonfinite(self.trainer.named_live_tensors())
        if finite and tensor is None:
            return None
        penalty = self.trainer.loss.penalty is not None
        measured = [name for names, n in ((("loss_d", "grad_norm_d", "gp"), n_d), (("loss_g", "grad_norm_g"), n_g))
                    if n for name in names if (name != "gp" or penalty) and not math.isfinite(row.get(name, 0.0))]
        parts = measured[:2] + ([tensor] if tensor else [])
        return " and ".join(parts) or "a measurement"

    def _report_graph_status(self) -> None:
        """On CUDA, say once whether iterations replay a CUDA graph (and why not, if not)."""
        status = self.trainer.graph_status
        if self.trainer.device.type == "cuda" and status != self._graph_status:
            self._graph_status = status
            self.note("info", f"CUDA graph: {status}")

    def _readout_pending(self) -> None:
        """Read out a partial window (at the end of a run), if any step happened since the last."""
        if self.trainer.has_pending_readout:
            self._readout()

    def _queue_row(self, row: dict[str, Any]) -> None:
        """Queue a metrics row; a second row at one step (a single D- or G-step while paused, a probe's
        result) is merged into the first, so metrics.jsonl keeps one row per step."""
        t = self.trainer
        row.update(step=t.step, t=self.elapsed, k=t.knobs.k, loss=t.knobs.loss)
        row = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        last = self._last_row
        if last is not None and last["step"] == t.step:
            row = {**last, **row}
            if self._pending and self._pending[-1]["step"] == t.step:
                self._pending.pop()
        self._pending.append(row)
        self._last_row = row

    def _flush_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._pending and (force or now - self._last_emit >= EMIT_INTERVAL):
            rows, self._pending = self._pending, []
            self._last_emit = now
            self.recorder.add_rows(rows)
            self._emit(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(_as_array(rows))))
        if self.recorder.pending and not self.recorder.failing and not self.recorder.flush():
            self._write_failed()

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
        if not (png and self.folder) or self.recorder.failing:
            return
        step, folder = self.trainer.step, self.folder
        if isinstance(event, ImageSamples):
            ok = self.recorder.write("a sample PNG", lambda: folder.write_image_grid(step, event.fake))
        else:
            ok = self.recorder.write("a sample PNG", lambda: folder.write_toy_scatter(
                step, event.real, event.fake, event.d_surface, event.extent, score=event.surface == "score"))
        if not ok:
            self._write_failed()

    def _host_stats_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._host_due:
            self._host_due = now + HOST_EVERY_S
            self._emit(self.host.stats(step=self.trainer.step, t=self.elapsed, graph=self.trainer.graph_status))

    # -------------------------------------------------------------------------- the probe
    def request_probe(self) -> None:
        if self._job is not None:
            self.note("info", f"a probe of step {self._job.at_step:,} is running; its result comes first")
            return
        self._start_probe(requested=True)

    def _start_probe(self, *, requested: bool) -> None:
        if self._job is not None:
            return
        log = self.cfg.log
        self._job = probe_job(self.trainer, max_steps=log.probe_steps, budget_s=log.probe_budget_s)
        self._job_requested = requested
        self._job_due = 0.0
        if requested:
            self.note("info", f"probing D* for G at step {self.trainer.step:,}…")

    def _run_job(self) -> None:
        """Give the background job a slice: back to back while paused, a share of the time while training."""
        job = self._job
        if job is None or time.monotonic() < self._job_due:
            return
        start = time.monotonic()
        try:
            done = job.advance(JOB_SLICE_S)
        except Exception as exc:  # a probe that fails says so; the run goes on
            self._job = None
            self.note("warning", f"probe failed: {type(exc).__name__}: {printable(exc)}")
            return
        spent = time.monotonic() - start
        if self.status == "running":
            share = JOB_SHARE[self._job_requested]
            self._job_due = time.monotonic() + spent * (1 - share) / share
        if not done:
            return
        self._job = None
        r = job.result
        assert r is not None
        how = "converged" if r.converged else "not converged: its step cap or time budget ended it"
        self.intervention("probe", f"jsd_probe = {r.jsd:.4f} nats for G at step {r.at_step:,} "
                                   f"({r.steps:,} probe steps, {how}, {r.seconds:.1f} s)",
                          label="probe", marker=self._job_requested)
        self._queue_row({"jsd_probe": r.jsd, "probe_at": r.at_step, "probe_steps": r.steps,
                         "probe_converged": int(r.converged)})
        if self.status != "running":
            self._flush_if_due(force=True)

    def request_evaluation(self) -> None:
        self.note("warning", "image-quality evaluation is not available in this version")

    def _cancel_job(self) -> None:
        self._job = None

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
            self.note("warning", f"ignored {type(c).__name__}: not a gantui command")
            return
        try:
            self.steering.apply(c)
        except (ValueError, KeyError, TypeError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            self.note("warning", f"{type(c).__name__} refused: {printable(reason)}")
            self.emit_state(f"{type(c).__name__} refused")

    def stop(self, c: Stop) -> None:
        self._stop = c

    def resume_training(self) -> None:
        if self.finished:
            self.note("warning", f"the run reached train.steps = {self.cfg.train.steps:,}: quit (q), then "
                                 f"continue it with gantui --resume RUN --steps N (N > {self.trainer.step:,})")
            self.emit_state("finished")
            return
        if self.recorder.failing:
            self.recorder.fresh_start()
            if not self.recorder.flush():
                self.note("warning", f"{self.recorder.failing}: training stays paused until writing works")
                self.emit_state("paused: run folder not writable")
                return
        if self.status == "running":
            self.emit_state("already running")
            return
        self._paused_by_disk = False
        self._rate_ref = (self.trainer.step, time.monotonic())
        self.set_status("running", "resumed")
        self.intervention("resume", "resumed", label="resume")

    def step_once(self, kind: str) -> None:
        """One iteration, D-step or G-step while paused, read out and shown at once."""
        if self.status == "running":
            self.note("warning", "step: pause first (space)")
            self.emit_state("running")
            return
        if self.finished:
            self.resume_training()  # says why not
            return
        t = self.trainer
        {"iteration": t.iteration, "d": t.d_step, "g": t.g_step}[kind]()
        if not self._readout(measure_rate=False):
            return
        self._send_samples()
        self._flush_if_due(force=True)
        self.emit_state(f"one {'iteration' if kind == 'iteration' else kind.upper() + '-step'}")

    def knobs_changed(self, reason: str) -> None:
        """A live setting changed: config.toml says so (written with the next flush), and so does the UI."""
        k = self.trainer.knobs
        values = {"k": k.k, "loss": k.loss, "lr_d": k.lr_d, "lr_g": k.lr_g, "frozen_d": k.frozen_d,
                  "frozen_g": k.frozen_g}
        self.cfg = self.cfg.replace(**{key: values[knob] for knob, key in KNOB_KEYS.items()})
        self.recorder.set_config(self.cfg)
        self.emit_state(reason)

    def save_preset(self, name: str) -> None:
        path = self.session.save_preset(name, self.trainer.knobs)
        self.note("info", f"preset '{printable(name)}' saved to {printable(path)}")
        self._emit(PresetSaved(name=name, path=str(path)))

    # ------------------------------------------------------------------------ failures
    def _fail(self, message: str, detail: str = "") -> None:
        """Pause at the last good state and report; the run can be resumed or rolled back."""
        self._cancel_job()
        self.good.restore(self.trainer)
        self._pending = [r for r in self._pending if r["step"] <= self.trainer.step]
        self.set_status("failed", message, emit=False)
        self._flush_if_due(force=True)
        self.intervention("failure", message, label="failed")
        self._emit(Failure(step=self.trainer.step, message=message, detail=detail,
                           checkpoint=str(self.last_checkpoint or "")))
        self.emit_state("failed")

    def _write_failed(self) -> None:
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
        if self.exit_when_done and rec.failing_for() > self.cfg.log.write_retry_s and self._stop is None:
            self.note("warning", f"{rec.failing} for {rec.failing_for():.0f} s: stopping the run")
            self.exit_reason = "write-failed"
            self._stop = Stop(save=True)
            return
        if rec.retry_due() and rec.flush() and self._paused_by_disk:
            self._paused_by_disk = False
            self.note("info", "writing works again: training resumed")
            self._rate_ref = (self.trainer.step, time.monotonic())
            self.set_status("running", "resumed: run folder writable again")

    # ------------------------------------------------------------------ history, rollback
    def _replay_history(self) -> None:
        """Send the run's history so far: its metric rows and its markers (a resume, a rollback)."""
        rows = self.session.resumed_rows if self.folder is None else rows_array(self.folder.read_metrics().rows)
        if rows is not None and len(rows):
            self._emit(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(rows)))
            self._last_row = None
        for record in self.history:
            if record.get("label"):
                self._emit(Intervention(step=int(record["step"]), t=float(record.get("t", 0.0)),
                                        kind=str(record.get("kind", "")), detail=str(record.get("detail", "")),
                                        label=str(record["label"]), origin=str(record.get("by", ""))))

    def rollback(self) -> None:
        files = self.folder.checkpoints() if self.folder else []
        if not files:
            self.note("warning", "rollback: this run has no checkpoint yet")
            self.emit_state("no checkpoint")
            return
        path = files[-1].path
        before = self.trainer.step
        try:
            ckpt.restore(self.trainer, ckpt.load(path), path=path)
        except ckpt.CheckpointError as exc:
            self.note("warning", f"rollback failed: {exc}")
            self.emit_state("rollback failed")
            return
        step, folder = self.trainer.step, self.folder
        assert folder is not None
        self._cancel_job()
        self._pending = []
        self._last_row = None
        self.recorder.discard_after(step)
        self.recorder.write("the logs", lambda: folder.truncate_after(step))
        self.recorder.write("checkpoints", lambda: folder.set_aside_checkpoints_after(step))
        self.history = [e for e in self.history if e.get("step", 0) <= step]
        self._next = {key: _after(step, every) for key, every in (
            ("toy", self.cfg.log.toy_metrics_every), ("probe", self.cfg.log.probe_every),
            ("png", self.cfg.log.png_every), ("checkpoint", self.cfg.log.checkpoint_every))}
        self.good.remember(self.trainer)
        self._emit(HistoryReset(step=step, reason=f"rolled back from step {before:,}"))
        self._replay_history()
        self.intervention("rollback", f"rolled back from step {before:,} to {step:,} ({path.name}); "
                                      "what came after it is discarded", label="rollback")
        self.last_checkpoint = path
        self.knobs_changed(f"rolled back to step {step:,}")
        self.set_status("paused", f"rolled back to step {step:,}")
        self._send_samples()

    # --------------------------------------------------------------------- checkpoints
    def _capture(self) -> dict[str, Any]:
        return ckpt.capture(self.trainer, config=self.cfg.as_dict(), history=self.history) | {
            "elapsed": self.elapsed, "preset": self.cfg.preset}

    def checkpoint(self, tag: str) -> Path | None:
        """Save a checkpoint; a state that is not finite is never saved (it fails the run instead)."""
        if self.folder is None:
            if tag == "manual":
                self.note("warning", "this run writes no run folder: nothing to save")
            return None
        state = self._capture()
        bad = nonfinite_in_state(state)
        if bad is not None:
            good = self.good.step
            self._fail(f"{bad} became non-finite (NaN or inf) after step {good:,}; restored step {good:,} "
                       "and saved nothing. Lower a learning rate or switch the loss, then resume")
            return None
        path = self.folder.checkpoint_path(tag, self.trainer.step)
        if not self.recorder.write(f"checkpoint {path.name}", lambda: ckpt.save(path, state)):
            self._write_failed()
            return None
        if tag == "periodic":
            self.recorder.write("old checkpoints", self.folder.prune_periodic)
        self.last_checkpoint = path
        self.intervention("checkpoint", f"saved {path}", label="save", marker=tag == "manual")
        return path

    def _rescue(self, tag: str) -> Path | None:
        """The run folder cannot be written: save the final state wherever it can be."""
        state = self._capture()
        name = ckpt.checkpoint_name(tag, self.trainer.step)
        for folder in rescue_dirs(self.folder.path if self.folder else Path("run")):
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                path = ckpt.save(folder / name, state)
                self.rescued = str(path)
                self.note("warning", f"the run folder cannot be written: checkpoint saved to {printable(path)}")
                return path
        self.note("warning", "the checkpoint could not be saved anywhere (run folder, temp dir, home)")
        return None

    def _finish(self, save: bool, *, reason: str) -> None:
        self._cancel_job()
        self._guarded(self._readout_pending)
        self._flush_if_due(force=True)
        saved_already = (self.finished and self.last_checkpoint is not None
                         and ckpt.checkpoint_name("final", self.trainer.step) == Path(self.last_checkpoint).name)
        if save and self.folder and not saved_already:
            tag = "final" if self.status != "failed" else "last-good"
            path = self.checkpoint(tag) if not self.recorder.failing else None
            if path is None and self.status == "failed" and not self.recorder.failing:
                path = self.checkpoint("last-good")  # the state was not finite: the good one now is
                tag = "last-good"
            if path is None and self.recorder.failing:
                self._rescue(tag)
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
        last = self.rescued or str(self.last_checkpoint or "")
        self._emit(Finished(step=self.trainer.step, reason=reason, checkpoint=last,
                            extra={"rescued": bool(self.rescued), "unwritten": self.recorder.pending}))

    # -------------------------------------------------------------------------- events
    def _emit(self, event: Event) -> None:
        with contextlib.suppress(Exception):  # a broken watcher must not stop training
            self._sink(event)

    def note(self, level: str, message: str) -> None:
        self._emit(Notice(step=self.trainer.step, level=level, message=message))

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
            self._emit(Intervention(step=step, t=t, kind=kind, detail=detail, label=label or kind,
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
        self._flush_if_due(force=True)
        self._emit(StateChanged(state=self.state(), reason=reason))

    _emit_state = emit_state


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
