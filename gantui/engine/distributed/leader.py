"""Rank 0: the run as one process runs it, telling the other ranks what it does as it does it.

Rank 0 alone runs the :class:`~gantui.engine.runner.Runner`: it takes the commands off the queue,
writes the run folder, makes the sample grids, runs the probe and the toy metrics (none of which is
collective). Before each step that every rank must take, :meth:`Leader.before` broadcasts the
:class:`~gantui.engine.distributed.control.Message` of that step, carrying the live settings; between
two passes of the loop that took no step (paused, or busy with a probe) it sends ``IDLE``, ten times
a second at most, so that a paused run never leaves a rank waiting in a collective until a timeout.
Whatever else changes rank 0's state (a restore after a blow-up, a rollback) is sent as a STATE.

When a rank is lost (:class:`~gantui.engine.distributed.team.RanksLost`) the run stops with a final
checkpoint: of the current state when it was lost between steps, of the last good state (the last
read-out) when it was lost inside one.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gantui.engine import checkpoint as ckpt
from gantui.engine.distributed.control import STEP_OPS, Message, Op, Streams, pack
from gantui.engine.distributed.team import RanksLost, Team
from gantui.protocol import Stop

__all__ = ["Leader", "streams_table"]


def streams_table(state: dict[str, Any], world: int) -> dict[str, list] | None:
    """The per-rank random streams a checkpoint saved, if it was saved by ``world`` ranks."""
    info = state.get("ranks")
    if not isinstance(info, dict) or info.get("world") != world:
        return None
    table = info.get("streams")
    if not isinstance(table, dict) or not table or not all(
            isinstance(v, list) and len(v) == world for v in table.values()):
        return None
    return table


class Leader(Team):
    """Rank 0's :class:`Team`: announces every step, and gives the runner its hooks."""

    def __init__(self, ranks, trainer, *, sync_bn: bool = False) -> None:
        super().__init__(ranks, trainer, sync_bn=sync_bn)
        self.seq = 0
        self.resets = 0
        self._optimizers = trainer.optimizers  # held, not their ids: a reset must never look like none
        self.announced = False
        self.closed = False
        self.runner = None
        self._drift_said = 0

    # ------------------------------------------------------------------------------ messages
    def message(self, op: Op, *, payload: int = 0, mode: int = 0) -> Message:
        t, k = self.trainer, self.trainer.knobs
        if any(a is not b for a, b in zip(t.optimizers, self._optimizers, strict=True)):
            self.resets += 1
            self._optimizers = t.optimizers
        self.seq += 1
        return Message(op=op, seq=self.seq, step=t.step, d_steps=t.d_steps, g_steps=t.g_steps, k=k.k,
                       loss=k.loss, lr_d=k.lr_d, lr_g=k.lr_g, frozen_d=k.frozen_d, frozen_g=k.frozen_g,
                       resets=self.resets, payload=payload, mode=mode)

    def announce(self, op: Op, payload: bytes = b"", *, mode: int = 0) -> None:
        message = self.message(op, payload=len(payload), mode=mode)
        self._collective(lambda: self.channel.send(message, payload))
        self.announced = True

    def before(self, name: str) -> None:
        self.announce(STEP_OPS[name])

    def share_state(self, streams: Streams, table: dict | None = None) -> None:
        """Send rank 0's whole state (players, optimisers, settings, counters) to the other ranks."""
        state = ckpt.capture(self.trainer, config=self.trainer.cfg.as_dict(), history=[])  # its cond.kind too
        self.announce(Op.STATE, pack({"state": state, "streams": table}), mode=int(streams))

    # --------------------------------------------------------------------------- runner hooks
    def boundary(self, runner) -> None:
        self.runner = runner
        if self.drifted > self._drift_said:
            self._drift_said = self.drifted
            runner.note("warning", f"the ranks' players differed at step {self.trainer.step:,}: every rank "
                                   "now holds rank 0's (a bug in gantui: please report it)")
        if not self.lost and not self.announced:
            with contextlib.suppress(RanksLost):  # noticed just below
                self.announce(Op.IDLE)
        self.announced = False
        if self.lost and runner.stop_request is None:
            inside = runner.status == "failed"
            runner.note("warning", f"{self.lost}: the run stops, saving "
                                   + ("the last good state" if inside else f"step {self.trainer.step:,}"))
            if not inside:
                runner.exit_reason = "failed"
            runner.stop_request = Stop(save=True)

    def restored(self) -> None:
        if not self.lost:
            self._quietly(lambda: self.share_state(Streams.KEEP))

    def checkpoint(self, state: dict) -> None:
        """Add every rank's random streams to ``state`` (a resume on as many ranks continues exactly)."""
        info: dict[str, Any] = {"world": self.world, "batch_per_rank": self.trainer.batch_size, "streams": {}}
        state["ranks"] = info
        if self.lost:
            return
        try:
            self.announce(Op.CHECKPOINT)
            info["streams"] = self.gather_streams()
        except RanksLost:
            pass  # saved all the same, without the others' streams: a resume derives new ones

    def loaded(self, state: dict) -> None:
        table = streams_table(state, self.world)
        if self.world > 1 and table is None and self.runner is not None:
            saved = state.get("ranks", {}).get("world", 1) if isinstance(state.get("ranks"), dict) else 1
            self.runner.note("info", f"the checkpoint was saved by {saved} rank{'s' if saved != 1 else ''}: "
                                     f"ranks 1 to {self.world - 1} draw new random streams")
        if not self.lost:
            self._quietly(lambda: self.share_state(Streams.TABLE if table else Streams.DERIVE, table))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.lost:
            self._quietly(lambda: self.announce(Op.STOP))
            self._quietly(lambda: self._collective(self.channel.flush))

    def _quietly(self, action) -> None:
        """A message outside a step: a lost rank is noticed at the next boundary (see boundary)."""
        with contextlib.suppress(RanksLost):
            action()
