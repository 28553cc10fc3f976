"""Who this process is in a data-parallel run, and the two process groups it talks on.

A launcher (``torchrun``, or ``gantui --gpus N`` through torch's own launcher API) starts one process
per rank and says in the environment which one each is (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). :func:`launched` reads that without importing torch, so the CLI can
tell a rank from a plain run before paying for the import.

:func:`join` makes two groups. The *data* group carries the gradients and the window's metrics: NCCL
between GPUs, gloo between CPU processes. The *control* group is always gloo on CPU tensors: rank 0's
per-iteration message (:mod:`~gantui.engine.distributed.control`) goes through it, so reading that
message never waits for a GPU stream. Every operation on either group gives up after ``timeout_s``
(``GANTUI_DIST_TIMEOUT_S``, default 30 minutes as gloo's own); a rank whose process ends is noticed at
once (its sockets close), long before that.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["TIMEOUT_ENV", "Place", "Ranks", "join", "launched", "timeout_s"]

TIMEOUT_ENV = "GANTUI_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800.0
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class LaunchError(ValueError):
    """The launcher's environment does not describe a usable rank (one line)."""


@dataclass(frozen=True)
class Place:
    """This process's rank among ``world``, and its index on its own machine (its GPU)."""

    rank: int
    world: int
    local_rank: int

    @property
    def leads(self) -> bool:
        return self.rank == 0


def launched(environ: dict[str, str] | None = None) -> Place | None:
    """The rank a launcher gave this process, or None for a plain ``gantui`` (no torch imported)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", env["RANK"]))
    except ValueError:
        shown = ", ".join(f"{k}={env.get(k, '')!r}" for k in _ENV)
        raise LaunchError(f"the launcher's environment is not a rank ({shown})") from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise LaunchError(f"RANK={rank} of WORLD_SIZE={world}: not a rank of that world")
    return Place(rank=rank, world=world, local_rank=local)


def timeout_s(environ: dict[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    raw = env.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise LaunchError(f"{TIMEOUT_ENV}={raw!r}: expected seconds") from None
    if not 1.0 <= value <= 86400.0:
        raise LaunchError(f"{TIMEOUT_ENV}={raw!r}: expected 1 to 86400 seconds")
    return value


@dataclass
class Ranks:
    """The joined groups of one process. ``data`` None means the default (world) group."""

    place: Place
    backend: str
    control: Any
    data: Any = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def rank(self) -> int:
        return self.place.rank

    @property
    def world(self) -> int:
        return self.place.world

    def leave(self) -> None:
        """Tear the groups down; the other ranks' next collective fails at once (their sockets close)."""
        import torch.distributed as dist

        if not dist.is_initialized():
            return
        with contextlib.suppress(Exception):
            if "nccl" in self.backend:  # a collective stuck on a GPU stream is freed only by an abort
                dist.distributed_c10d._abort_process_group()
            else:
                dist.destroy_process_group()


def join(place: Place, *, timeout: float | None = None) -> Ranks:
    """Join the run's process groups (every rank calls this once, before anything else collective).

    With CUDA present the data group has two backends, NCCL for CUDA tensors and gloo for CPU ones
    (torch picks by the tensor's device), so every rank can join before rank 0 has read the
    configuration that says where the run trains; NCCL connects lazily, at the first CUDA collective.
    """
    import torch
    import torch.distributed as dist

    seconds = timeout_s() if timeout is None else timeout
    delta = datetime.timedelta(seconds=seconds)
    backend = "gloo"
    if torch.cuda.is_available() and place.local_rank < torch.cuda.device_count():
        torch.cuda.set_device(place.local_rank)  # "auto" and "cuda" now mean this rank's own GPU
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend, rank=place.rank, world_size=place.world, timeout=delta)
    control = dist.new_group(backend="gloo", timeout=delta)
    return Ranks(place=place, backend=backend, control=control, timeout_s=seconds)
