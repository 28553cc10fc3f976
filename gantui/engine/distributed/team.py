"""One rank's part in the run: the trainer's hooks and the steps that every rank takes together.

The trainer calls ``trainer.ranks`` (a :class:`Team`; None in a single process) at three places:
``gradients`` between backward and the optimiser's step, ``batch_std`` for DRAGAN's perturbation
scale, and ``window`` when a read-out turns the accumulators into numbers. :func:`wrap_steps` makes
each of the trainer's four collective entry points (``iteration``, ``d_step``, ``g_step``,
``request_readout``) a *step*: on rank 0 it first tells the other ranks to take the same step
(:class:`~gantui.engine.distributed.leader.Leader`); on every rank it lets shared BatchNorm
synchronise for its duration, and an exception inside it ends the group, since the ranks are then no
longer in the same collective and would otherwise wait for each other until the timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from gantui.engine.distributed.control import STEP_OPS, Channel
from gantui.engine.distributed.group import Ranks
from gantui.engine.distributed.seeds import stream_states
from gantui.engine.distributed.sync import average_gradients, fingerprint, global_std, shared_statistics

__all__ = ["RanksLost", "Team", "wrap_steps"]

_LOST_WORDS = ("closed by peer", "connection reset", "connection refused", "timed out", "timeout",
               "broken pipe", "nccl", "gloo")


class RanksLost(RuntimeError):
    """Another rank stopped answering (its process ended or failed): the run cannot go on."""


def _is_lost(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, RanksLost) or (isinstance(exc, RuntimeError)
                                          and any(word in text for word in _LOST_WORDS))


class Team:
    """What every rank shares: the groups, the trainer it keeps in step, and whether the group works."""

    def __init__(self, ranks: Ranks, trainer, *, sync_bn: bool = False) -> None:
        self.ranks = ranks
        self.trainer = trainer
        self.world = ranks.world
        self.sync_bn = sync_bn
        self.channel = Channel(ranks.control)
        self.lost = ""  # why the group can no longer be used; "" while it works
        self.drifted = 0  # windows at which the ranks were found to differ (and rank 0's state was sent)

    @property
    def rank(self) -> int:
        return self.ranks.rank

    # ------------------------------------------------------------------------ the trainer's hooks
    def gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        self._collective(lambda: average_gradients(params, world=self.world, group=self.ranks.data))

    def batch_std(self, x: Tensor) -> Tensor:
        return self._collective(lambda: global_std(x, group=self.ranks.data))

    def window(self, acc_d: Tensor, acc_g: Tensor) -> None:
        """The window's sums become means over the ranks (in place); BatchNorm buffers are averaged; and
        the ranks check that they still hold the same players (one more tiny all-reduce)."""
        t = self.trainer
        buffers = [b for b in (*t.G.buffers(), *t.D.buffers()) if b.is_floating_point()]
        flat = torch.cat([acc_d, acc_g, *(b.reshape(-1).to(acc_d.dtype) for b in buffers)])

        def reduce() -> None:
            dist.all_reduce(flat, group=self.ranks.data)
            flat.div_(self.world)
            acc_d.copy_(flat[:len(acc_d)])
            acc_g.copy_(flat[len(acc_d):len(acc_d) + len(acc_g)])
            offset = len(acc_d) + len(acc_g)
            with torch.no_grad():
                for b in buffers:
                    b.copy_(flat[offset:offset + b.numel()].view_as(b))
                    offset += b.numel()
            mine = fingerprint(t.live_tensors())
            spread = torch.cat([mine, -mine])
            dist.all_reduce(spread, op=dist.ReduceOp.MAX, group=self.ranks.data)
            if not torch.equal(spread[:2], -spread[2:]):
                self._take_rank0_tensors()

        self._collective(reduce)

    def _take_rank0_tensors(self) -> None:
        """The ranks' players differ (a bug, never expected): every rank takes rank 0's tensors."""
        self.drifted += 1
        with torch.no_grad():
            for tensor in self.trainer.live_tensors():
                dist.broadcast(tensor, src=0, group=self.ranks.data)

    def _collective(self, action):
        if self.lost:
            raise RanksLost(self.lost)
        try:
            return action()
        except RuntimeError as exc:
            if isinstance(exc, RanksLost) or not _is_lost(exc):
                raise
            self.lose(self.lost_message())
            raise RanksLost(self.lost) from exc

    def gather_streams(self) -> dict[str, list[torch.Tensor]]:
        """Every rank's random streams, by name, in rank order (rank 0 saves them with a checkpoint)."""
        mine = stream_states(self.trainer)
        return self._collective(lambda: {name: self.channel.gather(mine[name], self.world)
                                         for name in sorted(mine)})

    def lost_message(self) -> str:
        who = "rank 1" if self.world == 2 and self.rank == 0 else ("rank 0" if self.rank else "a rank")
        return f"{who} of {self.world} stopped answering (its process ended or failed)"

    # ------------------------------------------------------------------ the runner's hooks (rank 0)
    def boundary(self, runner) -> None:
        """Between two passes of the runner's loop."""

    def restored(self) -> None:
        """The runner put its last good state back."""

    def checkpoint(self, state: dict) -> None:
        """A checkpoint of ``state`` is about to be saved."""

    def loaded(self, state: dict) -> None:
        """The trainer was loaded from the checkpoint ``state`` (a rollback)."""

    def close(self) -> None:
        """The runner's loop has ended."""

    # ------------------------------------------------------------------------------ steps
    def before(self, name: str) -> None:
        """What happens before a step (rank 0 announces it; the others have already been told)."""

    def lose(self, why: str) -> None:
        """The group cannot be used any more: say why once and tear it down so the others notice."""
        if not self.lost:
            self.lost = why
            self.ranks.leave()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.lost:
            raise RanksLost(self.lost)
        try:
            self.before(name)
            with shared_statistics(self.ranks.data, enabled=self.sync_bn):
                yield
        except BaseException as exc:
            if not _is_lost(exc):
                self.lose(f"rank {self.rank} failed inside a step ({type(exc).__name__}): the ranks are no "
                          "longer in the same step")
                raise
            message = str(exc) if isinstance(exc, RanksLost) else self.lost_message()
            self.lose(message)
            if isinstance(exc, RanksLost):
                raise
            raise RanksLost(message) from exc


def wrap_steps(trainer, team: Team) -> None:
    """Make the trainer's collective entry points steps of ``team`` (see the module docstring).

    Their callers (the runner, steering, a follower) look them up on the trainer at each call, so
    wrapping the instance's attributes is enough; the trainer's class is unchanged.
    """
    for name in STEP_OPS:
        inner = getattr(trainer, name)

        def step(*args, _inner=inner, _name=name, **kwargs):
            with team.step(_name):
                return _inner(*args, **kwargs)

        step.__name__ = name
        step.__doc__ = inner.__doc__
        setattr(trainer, name, step)
