"""What a checkpoint says about the ranks that saved it, and how a resume on another number says so.

Kept free of torch.distributed so that the single-process session can read it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["saved_world", "world_change"]


def saved_world(state: dict[str, Any]) -> int:
    """How many data-parallel ranks saved the checkpoint ``state`` (1 for a single process)."""
    info = state.get("ranks")
    world = info.get("world") if isinstance(info, dict) else None
    return world if isinstance(world, int) and not isinstance(world, bool) and world >= 1 else 1


def world_change(saved: int, world: int, batch_size: int) -> str:
    """The log line of a resume on ``world`` ranks of a checkpoint saved by ``saved``."""
    def ranks(n: int) -> str:
        return "one process" if n == 1 else f"{n} ranks"

    return (f"{ranks(saved)} → {ranks(world)} (set on resume): the global batch stays {batch_size}, "
            f"{batch_size // saved} → {batch_size // world} samples per rank; "
            + ("rank 0 keeps its random streams, the others draw new ones" if world > 1 else
               "the run continues on rank 0's random streams"))
