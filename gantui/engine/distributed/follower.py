"""Ranks 1 to N−1: take every step rank 0 announces, with rank 0's settings, and nothing else.

A follower has no runner, no run folder and no display. It waits for rank 0's next message and does
what it says: set the live settings the message carries (each change is logged with the step at which
it applied, the same iteration boundary as rank 0's), take the step, send its random streams for a
checkpoint, take a state rank 0 sends, or leave. Its counters must be rank 0's at every message:
anything else would be a bug, and it stops the run rather than train out of step.

Signals (Ctrl-C, SIGTERM from torchrun, SIGHUP) do not stop a follower: rank 0 receives them too and
stops the run at the next boundary with a final checkpoint, in which every follower takes part.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from gantui.engine import checkpoint as ckpt
from gantui.engine.distributed.control import Message, Op, Streams, unpack
from gantui.engine.distributed.seeds import give_streams, stream_states, take_streams
from gantui.engine.distributed.team import Team

__all__ = ["Follower", "OutOfStep", "log"]

log = logging.getLogger("gantui.distributed")


class OutOfStep(RuntimeError):
    """A follower's counters or message sequence differ from rank 0's (a bug: never trained through)."""


class Follower(Team):
    def __init__(self, ranks, trainer, *, sync_bn: bool = False, seed: int = 0, seq: int = 0) -> None:
        super().__init__(ranks, trainer, sync_bn=sync_bn)
        self.seed = seed
        self.seq = seq
        self.resets = 0
        self.signals: list[int] = []

    def say(self, step: int, what: str) -> None:
        log.info("rank %d: step %d: %s", self.rank, step, what)

    def ignore_signals(self) -> None:
        def note(signum: int, _frame: Any) -> None:
            self.signals.append(signum)
            log.warning("rank %d: %s: rank 0 stops the run", self.rank, signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, note)

    # ------------------------------------------------------------------------------- the loop
    def follow(self) -> int:
        """Follow rank 0 until it says stop (its exit status is returned) or is lost (RanksLost)."""
        t = self.trainer
        while True:
            message, payload = self._collective(self.channel.receive)
            if message.seq != self.seq + 1:
                raise OutOfStep(f"rank {self.rank}: message {message.seq} after {self.seq}")
            self.seq = message.seq
            op = message.op
            if op is Op.STOP:
                self.say(message.step, "stop")
                return message.mode
            if op is Op.STATE:
                self._take_state(message, payload)
                continue
            if message.counters != (t.step, t.d_steps, t.g_steps):
                raise OutOfStep(f"rank {self.rank}: at step {t.step} (D {t.d_steps}, G {t.g_steps}), "
                                f"rank 0 at step {message.step} (D {message.d_steps}, G {message.g_steps})")
            self._take_settings(message)
            if op is Op.ITERATION:
                t.iteration()
            elif op is Op.D_STEP:
                t.d_step()
                self.say(message.step, "one D-step")
            elif op is Op.G_STEP:
                t.g_step()
                self.say(message.step, "one G-step")
            elif op is Op.READOUT:  # the window's values are rank 0's to report: only its finiteness here
                t.request_readout()
                if any(w.values.get("finite", 1.0) == 0.0 for w in t.ready_readouts()):
                    self.say(message.step, "read-out not finite")
            elif op is Op.CHECKPOINT:
                self.gather_streams()
                self.say(message.step, "checkpoint (random streams sent)")

    def _take_settings(self, m: Message) -> None:
        """Rank 0's live settings, each change logged (the same boundary as rank 0's intervention)."""
        t, k = self.trainer, self.trainer.knobs
        if m.resets != self.resets or m.loss != k.loss:
            reset = m.resets != self.resets
            before = k.loss
            t.set_loss(m.loss, reset_optimizers=reset)
            self.resets = m.resets
            self.say(m.step, f"loss {before} → {m.loss}" + (" (optimiser state reset)" if reset else ""))
        for player, lr in (("d", m.lr_d), ("g", m.lr_g)):
            now = k.lr_d if player == "d" else k.lr_g
            if lr != now:
                t.set_lr(player, lr)
                self.say(m.step, f"lr_{player} {now:.3g} → {lr:.3g}")
        if m.k != k.k:
            before = k.k
            t.set_k(m.k)
            self.say(m.step, f"k {before} → {m.k}")
        for player, frozen in (("d", m.frozen_d), ("g", m.frozen_g)):
            if frozen != (k.frozen_d if player == "d" else k.frozen_g):
                t.freeze(player, frozen)
                self.say(m.step, f"{player.upper()} {'frozen' if frozen else 'unfrozen'}")

    def _take_state(self, m: Message, payload: bytes) -> None:
        """Become rank 0's state; keep, restore or derive this rank's own random streams."""
        t = self.trainer
        sent = unpack(payload)
        mine = stream_states(t)
        before = t.step
        ckpt.restore(t, sent["state"], path="rank 0's state")
        t.discard_window()
        how = Streams(m.mode)
        table = sent.get("streams")
        if how is Streams.TABLE and table and take_streams(t, {n: v[self.rank] for n, v in table.items()}):
            streams = "its saved random streams"
        elif how is Streams.KEEP:
            take_streams(t, mine)
            streams = "its own random streams"
        else:
            give_streams(t, seed=self.seed, rank=self.rank, world=self.world, step=t.step)
            streams = "new random streams"
        self.resets = m.resets
        self.say(t.step, f"state from rank 0 (was at step {before}), {streams}")

