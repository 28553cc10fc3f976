"""The D-optimality probe converges to the true JSD for a fixed generator, from below, and says so."""

from __future__ import annotations

import math

import numpy as np
import torch

from gantui.engine.data import toy_distribution
from gantui.engine.metrics import jsd_covering, jsd_true
from gantui.engine.observe import JSD_SAMPLES
from gantui.engine.probe import FourierProbe, ProbeJob, probe_job, run_to_end
from gantui.engine.session import Session
from tests.engine_helpers import smoke_config


def ring_sources(seed: int, covered: int):
    ring = toy_distribution("ring8")
    means = torch.tensor(np.array(ring.means), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)

    def fake(n: int) -> torch.Tensor:  # a "generator" covering modes 0..covered-1 perfectly
        idx = torch.randint(0, covered, (n,), generator=gen)
        return means[idx] + ring.std * torch.randn(n, 2, generator=gen)

    return (lambda n: ring.sample(n, generator=gen)), fake


def fourier(seed: int = 0) -> FourierProbe:
    return FourierProbe(generator=torch.Generator().manual_seed(seed), device=torch.device("cpu"))


def test_probe_reaches_the_true_jsd_of_a_generator_missing_one_mode() -> None:
    torch.manual_seed(0)
    real, fake = ring_sources(1, covered=7)
    result = run_to_end(ProbeJob(fourier(), real, fake, max_steps=3000, budget_s=600))
    truth = jsd_covering(7, 8)  # 0.0454 nats (GAN_THEORY.md)
    assert abs(truth - 0.0454) < 1e-4
    # A lower bound: never above the truth beyond sampling noise, and tight once D ~ D*.
    assert truth - 0.008 < result.jsd < truth + 0.004, result
    assert result.converged and result.steps < 3000


def test_probe_of_a_perfect_generator_reads_zero() -> None:
    torch.manual_seed(0)
    real, fake = ring_sources(2, covered=8)
    result = run_to_end(ProbeJob(fourier(1), real, fake, max_steps=2000, budget_s=600))
    assert 0.0 <= result.jsd < 0.006
    assert result.jsd <= math.log(2)


def test_a_probe_that_hits_its_cap_says_it_did_not_converge() -> None:
    real, fake = ring_sources(3, covered=4)
    result = run_to_end(ProbeJob(fourier(2), real, fake, max_steps=50, budget_s=600))
    assert result.steps == 50 and not result.converged


def test_the_probe_advances_in_slices_and_adds_up_to_one_run() -> None:
    real, fake = ring_sources(4, covered=5)
    job = ProbeJob(fourier(3), real, fake, max_steps=400, budget_s=600)
    slices = 0
    while not job.advance(0.0):  # the smallest slice: one look at the bound each
        slices += 1
    assert job.result is not None and (job.result.steps == 400 or job.result.converged)
    assert slices >= 1  # it gave the loop back at least once before it was done


def test_with_g_frozen_the_probe_comes_within_005_nats_of_the_true_jsd_on_ring8() -> None:
    """Issue 10.16: after 2 000 ring8 iterations (true JSD ≈ 0.40 there), the probe must not read 0.3."""
    session = Session.create(
        smoke_config(
            "model.z_dim=16",
            "model.g_hidden=[128,128]",
            "model.d_hidden=[128,128]",
            "train.batch_size=256",
            "train.steps=0",
        ),
        write=False,
    )
    t = session.trainer
    for _ in range(2000):
        t.iteration()
    fake = t.generate(JSD_SAMPLES).numpy()
    toy = session.toy
    truth = jsd_true(fake, toy.means, toy.std, toy.weights)
    before = [p.detach().clone() for p in t.G.parameters()]
    result = run_to_end(probe_job(t, max_steps=4000, budget_s=120))
    assert abs(result.jsd - truth) < 0.05, (result, truth)
    assert result.converged and result.at_step == 2000
    assert all(torch.equal(a, b) for a, b in zip(before, t.G.parameters(), strict=True))  # the run untouched
