"""f-GAN (Nowozin, Cseke & Tomioka 2016): variational lower bounds on f-divergences D_f(P_data ‖ Q_g).

For a convex f with Fenchel conjugate f*, every critic T gives
``D_f(P ‖ Q) ≥ E_P T(x) − E_Q f*(T(x))``, with equality at ``T* = f'(p/q)``. The critic is
``T = g_f(v)``: an output activation ``g_f`` maps D's raw output into the domain of f*. Each row below
stores ``g_f`` and the composite ``f*(g_f(v))`` in a closed form that needs no ``log`` of something that
can round to 0 and no ``exp`` that can overflow (GAN_THEORY.md, f-GAN rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gantui.engine.losses.terms import LN2, exp_capped


def _kl_activation(v: Tensor) -> Tensor:
    return v


def _kl_conjugate(v: Tensor) -> Tensor:
    return exp_capped(v - 1.0)  # f*(t) = exp(t − 1)


def _rkl_activation(v: Tensor) -> Tensor:
    return -exp_capped(-v)


def _rkl_conjugate(v: Tensor) -> Tensor:
    return v - 1.0  # f*(t) = −1 − log(−t) at t = −exp(−v)


def _pearson_activation(v: Tensor) -> Tensor:
    return v


def _pearson_conjugate(v: Tensor) -> Tensor:
    return 0.25 * v.square() + v  # f*(t) = t²/4 + t


def _one_minus_exp_neg(v: Tensor) -> Tensor:
    return 1.0 - exp_capped(-v)  # the Neyman and Hellinger activation, < 1 as their f* domains need


def _neyman_conjugate(v: Tensor) -> Tensor:
    return 2.0 - 2.0 * exp_capped(-0.5 * v)  # f*(t) = 2 − 2√(1 − t) at t = 1 − exp(−v)


def _hellinger_conjugate(v: Tensor) -> Tensor:
    return exp_capped(v) - 1.0  # f*(t) = t/(1 − t) at t = 1 − exp(−v)


def _js_activation(v: Tensor) -> Tensor:
    return LN2 - F.softplus(-v)  # = log(2σ(v))


def _js_conjugate(v: Tensor) -> Tensor:
    return F.softplus(v) - LN2  # f*(t) = −log(2 − exp t) at t = log(2σ(v))


def _tv_activation(v: Tensor) -> Tensor:
    return 0.5 * torch.tanh(v)


def _tv_conjugate(v: Tensor) -> Tensor:
    return 0.5 * torch.tanh(v)  # f*(t) = t on |t| ≤ ½


@dataclass(frozen=True)
class FDivergence:
    """One f-GAN row: the output activation ``g_f`` and ``f*(g_f(v))`` as functions of the raw output."""

    name: str
    activation: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]


F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence("Kullback–Leibler", _kl_activation, _kl_conjugate),
    "rkl": FDivergence("reverse KL", _rkl_activation, _rkl_conjugate),
    "pearson": FDivergence("Pearson χ²", _pearson_activation, _pearson_conjugate),
    "neyman": FDivergence("Neyman χ²", _one_minus_exp_neg, _neyman_conjugate),
    "hellinger": FDivergence("squared Hellinger", _one_minus_exp_neg, _hellinger_conjugate),
    "js": FDivergence("Jensen–Shannon (2·JSD)", _js_activation, _js_conjugate),
    "tv": FDivergence("total variation", _tv_activation, _tv_conjugate),
}

FGAN_G_COSTS = ("practical", "saddle")


@dataclass(frozen=True)
class FGANTerms:
    """The f-GAN game for one divergence.

    D minimises ``−E g_f(v_r) + E f*(g_f(v_f))`` (the negated bound). G's cost is either the saddle
    point's ``−E f*(g_f(v_f))`` or, by default, the paper's practical ``−E g_f(v_f)`` (its §3.2: the
    same fixed point with stronger gradients early on, as the non-saturating GAN cost is to minimax).
    """

    divergence: str
    g_cost: str = "practical"

    @property
    def rows(self) -> FDivergence:
        return F_DIVERGENCES[self.divergence]

    def bound(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        """``E g_f(v_r) − E f*(g_f(v_f))``: a lower bound on D_f for any D, equal to D_f at T*."""
        return self.rows.activation(v_real).mean() - self.rows.conjugate(v_fake).mean()

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return -self.bound(v_real, v_fake)

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        if self.g_cost == "practical":
            return -self.rows.activation(v_fake).mean()
        if self.g_cost == "saddle":
            return -self.rows.conjugate(v_fake).mean()
        raise ValueError(f"unknown f-GAN generator cost {self.g_cost!r}; expected one of {FGAN_G_COSTS}")

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        fdiv_bound = self.bound(v_real, v_fake).detach()
        if self.divergence != "js":
            return {"fdiv_bound": fdiv_bound}
        # This row's f gives 2·JSD, so half the bound bounds the JSD itself (in nats, ≤ ln 2).
        return {"fdiv_bound": fdiv_bound, "jsd_bound": (0.5 * fdiv_bound).clamp(min=0.0)}
