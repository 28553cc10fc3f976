"""Every GAN objective gantui offers, by name: what it computes, how the trainer must treat it, and the
optimiser settings its paper recommends.

D always returns raw outputs ``v``; a :class:`Loss` interprets them. That is what lets the user switch
losses mid-run (GAN_THEORY.md): the trainer asks the new entry for its terms, its penalty and whether
to clip, and keeps everything else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from torch import Tensor

from gantui.engine.losses.fgan import FGAN_G_COSTS, FGANTerms
from gantui.engine.losses.terms import (
    BCETerms,
    HingeTerms,
    LeastSquaresTerms,
    RelativisticTerms,
    WassersteinTerms,
)

FAMILIES = ("bce", "lsgan", "wgan", "hinge", "fgan", "relativistic")
PENALTIES = ("wgan-gp", "dragan")
LSGAN_CODINGS: dict[str, tuple[float, float, float]] = {
    "0-1-1": (0.0, 1.0, 1.0),  # (a, b, c): fakes → 0, reals → 1, G aims at 1 (the common choice)
    "-1-1-0": (-1.0, 1.0, 0.0),  # b − c = 1, b − a = 2: G then minimises a Pearson χ² (Mao et al., §3.2)
}


class Terms(Protocol):
    """What a family computes from D's raw outputs (see :mod:`gantui.engine.losses.terms`)."""

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor: ...
    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor: ...
    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]: ...


@dataclass(frozen=True)
class OptimizerHint:
    """Settings a loss's paper recommends, offered by the dashboard when the user picks the loss.

    ``betas`` is None for RMSProp. ``gp_weight`` (λ) and ``clip`` are set only where they apply.
    """

    optimizer: str
    lr_d: float
    lr_g: float
    betas: tuple[float, float] | None
    k: int
    gp_weight: float | None = None
    clip: float | None = None
    note: str = ""

    def as_overrides(self) -> dict[str, Any]:
        """The hint as ``section.key`` overrides of :data:`gantui.config.SCHEMA` (for ``--set`` / presets)."""
        out: dict[str, Any] = {"train.optimizer": self.optimizer, "train.lr_d": self.lr_d,
                               "train.lr_g": self.lr_g, "train.k": self.k}
        if self.betas is not None:
            out["train.beta1"], out["train.beta2"] = self.betas
        if self.gp_weight is not None:
            out["loss.gp_weight"] = self.gp_weight
        if self.clip is not None:
            out["loss.clip"] = self.clip
        return out


@dataclass(frozen=True)
class Loss:
    """One registered GAN objective.

    ``d_loss`` and ``g_loss`` are scalar batch means, minimised by D and G; neither includes a gradient
    penalty (``penalty`` names the one the trainer adds, weighted by λ) nor weight clipping
    (``clip_weights``). ``critic`` says that raw outputs are critic values rather than logits, so the
    dashboard should show their means instead of σ(v). ``readout`` gives the divergence read-out for a
    held-out batch as 0-dim tensors (no device sync).
    """

    name: str
    description: str
    family: str
    terms: Terms
    hint: OptimizerHint
    penalty: str | None = None
    clip_weights: bool = False
    needs_real_in_g: bool = False
    critic: bool = False

    def d_loss(self, v_real: Tensor, v_fake: Tensor) -> Tensor:
        return self.terms.d_loss(v_real, v_fake)

    def g_loss(self, v_fake: Tensor, v_real: Tensor | None = None) -> Tensor:
        return self.terms.g_loss(v_fake, v_real)

    def readout(self, v_real: Tensor, v_fake: Tensor) -> dict[str, Tensor]:
        return self.terms.readout(v_real, v_fake)


# The defaults of GAN_THEORY.md ("Sensible defaults": DCGAN's Adam) wherever a loss's paper adds nothing.
_ADAM = OptimizerHint("adam", 2e-4, 2e-4, (0.5, 0.999), 1)
_WGAN = OptimizerHint("rmsprop", 5e-5, 5e-5, None, 5, clip=0.01, note="clip weights to ±0.01, batch 64")
_WGAN_GP = OptimizerHint("adam", 1e-4, 1e-4, (0.5, 0.9), 5, gp_weight=10.0,
                         note="λ = 10 (toy 2-D: 0.1); betas (0, 0.9) also used; no BatchNorm in the critic")
_DRAGAN = dataclasses.replace(_ADAM, gp_weight=10.0, note="λ = 10; perturbations of 0.5·std around real data")


def _fgan(name: str, divergence: str, description: str) -> Loss:
    # v is a logit (σ(v) = D*) only for the JS row, where g_f(v) = log 2σ(v).
    return Loss(name, description, "fgan", FGANTerms(divergence), _ADAM, critic=divergence != "js")


