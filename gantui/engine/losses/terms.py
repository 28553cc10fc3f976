"""The loss terms of every non-f-GAN objective, as pure functions of D's raw outputs.

``v_real`` / ``v_fake`` are D's raw outputs on real and generated minibatches (a logit, or a critic
value), any shape with the batch first. Every term is a scalar batch mean and is *minimised*
(GAN_THEORY.md, "Losses on raw outputs"). Each family is a small frozen dataclass with three methods,
so that a configured variant (an LSGAN coding, say) is plain data that compares equal to itself.

Numerical stability: ``log σ(v) = −softplus(−v)`` and ``log(1 − σ(v)) = −softplus(v)`` are exact and
stay finite at any float32 logit; writing ``log(σ(v) + 1e-8)`` instead saturates (its gradient dies
once σ(v) underflows) and biases the loss. ``exp`` goes through :func:`exp_capped`.

No term calls ``.item()`` or branches on a tensor's value, so the trainer can capture them in a CUDA
graph and read them out only at log intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LN2 = math.log(2.0)

# exp(v) is evaluated exactly up to v = EXP_CAP and continued linearly above it. exp overflows float32
# at v ≈ 88.7, and a batch *sum* of values near that overflows sooner; exp(50) ≈ 5.2e21 leaves a
# factor of ~6e16 of headroom, so a mean over a million logits of 1e4 (the test's extreme) stays
# finite. The linear tail keeps the gradient at exp(50) instead of zero (a hard clamp would silence
# D exactly where it is most wrong). Logits above 50 mean odds of e^50 ≈ 5e21, so no useful training
# signal is changed. In a read-out the tail can only under-state a term whose true value exceeds 5e21,
# where the f-GAN bound is hugely negative and meaningless either way.
EXP_CAP = 50.0


def exp_capped(v: Tensor) -> Tensor:
    """``exp(v)`` for ``v ≤ EXP_CAP``; ``exp(EXP_CAP)·(1 + v − EXP_CAP)`` above (C¹, finite, monotone)."""
    capped = v.clamp(max=EXP_CAP)
    # Below the cap v − capped is 0 and this is exp(v) with gradient exp(v); above it the exp factor
    # is a constant and the gradient is exp(EXP_CAP).
    return torch.exp(capped) * (1.0 + (v - capped))


def bce_d_loss(v_real: Tensor, v_fake: Tensor) -> Tensor:
    """``L_D = E softplus(−v_r) + E softplus(v_f)`` = −V(D, G) of Goodfellow et al. (2014), Eq. 1."""
    return F.softplus(-v_real).mean() + F.softplus(v_fake).mean()


@dataclass(frozen=True)
class BCETerms:
    """The original game's D loss with one of three generator costs (NIPS 2016 tutorial, §3.2).

    ``g_cost`` is "minimax" (``E log(1 − D(G(z)))``: saturates when D rejects fakes), "nonsaturating"
    (``−E log D(G(z))``) or "maxlikelihood" (``−½ E exp(v_f)``, tutorial Eq. 14: minimising it moves G
    towards the data only with the minus sign).
    """

    g_cost: str

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return bce_d_loss(v_real, v_fake)

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        if self.g_cost == "minimax":
            return -F.softplus(v_fake).mean()
        if self.g_cost == "nonsaturating":
            return F.softplus(-v_fake).mean()
        if self.g_cost == "maxlikelihood":
            return -0.5 * exp_capped(v_fake).mean()
        raise ValueError(f"unknown BCE generator cost {self.g_cost!r}")

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        # V(D, G) = −L_D ≤ V(D*, G) = −log 4 + 2·JSD for any D, so JSD ≥ ln 2 − L_D/2. L_D ≥ 0 keeps it
        # ≤ ln 2; it is negative for a D worse than a coin, where 0 is the better (still valid) bound.
        jsd_bound = (LN2 - 0.5 * bce_d_loss(v_real, v_fake)).clamp(min=0.0)
        return {"jsd_bound": jsd_bound.detach()}


@dataclass(frozen=True)
class LeastSquaresTerms:
    """LSGAN (Mao et al. 2017): D regresses real outputs to ``b``, fakes to ``a``; G pulls fakes to ``c``."""

    a: float
    b: float
    c: float

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return 0.5 * (v_real - self.b).square().mean() + 0.5 * (v_fake - self.a).square().mean()

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        return 0.5 * (v_fake - self.c).square().mean()

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        # Pointwise, p(v − b)² + q(v − a)² is smallest at v = (bp + aq)/(p + q), where it equals
        # (b − a)² pq/(p + q). Since 4pq = (p + q)² − (p − q)², Σ pq/(p + q) = (2 − Δ)/4 with
        # Δ = Σ (p − q)²/(p + q) the triangular discrimination, so every D has
        # L_D ≥ (b − a)²(2 − Δ)/8, i.e. Δ ≥ 2 − 8 L_D/(b − a)².
        # Topsøe (2000, IEEE Trans. Inf. Theory 46:1602): Δ/2 ≤ 2·JSD ≤ (ln 2)·Δ. The left side gives
        # JSD ≥ Δ/4 ≥ ½ − 2 L_D/(b − a)²: a lower bound on the same JSD the BCE losses show, 0 at a
        # constant D, tight to first order at the optimal D as p_g → p_data (looser than BCE's far away).
        scale = (self.b - self.a) ** 2
        jsd_bound = (0.5 - 2.0 * self.d_loss(v_real, v_fake) / scale).clamp(min=0.0)
        return {"jsd_bound": jsd_bound.detach()}


def w_estimate(v_real: Tensor, v_fake: Tensor) -> Tensor:
    """``Ŵ = E v_r − E v_f``: the critic's Kantorovich–Rubinstein estimate (up to its Lipschitz scale)."""
    return (v_real.mean() - v_fake.mean()).detach()


