"""Looking at a run without changing it: isolated random streams and untouched BatchNorm buffers.

Read-outs, sample grids and probes happen at times that depend on the clock and the user. If they
consumed the training noise or moved BatchNorm statistics, a resumed run could not repeat an
uninterrupted one exactly, and a run would depend on how often someone looked at it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


@contextlib.contextmanager
def frozen_buffers(module: nn.Module) -> Iterator[None]:
    """Run ``module`` without letting it change its buffers (BatchNorm running statistics)."""
    saved = [b.detach().clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(module.buffers(), saved, strict=True):
                b.copy_(s)


@contextlib.contextmanager
def isolated_rng(generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Draw random numbers freely; afterwards ``generators`` and torch's CPU stream are as before."""
    states = [g.get_state() for g in generators]
    cpu_state = torch.get_rng_state()
    try:
        yield
    finally:
        for g, s in zip(generators, states, strict=True):
            g.set_state(s)
        torch.set_rng_state(cpu_state)
