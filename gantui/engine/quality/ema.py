"""An exponential moving average of G's weights, the generator StyleGAN and BigGAN evaluate.

After each G-step the shadow weights move towards G's: ``θ_ema ← θ_ema + (1 − β)(θ − θ_ema)``, one
``torch._foreach_lerp_`` over every parameter (a device kernel, no host synchronisation; with a
constant β it can sit inside a captured CUDA graph), and the buffers (BatchNorm running statistics,
spectral-norm vectors) are copied. β = 0.999 averages over about the last 1 / (1 − β) = 1 000 G-steps,
which smooths the oscillation of the game; β = 0 is G itself and β = 1 never moves.

The shadow is a separate module on G's device: generating from it (:meth:`EMA.generate`) touches
neither G's BatchNorm statistics nor any training random stream. Its ``state_dict`` holds the
shadow's weights and β, for checkpoints.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from gantui.engine.rng import frozen_buffers


class EMA:
    """A shadow copy of ``model`` whose weights trail it by an exponential moving average."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not (math.isfinite(decay) and 0.0 <= decay <= 1.0):
            raise ValueError(f"EMA decay {decay!r}: expected a number from 0 to 1")
        self.decay = float(decay)
        self.source = model
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.updates = 0
        self._bind()

    def _bind(self) -> None:
        self._src = [p.detach() for p in self.source.parameters()]
        self._dst = [p.detach() for p in self.model.parameters()]
        self._src_buffers = list(self.source.buffers())
        self._dst_buffers = list(self.model.buffers())
        if [p.shape for p in self._src] != [p.shape for p in self._dst]:
            raise ValueError("the EMA shadow and its generator have different parameters")

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average (call after each G-step)."""
        self.device_update()
        self.updates += 1

    @torch.no_grad()
    def device_update(self) -> None:
        """The device work of :meth:`update` alone, for a captured CUDA graph (count with ``updates``)."""
        if self._dst:
            torch._foreach_lerp_(self._dst, self._src, 1.0 - self.decay)
        if self._dst_buffers:
            torch._foreach_copy_(self._dst_buffers, self._src_buffers)

    @torch.no_grad()
    def reset(self) -> None:
        """Make the shadow equal to the generator again (after a rollback to weights it never saw)."""
        torch._foreach_copy_(self._dst, self._src)
        if self._dst_buffers:
            torch._foreach_copy_(self._dst_buffers, self._src_buffers)

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        """Images from the shadow for noise ``z``, leaving every buffer of it (and of G) untouched."""
        with frozen_buffers(self.model):
            return self.model(z)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved shadow (strict: a shadow of another architecture is refused)."""
        self.model.load_state_dict(state["model"])
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self._bind()

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [*self._dst, *self._dst_buffers])