@dataclass(frozen=True)
class WassersteinTerms:
    """WGAN / WGAN-GP (Arjovsky et al. 2017; Gulrajani et al. 2017). The Lipschitz constraint (weight
    clipping or the gradient penalty) is the trainer's job: it is not part of this loss."""

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return v_fake.mean() - v_real.mean()

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        return -v_fake.mean()

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        return {"w_estimate": w_estimate(v_real, v_fake)}


@dataclass(frozen=True)
class HingeTerms:
    """Hinge loss (Lim & Ye 2017; SN-GAN, SAGAN): D only cares about margins of 1; G is WGAN's."""

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return F.relu(1.0 - v_real).mean() + F.relu(1.0 + v_fake).mean()

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        return -v_fake.mean()

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        return {"w_estimate": w_estimate(v_real, v_fake)}


@dataclass(frozen=True)
class RelativisticTerms:
    """Relativistic standard GAN (``average=False``) and relativistic average GAN (``average=True``).

    Jolicoeur-Martineau (2018), "The relativistic discriminator": D estimates the probability that real
    data is *more realistic* than fake data. RSGAN pairs the i-th real with the i-th fake:
    ``L_D = E softplus(−(v_r − v_f))``, ``L_G = E softplus(−(v_f − v_r))``. RaGAN compares each sample
    with the other side's batch mean: ``L_D = E softplus(−(v_r − E v_f)) + E softplus(v_f − E v_r)`` and
    ``L_G`` the same with real and fake swapped. Both players need ``v_real``; G's gradient flows only
    through ``v_fake`` (the trainer may pass a detached ``v_real``).
    """

    average: bool

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        if self.average:
            return F.softplus(-(v_real - v_fake.mean())).mean() + F.softplus(v_fake - v_real.mean()).mean()
        v_real, v_fake = _paired(v_real, v_fake)
        return F.softplus(-(v_real - v_fake)).mean()

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        if v_real is None:
            raise ValueError("relativistic generator losses need v_real (D's outputs on a real batch)")
        if self.average:
            return F.softplus(-(v_fake - v_real.mean())).mean() + F.softplus(v_real - v_fake.mean()).mean()
        v_real, v_fake = _paired(v_real, v_fake)
        return F.softplus(-(v_fake - v_real)).mean()

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        # Nothing honest to show. The relativistic D is scored on *differences* (a pair, or a sample
        # against the other batch's mean), not on one function D(x) applied to both sides, so the BCE
        # argument "−L_D ≤ V(D*, G)" does not hold: a relativistic critic can push ln 2 − L_D/2 above
        # the true JSD (tests/test_losses.py has a two-point counterexample). Its own supremum is a
        # "relativistic divergence" (Jolicoeur-Martineau 2019) in different units, not the JSD.
        return {}


def _paired(v_real: Tensor, v_fake: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten both batches so (N, 1) and (N,) outputs pair element by element instead of broadcasting
    to an N × N table."""
    if v_real.numel() != v_fake.numel():
        raise ValueError(
            f"RSGAN pairs real and fake samples: got {v_real.numel()} real and {v_fake.numel()} fake outputs"
        )
    return v_real.reshape(-1), v_fake.reshape(-1)