_ENTRIES = (
    Loss("minimax", "Minimax: G minimises log(1 − D(G(z))) (the paper's Eq. 1); saturates early",
         "bce", BCETerms("minimax"), _ADAM),
    Loss("nonsaturating", "Non-saturating: G maximises log D(G(z)); the paper's practical choice",
         "bce", BCETerms("nonsaturating"), _ADAM),
    Loss("maxlikelihood", "Maximum likelihood: G minimises −½ E exp(logit) (NIPS 2016 tutorial, Eq. 14)",
         "bce", BCETerms("maxlikelihood"), _ADAM),
    Loss("lsgan", "Least squares (LSGAN): D regresses reals to b and fakes to a; G pulls fakes to c",
         "lsgan", LeastSquaresTerms(*LSGAN_CODINGS["0-1-1"]), _ADAM, critic=True),
    Loss("wgan", "Wasserstein: critic maximises E v_r − E v_f under weight clipping",
         "wgan", WassersteinTerms(), _WGAN, clip_weights=True, critic=True),
    Loss("wgan-gp", "WGAN-GP: Wasserstein critic with a gradient penalty instead of clipping",
         "wgan", WassersteinTerms(), _WGAN_GP, penalty="wgan-gp", critic=True),
    Loss("hinge", "Hinge: D penalised inside a margin of 1; G maximises E v_f (SN-GAN, SAGAN)",
         "hinge", HingeTerms(), _ADAM, critic=True),
    Loss("dragan", "DRAGAN: minimax D with a gradient penalty near real data; non-saturating G",
         "bce", BCETerms("nonsaturating"), _DRAGAN, penalty="dragan"),
    _fgan("fgan-kl", "kl", "f-GAN, Kullback–Leibler KL(P_data ‖ P_g): mean-seeking"),
    _fgan("fgan-rkl", "rkl", "f-GAN, reverse KL(P_g ‖ P_data): mode-seeking"),
    _fgan("fgan-pearson", "pearson", "f-GAN, Pearson χ² divergence"),
    _fgan("fgan-neyman", "neyman", "f-GAN, Neyman χ² divergence"),
    _fgan("fgan-hellinger", "hellinger", "f-GAN, squared Hellinger distance"),
    _fgan("fgan-js", "js", "f-GAN, Jensen–Shannon (bounds 2·JSD; σ(v) is D as in the original GAN)"),
    _fgan("fgan-tv", "tv", "f-GAN, total variation distance"),
    Loss("rsgan", "Relativistic standard GAN: D judges whether a real is more realistic than a paired fake",
         "relativistic", RelativisticTerms(average=False), _ADAM, needs_real_in_g=True, critic=True),
    Loss("ragan", "Relativistic average GAN: each sample is judged against the other side's batch mean",
         "relativistic", RelativisticTerms(average=True), _ADAM, needs_real_in_g=True, critic=True),
)

LOSSES: Mapping[str, Loss] = MappingProxyType({loss.name: loss for loss in _ENTRIES})


def describe(loss: Loss, *, gp_weight: float, clip: float, lsgan_coding: str, fgan_g: str) -> str:
    """The loss's description with the values this run uses (λ, the clip, the coding), not the paper's."""
    extra = []
    if loss.penalty is not None:
        extra.append(f"λ = {gp_weight:g}")
    if loss.clip_weights:
        extra.append(f"weights clipped to ±{clip:g}")
    if loss.family == "lsgan":
        extra.append(f"coding a-b-c = {lsgan_coding}")
    if loss.family == "fgan":
        extra.append(f"G cost: {fgan_g}")
    return loss.description + (f" ({', '.join(extra)})" if extra else "")


def configure(name: str, *, lsgan_coding: str = "0-1-1", fgan_g: str = "practical") -> Loss:
    """The registry entry ``name`` with the config's ``loss.lsgan_coding`` and ``loss.fgan_g`` applied.

    Options that do not concern ``name`` are ignored (the config always carries both), so the trainer
    can call ``configure(cfg.loss.name, lsgan_coding=..., fgan_g=...)`` for any loss. With the default
    options the result equals ``LOSSES[name]``.
    """
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    if lsgan_coding not in LSGAN_CODINGS:
        raise ValueError(f"unknown LSGAN coding {lsgan_coding!r}; expected one of {', '.join(LSGAN_CODINGS)}")
    if fgan_g not in FGAN_G_COSTS:
        raise ValueError(f"unknown f-GAN G cost {fgan_g!r}; expected one of {', '.join(FGAN_G_COSTS)}")
    loss = LOSSES[name]
    if loss.family == "lsgan":
        return dataclasses.replace(loss, terms=LeastSquaresTerms(*LSGAN_CODINGS[lsgan_coding]))
    if loss.family == "fgan":
        assert isinstance(loss.terms, FGANTerms)
        return dataclasses.replace(loss, terms=FGANTerms(loss.terms.divergence, fgan_g))
    return loss
