"""``gantui --headless``: the same run and run folder, with a progress bar instead of the dashboard.

Exit status: 0 when the steps are done; 3 when training diverged or failed (the last good state is
saved as a checkpoint) or the run folder stayed unwritable for ``log.write_retry_s`` (the state saved
wherever it could be, said in one line); 128 + N after signal N (SIGINT, SIGTERM, SIGHUP), a final
checkpoint saved. The last lines say how far the run got and the exact command that continues it.
"""

from __future__ import annotations

import math
import queue
import signal
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gantui.engine.heap import freeze_built_run
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.protocol import Alert, Failure, Finished, MetricsBatch, Notice, Stop
from gantui.text import printable

EXIT_DIVERGED = 3


def metrics_line(row: dict[str, float]) -> str:
    """One compact line of the newest read-out, in the GAN's own words.

    A critic's raw scores (reported only for critics) replace σ(v), which is no probability there.
    """
    parts = [f"step {int(row.get('step', 0)):>7}"]
    game = ((("v_real", "v(x) {:.3f}"), ("v_fake", "v(G(z)) {:.3f}"))
            if math.isfinite(row.get("v_real", math.nan)) else
            (("d_real", "D(x) {:.3f}"), ("d_fake", "D(G(z)) {:.3f}")))
    fields = (*game, ("loss_d", "L_D {:.4f}"),
              ("loss_g", "L_G {:.4f}"), ("jsd_bound", "JSD>= {:.4f}"), ("fdiv_bound", "f-div>= {:.4f}"),
              ("w_estimate", "W {:.4f}"), ("jsd_probe", "JSD_probe {:.4f}"), ("jsd_true", "JSD {:.4f}"),
              ("modes", "modes {:.0f}"), ("hq", "hq {:.1%}"), ("label_accuracy", "label acc {:.1%}"),
              ("mi_bound", "I(c;x)>= {:.3f}"), ("info_accuracy", "info acc {:.1%}"),
              ("steps_per_sec", "{:.0f} it/s"))
    for key, fmt in fields:
        value = row.get(key, math.nan)
        if math.isfinite(value):
            parts.append(fmt.format(value))
    return "  ".join(parts)


QUALITY_FIELDS = (("fid", "FID {:.2f}"), ("fd_classifier", "fd_classifier {:.2f}"), ("kid", "KID {:.4f}"),
                  ("precision", "P {:.2f}"), ("recall", "R {:.2f}"), ("classes_covered", "classes {:.0f}"))


def quality_line(row: dict[str, float]) -> str:
    """The latest image-quality values and the step they judged ('' before the first evaluation)."""
    parts = [fmt.format(row[key]) for key, fmt in QUALITY_FIELDS if math.isfinite(row.get(key, math.nan))]
    if not parts:
        return ""
    generator = " (EMA)" if row.get("eval_ema") else ""
    return "  ".join(parts) + f"  @ step {int(row.get('eval_at', row.get('step', 0))):,}{generator}"


