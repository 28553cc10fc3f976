"""Rank 0's word to the other ranks: one small message before every step that all ranks take.

A message is 16 float64 numbers on the CPU (128 bytes, one gloo broadcast on the control group): what
to do next (:class:`Op`), rank 0's step counters (a follower whose own differ is out of step: a bug,
stopped loudly), and the live settings that step uses (k, loss, learning rates, frozen players, and a
count of optimiser resets). Every key the user presses changes one of these settings or asks for one
of these operations on rank 0; the other ranks see it in the message of the next step, so every rank
applies it at the same iteration boundary. Learning rates travel as float64: bitwise what rank 0 has.

Some operations carry bytes after the message (a checkpoint-shaped state, at the start, after a
rollback or a restore); they load with ``torch.load(weights_only=True)``, as checkpoints do.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gantui.config import LOSS_NAMES

__all__ = ["SLOTS", "STEP_OPS", "Channel", "Message", "Op", "Streams", "pack", "unpack"]

SLOTS = 16


class Op(enum.IntEnum):
    """What the ranks do next. The first four are trainer steps that every rank runs together."""

    ITERATION = 1
    D_STEP = 2
    G_STEP = 3
    READOUT = 4
    IDLE = 5  # rank 0 is paused or busy with something of its own: nothing to do, but still there
    CHECKPOINT = 6  # rank 0 saves: send it your random streams
    STATE = 7  # rank 0's state follows (a restore, a rollback, the start): take it
    STOP = 8  # the run ended: leave (``mode`` is rank 0's exit status)
    START = 9  # the run's configuration and rank 0's state follow
    ABORT = 10  # rank 0 could not start the run: leave with status ``mode``


class Streams(enum.IntEnum):
    """How a follower takes its random streams with a state from rank 0 (``Message.mode`` of STATE)."""

    KEEP = 0  # its own, as they are (a restore: rank 0 does not rewind its streams either)
    TABLE = 1  # its own as saved with the checkpoint (same world size): the run continues exactly
    DERIVE = 2  # new ones from (seed, world, rank, step): a new run, or another world size


STEP_OPS = {"iteration": Op.ITERATION, "d_step": Op.D_STEP, "g_step": Op.G_STEP,
            "request_readout": Op.READOUT}  # Trainer.readout closes its window through request_readout


@dataclass(frozen=True)
class Message:
    op: Op
    seq: int = 0
    step: int = 0
    d_steps: int = 0
    g_steps: int = 0
    k: int = 1
    loss: str = LOSS_NAMES[0]
    lr_d: float = 0.0
    lr_g: float = 0.0
    frozen_d: bool = False
    frozen_g: bool = False
    resets: int = 0  # optimiser resets so far (a loss switch with reset_optimizers)
    payload: int = 0  # bytes that follow
    mode: int = 0  # STATE: how to take the random streams; STOP, ABORT: the exit status

    @property
    def counters(self) -> tuple[int, int, int]:
        return self.step, self.d_steps, self.g_steps

    def encode(self) -> torch.Tensor:
        values = [self.op, self.seq, self.step, self.d_steps, self.g_steps, self.k,
                  LOSS_NAMES.index(self.loss), self.lr_d, self.lr_g, self.frozen_d, self.frozen_g,
                  self.resets, self.payload, self.mode]
        return torch.tensor(values + [0.0] * (SLOTS - len(values)), dtype=torch.float64)

    @classmethod
    def decode(cls, t: torch.Tensor) -> Message:
        v = t.tolist()
        i = [int(x) for x in v]
        return cls(op=Op(i[0]), seq=i[1], step=i[2], d_steps=i[3], g_steps=i[4], k=i[5],
                   loss=LOSS_NAMES[i[6]], lr_d=v[7], lr_g=v[8], frozen_d=bool(i[9]), frozen_g=bool(i[10]),
                   resets=i[11], payload=i[12], mode=i[13])


def pack(obj: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def unpack(data: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class Channel:
    """The control group seen as a one-way channel from rank 0 (plus a gather for the streams).

    Rank 0 does not wait for its messages to arrive: a message is queued (an asynchronous broadcast)
    and rank 0 goes on with the step; the ranks meet anyway in the step's first collective. At most
    ``PENDING`` messages are in flight; a failed send (a lost rank) is raised at the next message or
    at :meth:`flush`.
    """

    PENDING = 8

    def __init__(self, group) -> None:
        self.group = group
        self._buffer = torch.zeros(SLOTS, dtype=torch.float64)
        self._pending: list = []  # (work, tensor) of messages on their way

    def send(self, message: Message, payload: bytes = b"") -> None:
        if len(self._pending) >= self.PENDING:
            self.flush()
        tensor = message.encode()
        if payload:
            self.flush()
            dist.broadcast(tensor, src=0, group=self.group)
            dist.broadcast(torch.from_numpy(np.frombuffer(payload, dtype=np.uint8).copy()), src=0,
                           group=self.group)
            return
        self._pending.append((dist.broadcast(tensor, src=0, group=self.group, async_op=True), tensor))

    def flush(self) -> None:
        """Wait until every message sent so far has left (raises when a rank is lost)."""
        pending, self._pending = self._pending, []
        for work, _tensor in pending:
            work.wait()

    def receive(self) -> tuple[Message, bytes]:
        dist.broadcast(self._buffer, src=0, group=self.group)
        message = Message.decode(self._buffer)
        payload = b""
        if message.payload:
            data = torch.empty(message.payload, dtype=torch.uint8)
            dist.broadcast(data, src=0, group=self.group)
            payload = data.numpy().tobytes()
        return message, payload

    def gather(self, tensor: torch.Tensor, world: int) -> list[torch.Tensor]:
        """Every rank's ``tensor`` (same shape everywhere), in rank order."""
        self.flush()
        out = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(out, tensor.contiguous(), group=self.group)
        return out
