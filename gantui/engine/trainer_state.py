"""What can be read from a trainer without training it: read-out windows, samples for display, and
the tensors that are its state (for checkpoints, rollbacks and the finiteness check).

A mixin of :class:`gantui.engine.trainer.Trainer`, kept apart so that the trainer's module holds the
game itself (set-up, steering, the D- and G-steps); these methods only read what the steps leave.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch
from torch import nn

from gantui.engine.readout import Layout, Window, heldout
from gantui.engine.rng import frozen_buffers, isolated_rng

if TYPE_CHECKING:
    from gantui.engine.trainer import Trainer

__all__ = ["TrainerState"]


class TrainerState:
    """Read-outs, display samples and state tensors of a :class:`~gantui.engine.trainer.Trainer`."""

    # ---------------------------------------------------------------------------- read-outs
    @property
    def has_pending_readout(self) -> bool:
        """Whether any step was taken since the last read-out."""
        return bool(self._n_d or self._n_g)

    @property
    def window_steps(self) -> tuple[int, int]:
        """(D-steps, G-steps) measured since the last read-out: which of the window's metrics exist."""
        return self._n_d, self._n_g

    def request_readout(self: Trainer) -> None:
        """Close the measurement window: means since the last read-out, plus held-out divergence bounds.

        Nothing here waits for the device; :meth:`ready_readouts` hands the window out once its values
        are on the host (on the CPU at once). The window's ``finite`` is 0.0 when a loss or any tensor
        of the state (parameters, buffers, optimiser state) was no longer finite at its end.
        """
        extra_names, extra = heldout(self)
        if self.ranks is not None:
            self.ranks.window(self._acc_d, self._acc_g)  # the means over every rank's share, in place
        # max |x| over every tensor of the state, optimisers' included: finite exactly when all of it is
        # (Adam's exp_avg_sq can overflow while every weight is still finite), with no host sync here.
        state = [x.detach() for x in self.live_tensors() if x.is_floating_point() and x.numel()]
        state_max = torch.stack([n.float() for n in torch._foreach_norm(state, ord=math.inf)]).max()
        flat = torch.cat([self._acc_d, self._acc_g, torch.stack([*extra, state_max])])
        layout = Layout(extra=tuple(extra_names), n_d=self._n_d, n_g=self._n_g,
                        penalty=self.loss.penalty is not None, critic=self.loss.critic)
        self._readouts.push(flat, layout, (self.step, self.d_steps, self.g_steps, time.monotonic()))
        self._acc_d.zero_()
        self._acc_g.zero_()
        self._n_d = self._n_g = 0

    def ready_readouts(self, *, wait: bool = False) -> list[Window]:
        """The closed windows whose values reached the host (with ``wait``: all of them), oldest first."""
        return self._readouts.ready(wait=wait)

    @property
    def pending_readouts(self) -> int:
        """Windows closed by :meth:`request_readout` and not yet handed out."""
        return self._readouts.pending

    def readout(self) -> dict[str, float]:
        """Close the window and wait for its values: exact and synchronous (tests, single steps).

        Windows closed earlier by :meth:`request_readout` stay queued for :meth:`ready_readouts`.
        """
        self.request_readout()
        return self._readouts.newest().values

    @property
    def shown_generator(self) -> str:
        """Which generator the sample grids show: "ema" when train.g_ema is on, else "g"."""
        return "g" if self.ema is None else "ema"

    @torch.no_grad()
    def generate(self, n: int | None = None, *, ema: bool = False,
                 latent: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> torch.Tensor:
        """Samples without touching the training noise stream or BatchNorm statistics: of the fixed noise
        batch (from the generator the grids show), of ``n`` fresh latents, or of a given ``latent``
        (z, c). ``ema``: from G's moving average (when train.g_ema is on) whatever the input."""
        model = self.ema.model if self.ema is not None and (ema or n is None) else self.G
        with frozen_buffers(model), isolated_rng(self.random_streams):
            if latent is None:
                latent = (self.fixed_noise, None) if n is None else self._latent(n)
            return self.cond.fake(model, *latent)

    @torch.no_grad()
    def d_probability(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) = sigmoid(v) for display, with no trace left in D."""
        return torch.sigmoid(self.d_scores(x))

    @torch.no_grad()
    def d_scores(self, x: torch.Tensor) -> torch.Tensor:
        """D's raw output v for display (a critic's score), with no trace left in D."""
        with frozen_buffers(self.D):
            return self.D(x).float()

    # --------------------------------------------------------------------------- snapshots
    @property
    def random_streams(self) -> list[torch.Generator]:
        """The generators training draws from: its noise, and the sampler's when it has one."""
        data = getattr(self.sampler, "generator", None)
        return [self.noise, data] if isinstance(data, torch.Generator) else [self.noise]

    def live_tensors(self) -> list[torch.Tensor]:
        """Every tensor that a training step changes: parameters, buffers, optimiser state."""
        return [t for _name, t in self.named_live_tensors()]

    def named_live_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """:meth:`live_tensors`, each named in the GAN's words for a message that says what blew up:
        "G parameter net.0.weight", "D buffer net.3.running_var", "D's optimiser state exp_avg_sq of
        net.2.weight"."""
        named: list[tuple[str, torch.Tensor]] = []
        for who, module in self.players():
            named += [(f"{who} parameter {n}", p) for n, p in module.named_parameters()]
            named += [(f"{who} buffer {n}", b) for n, b in module.named_buffers()]
        for who, opt, module in (("D", self.opt_d, self.D), ("G", self.opt_g, self.G)):
            names = {id(p): n for n, p in module.named_parameters()}
            for param, state in opt.state.items():
                of = names.get(id(param), "a parameter")
                named += [(f"{who}'s optimiser state {key} of {of}", v)
                          for key, v in state.items() if isinstance(v, torch.Tensor)]
        return named

    def players(self) -> list[tuple[str, nn.Module]]:
        """The modules whose tensors are the run's state: G, D and, when on, G's EMA."""
        out: list[tuple[str, nn.Module]] = [("G", self.G), ("D", self.D)]
        if self.ema is not None:
            out.append(("G's EMA", self.ema.model))
        return out

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(D's, G's) optimiser: the objects of now (a loss switch may replace them)."""
        return self.opt_d, self.opt_g

    def discard_window(self) -> None:
        """Forget what was measured since the last read-out (after a restore: it was the bad branch)."""
        self._acc_d.zero_()
        self._acc_g.zero_()
        self._n_d = self._n_g = 0