class _Signals:
    """Turn Ctrl-C, SIGTERM and SIGHUP (a dropped SSH session) into a stop with a final checkpoint."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            print(f"gantui: {signal.Signals(signum).name}: saving a final checkpoint…", flush=True)
        self.received = signum
        self.runner.send(Stop(save=True))

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def run_headless(session: Session, console: Console | None = None, *, listen: str | None = None,
                 serve_run: bool = True) -> int:
    """Train ``session`` to its end, printing progress; serve it so that it can be attached."""
    from gantui.serving import Served, serve

    console = console or Console(stderr=False, highlight=False)
    cfg = session.config
    runner = Runner(session, exit_when_done=True)
    events: queue.Queue = queue.Queue()
    total = cfg.train.steps
    folder = printable(session.folder.path) if session.folder else "-"
    console.print(f"gantui: {printable(cfg.preset) or 'run'} on {session.trainer.device}, "
                  f"loss {cfg.loss.name}, k = {cfg.train.k}; run folder {folder}", markup=False)
    say = lambda line: console.print(line, markup=False, soft_wrap=True)  # noqa: E731
    served = serve(session, runner, listen=listen, say=say) if serve_run else Served(runner)
    served.local(events.put)
    failed = False
    finished: Finished | None = None
    last_row: dict[str, float] | None = None
    quality: dict[str, float] = {}  # the newest evaluation's row
    last_line = -math.inf
    rate = TextColumn("{task.fields[rate]}")
    with _Signals(runner) as signals, Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), rate, TimeRemainingColumn(),
            console=console, transient=False) as progress:
        task = progress.add_task("train", total=total, completed=session.trainer.step, rate="")
        freeze_built_run()
        served.controller.start(events.put)
        try:
            while finished is None:
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if isinstance(event, MetricsBatch) and len(event.values):
                    row = event.rows()[-1]
                    if row.get("step", 0) <= (session.resumed_from or -1):
                        continue  # the history a resume replays: already shown by the run that wrote it
                    if "loss_d" in row or "loss_g" in row:
                        last_row = row
                    quality = next((r for r in reversed(event.rows()) if "eval_at" in r), quality)
                    sps = row.get("steps_per_sec", math.nan)
                    progress.update(task, completed=int(row.get("step", 0)),
                                    rate=f"{sps:,.0f} it/s" if math.isfinite(sps) else "")
                    if time.monotonic() - last_line >= cfg.log.headless_every_s:
                        last_line = time.monotonic()
                        # One line whatever the width: piped to a log, a console is 80 columns wide.
                        line = metrics_line(row)
                        if quality:
                            line += "  " + quality_line(quality)
                        progress.console.print(line, soft_wrap=True, markup=False)
                elif isinstance(event, Notice):
                    warning = event.level == "warning"
                    progress.console.print(f"{'warning' if warning else 'note'}: {printable(event.message)}",
                                           markup=False, style="yellow" if warning else "dim", soft_wrap=True)
                elif isinstance(event, Alert):
                    if event.step > (session.resumed_from or -1):  # a resume's replay was shown before
                        progress.console.print(alert_line(event), markup=False, soft_wrap=True,
                                               style="yellow" if event.active else "dim")
                elif isinstance(event, Failure):
                    failed = True
                    progress.console.print(f"failed at step {event.step}: {printable(event.message)}",
                                           markup=False, style="red", soft_wrap=True)
                    runner.send(Stop(save=True))
                elif isinstance(event, Finished):
                    finished = event
        except BaseException:  # never leave the trainer running unseen (a broken console, a bug here)
            runner.send(Stop(save=True))
            runner.join(60.0)
            served.close()
            raise
    runner.join(60.0)
    served.close()
    _summary(console, session, runner, finished, last_row, quality)
    if signals.received is not None:
        return 128 + int(signals.received)
    return EXIT_DIVERGED if failed or finished.reason in ("failed", "write-failed") else 0


def alert_line(alert: Alert) -> str:
    """The doctor's finding as one log line: what, when, the evidence and what to try."""
    if not alert.active:
        return f"alert cleared at step {alert.step:,}: {printable(alert.title)} ({printable(alert.message)})"
    line = f"alert at step {alert.step:,}: {printable(alert.title)}: {printable(alert.message)}"
    return line + (f" -> {printable(alert.suggestion)}" if alert.suggestion else "")


def _summary(console: Console, session: Session, runner: Runner, finished: Finished,
             last_row: dict[str, float] | None, quality: dict[str, float]) -> None:
    """The final metrics, where the checkpoint is, and the exact command that continues the run."""
    from gantui.cli import resume_command

    if last_row is not None:
        console.print(f"final: {metrics_line(last_row)}", soft_wrap=True, markup=False)
    if quality:
        console.print(f"quality: {quality_line(quality)}", soft_wrap=True, markup=False)
    if finished.checkpoint:
        console.print(f"checkpoint: {printable(finished.checkpoint)}", markup=False)
    if session.folder is not None and not finished.extra.get("rescued"):
        steps, done = session.config.train.steps, runner.trainer.step
        ended = finished.reason == "steps" or (bool(steps) and done >= steps)
        console.print(f"run folder {printable(session.folder.path)}; continue with: "
                      f"{printable(resume_command(session.folder.path, steps_done=done if ended else None))}",
                      soft_wrap=True, markup=False)
    elif finished.extra.get("rescued"):
        console.print(f"the run folder could not be written: continue with gantui --resume "
                      f"{printable(finished.checkpoint)} --run-dir NEW_FOLDER", soft_wrap=True, markup=False)
