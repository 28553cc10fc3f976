"""The D-optimality probe: a tight read-out of JSD(p_data ‖ p_g) for the current generator.

For any discriminator, JSD ≥ (V(D, G) + log 4) / 2 = ln 2 − L_D / 2, with equality only at
D* = p_data / (p_data + p_g). The run's own D is rarely near D* (it is chasing a moving G), so the
bound it gives is loose. The probe freezes G, trains a copy of D towards D* with the BCE loss on
fresh samples, and reports the bound of that probe on a held-out batch: still a lower bound on the
true JSD, but a tight one when the probe converges. The run itself is left untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantui.engine.rng import frozen_buffers, isolated_rng

LN2 = math.log(2.0)
Sampler = Callable[[int], torch.Tensor]


def bce_sum(v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
    """L_D = E softplus(−v_r) + E softplus(v_f) = −V(D, G): the discriminator's BCE sum."""
    return F.softplus(-v_real).mean() + F.softplus(v_fake).mean()


def probe_jsd(probe: nn.Module, real: Sampler, fake: Sampler, *, steps: int, batch: int = 512,
              lr: float = 1e-3, eval_n: int = 8192) -> float:
    """Train ``probe`` (modified in place) towards D* and return its JSD lower bound in nats.

    ``real(n)`` and ``fake(n)`` return fresh samples; fake samples must come from a frozen G.
    """
    opt = torch.optim.Adam(probe.parameters(), lr=lr, betas=(0.5, 0.999))
    probe.train()
    for _ in range(steps):
        x, x_fake = real(batch), fake(batch)
        loss = bce_sum(probe(x), probe(x_fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        total, chunk = 0.0, 2048
        parts = []
        for start in range(0, eval_n, chunk):
            n = min(chunk, eval_n - start)
            parts.append(bce_sum(probe(real(n)), probe(fake(n))) * n)
        total = float(torch.stack(parts).sum()) / eval_n
    return max(0.0, LN2 - total / 2.0)


def probe_trainer(trainer, *, steps: int) -> float:
    """Probe the trainer's current G, warm-starting from a copy of its D; the run is untouched."""
    probe = copy.deepcopy(trainer.D)
    for p in probe.parameters():
        p.requires_grad_(True)

    def fake(n: int) -> torch.Tensor:
        with torch.no_grad():
            return trainer.G(trainer._noise(n))

    with frozen_buffers(trainer.G), isolated_rng(trainer.random_streams):
        return probe_jsd(probe, trainer.sampler.sample, fake, steps=steps)
