"""The last good state of a run, kept on the device so that a blow-up can be undone in place.

The runner remembers it at every read-out that found everything finite, and restores it when a loss
or a parameter turns NaN or inf: the run pauses at that step instead of dying.
"""

from __future__ import annotations

import torch

from gantui.engine.trainer import Trainer


class GoodState:
    """Device-side copies of every tensor a training step changes, and the step counters with them."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] | None = None
        self.counters = (0, 0, 0)  # step, d_steps, g_steps

    @property
    def step(self) -> int:
        return self.counters[0]

    @torch.no_grad()
    def remember(self, trainer: Trainer) -> None:
        """Copy ``trainer``'s state into the saved tensors (allocated again only when shapes change).

        ``no_grad`` matters: copying a parameter (requires_grad) into a plain tensor under autograd
        records a CopyBackwards node on the copy, chained to the previous one on every read-out: an
        autograd graph that grew without bound (about 1 GB an hour on ring8 before this was found).
        """
        live = [x.detach() for x in trainer.live_tensors()]
        saved = self.tensors
        if saved is not None and len(saved) == len(live) and all(
                g.shape == x.shape and g.dtype == x.dtype for g, x in zip(saved, live, strict=True)):
            torch._foreach_copy_(saved, live)
        else:
            self.tensors = [x.clone() for x in live]
        self.counters = (trainer.step, trainer.d_steps, trainer.g_steps)

    @torch.no_grad()
    def restore(self, trainer: Trainer) -> None:
        """Put the saved state back into ``trainer`` (a no-op before the first remember)."""
        live = trainer.live_tensors()
        if self.tensors is None or len(self.tensors) != len(live):
            return
        torch._foreach_copy_(live, self.tensors)
        trainer.step, trainer.d_steps, trainer.g_steps = self.counters
