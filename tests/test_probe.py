"""The D-optimality probe converges to the true JSD for a fixed generator, from below."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from gantui.engine.data import toy_distribution
from gantui.engine.metrics import jsd_covering
from gantui.engine.probe import probe_jsd


def test_probe_reaches_the_true_jsd_of_a_generator_missing_one_mode() -> None:
    torch.manual_seed(0)
    ring = toy_distribution("ring8")
    means = torch.tensor(np.array(ring.means), dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)

    def fake(n: int) -> torch.Tensor:
        # A "generator" that covers modes 0..6 perfectly and drops mode 7.
        idx = torch.randint(0, 7, (n,), generator=gen)
        return means[idx] + ring.std * torch.randn(n, 2, generator=gen)

    def real(n: int) -> torch.Tensor:
        return ring.sample(n, generator=gen)

    probe = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2),
                          nn.Linear(64, 1), nn.Flatten(0))
    value = probe_jsd(probe, real, fake, steps=600, batch=512, lr=3e-3, eval_n=16384)
    truth = jsd_covering(7, 8)  # 0.0454 nats (GAN_THEORY.md)
    assert abs(truth - 0.0454) < 1e-4
    # A lower bound: never above the truth beyond sampling noise, and tight once D ~ D*.
    assert truth - 0.008 < value < truth + 0.004, value


def test_probe_of_a_perfect_generator_reads_zero() -> None:
    ring = toy_distribution("ring8")
    gen = torch.Generator().manual_seed(2)
    probe = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Flatten(0))
    value = probe_jsd(probe, lambda n: ring.sample(n, generator=gen), lambda n: ring.sample(n, generator=gen),
                      steps=100, eval_n=8192)
    assert 0.0 <= value < 0.005
    assert value <= math.log(2)
