"""Each rank's share of the work: its slice of the global batch and its own random streams.

``train.batch_size`` is the global batch: every rank trains on ``batch_size / world`` samples, and a
batch that does not divide is refused. Each rank draws its own real data and noise from streams
seeded by (seed, world size, rank, step), so ranks never draw the same samples and a run is
reproducible for a given world size. A world of one keeps the single-process streams exactly.

The fixed noise of the sample grids, the dataset itself (the fake images, a folder's order) and the
model's initial weights come from the run's seed alone, identical on every rank.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["StreamTable", "check_batch", "derive_seed", "give_streams", "stream_states", "take_streams"]

_STREAMS = {"noise": 1, "data": 2}
StreamTable = dict[str, list[torch.Tensor]]  # stream name -> one generator state per rank


def check_batch(batch_size: int, world: int, *, where: str = "train.batch_size") -> int:
    """The per-rank batch; ValueError (one line) when ``batch_size`` does not divide across ``world``."""
    if batch_size % world:
        lower = batch_size // world * world
        options = " or ".join(str(b) for b in (lower, lower + world) if b > 0)
        raise ValueError(f"{where} = {batch_size} does not divide across {world} ranks (the global batch "
                         f"is split evenly): use a multiple of {world}, e.g. {options}")
    return batch_size // world


def derive_seed(seed: int, stream: str, *, rank: int, world: int, step: int = 0) -> int:
    """A 64-bit seed for one rank's ``stream`` ("noise" or "data"), distinct for every argument."""
    words = np.random.SeedSequence([seed, world, rank, step, _STREAMS[stream]]).generate_state(2, np.uint32)
    return int(words[0]) << 32 | int(words[1])


def _generators(trainer) -> dict[str, torch.Generator]:
    out = {"noise": trainer.noise}
    data = getattr(trainer.sampler, "generator", None)
    if isinstance(data, torch.Generator):
        out["data"] = data
    return out


def give_streams(trainer, *, seed: int, rank: int, world: int, step: int = 0) -> None:
    """Seed this rank's training streams (a world of one keeps the single-process ones).

    A sampler that streams through a DataLoader reads only this rank's share of the set instead
    (every ``world``-th image), in its own shuffled order.
    """
    if world == 1:
        return
    for name, generator in _generators(trainer).items():
        generator.manual_seed(derive_seed(seed, name, rank=rank, world=world, step=step))
    shard = getattr(trainer.sampler, "shard", None)
    if callable(shard):
        data_seed = derive_seed(seed, "data", rank=rank, world=world, step=step) % 2**63
        shard(rank=rank, world=world, seed=data_seed)


def stream_states(trainer) -> dict[str, torch.Tensor]:
    """This rank's stream states (CPU uint8), by name."""
    return {name: g.get_state().cpu() for name, g in _generators(trainer).items()}


def take_streams(trainer, states: dict[str, torch.Tensor]) -> bool:
    """Put saved stream states back; False (nothing changed) when they do not fit these generators."""
    generators = _generators(trainer)
    if set(states) != set(generators):
        return False
    for name, generator in generators.items():
        state = states[name]
        if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8
                and state.shape == generator.get_state().shape):
            return False
    for name, generator in generators.items():
        generator.set_state(states[name])
    return True
