"""What a run is conditioned on, as one object the trainer asks: the condition of each batch, how the
players take it, and the extra terms of each player's cost.

The trainer has one path for every run (``gantui.engine.trainer``): it draws a real batch and its
labels (``real``), G's latent z and the condition c of the fakes (``condition``), generates
(``fake``), scores with D (``judge``: raw v, and the auxiliary head's output), and adds whatever
``d_term`` and ``g_term`` return to the loss's own costs. :class:`Unconditioned` returns None for every
extra and calls G(z) and D(x) exactly as before, so an unconditional run's numbers do not change.

- :class:`ClassCondition` (a conditional GAN): c is the class label y. A real batch comes with its
  labels from the sampler (one index draw); a fake's label is drawn from the data's class frequencies
  p(y) (inverse CDF of one uniform per sample on the training noise stream: device work only, so a
  CUDA graph captures it and replays draw fresh labels). D uses y by projection, concatenation, or
  (AC-GAN) not at all but through a class head whose cross-entropy both players minimise.
- :class:`InfoCondition` (InfoGAN): c = [one-hot categorical value, continuous codes], drawn from p(c)
  (uniform values, U(−1, 1) codes) on the noise stream; D does not see c, its Q head recovers it, and
  λ·E[−log Q(c|x)] joins both players' costs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor, nn

from gantui.engine.cond import terms
from gantui.engine.cond.nets import (
    ConcatDiscriminator,
    ConditionalDiscriminator,
    build_base_discriminator,
    build_generator,
    class_head,
    one_hot,
    q_head,
    split_discriminator,
)
from gantui.engine.data.images import DataError
from gantui.engine.losses import Loss
from gantui.engine.models import build_models
from gantui.text import printable

__all__ = ["ClassCondition", "InfoCondition", "Unconditioned", "build_condition"]


class Unconditioned:
    """An unconditional run: G(z), D(x), no extra term."""

    kind = "none"
    active = False
    classes: tuple[str, ...] = ()

    def build_models(self, model_cfg: Any, *, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        return build_models(model_cfg, data_shape=data_shape)

    def real(self, sampler: Any, n: int) -> tuple[Tensor, Tensor | None]:
        return sampler.sample(n), None

    def condition(self, n: int, generator: torch.Generator) -> Tensor | None:
        return None

    def fake(self, G: nn.Module, z: Tensor, c: Tensor | None) -> Tensor:
        return G(z)

    def judge(self, D: nn.Module, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        return D(x).float(), None

    def score(self, D: nn.Module, x: Tensor, c: Tensor | None) -> Tensor:
        return D(x)

    def d_term(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
               c_fake: Tensor | None) -> Tensor | None:
        return None

    def g_term(self, aux_fake: Tensor | None, c_fake: Tensor | None) -> Tensor | None:
        return None

    def readout(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
                c_fake: Tensor | None) -> dict[str, Tensor]:
        return {}

    def describe(self, loss: Loss) -> Loss:
        return loss


class _Conditioned(Unconditioned):
    """What both conditional kinds share: G(z, c), D(x, c) and D's auxiliary output."""

    active = True

    def fake(self, G: nn.Module, z: Tensor, c: Tensor | None) -> Tensor:
        return G(z, c)

    def judge(self, D: nn.Module, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        v, aux = D.judge(x, c)
        return v.float(), (aux.float() if aux is not None else None)

    def score(self, D: nn.Module, x: Tensor, c: Tensor | None) -> Tensor:
        return D(x, c)

    def labels_of(self, c: Tensor) -> Tensor:
        """The grid row of each sample: its class, or its categorical code's value."""
        raise NotImplementedError

    @property
    def summary(self) -> str:
        raise NotImplementedError


class ClassCondition(_Conditioned):
    """A conditional GAN on the sampler's K classes; ``d_mode`` is projection, concat or acgan."""

    kind = "cgan"

    def __init__(self, classes: tuple[str, ...], prior: Tensor, *, d_mode: str, embed_dim: int,
                 class_weight: float) -> None:
        self.classes = tuple(classes)
        self.n = len(self.classes)
        self.d_mode = d_mode
        self.embed_dim = embed_dim or self.n
        self.class_weight = class_weight
        prior = prior.double() / prior.sum()
        self.cdf = torch.cumsum(prior, 0).float()  # on the training device: labels are drawn there

    def build_models(self, model_cfg: Any, *, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        G = build_generator(model_cfg, data_shape=data_shape, extra_inputs=self.embed_dim, classes=self.n,
                            embed_dim=self.embed_dim)
        sn = bool(model_cfg.spectral_norm)
        if self.d_mode == "concat":
            base = build_base_discriminator(model_cfg, data_shape=data_shape, label_inputs=self.n)
            return G, ConcatDiscriminator(base, classes=self.n, flat=model_cfg.name != "dcgan")
        base = build_base_discriminator(model_cfg, data_shape=data_shape)
        if self.d_mode == "projection":
            return G, ConditionalDiscriminator(base, projection_classes=self.n, spectral_norm=sn)
        features = split_discriminator(base)[2]
        return G, ConditionalDiscriminator(base, aux=class_head(features, self.n, sn))

    def real(self, sampler: Any, n: int) -> tuple[Tensor, Tensor | None]:
        return sampler.sample_labelled(n)

    def condition(self, n: int, generator: torch.Generator) -> Tensor:
        """n labels from the data's class frequencies: inverse CDF of one uniform each."""
        u = torch.rand(n, device=self.cdf.device, generator=generator)
        return torch.searchsorted(self.cdf, u, right=True).clamp_(max=self.n - 1)

    def d_term(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
               c_fake: Tensor | None) -> Tensor | None:
        if self.d_mode != "acgan":
            return None
        assert aux_real is not None and aux_fake is not None and y_real is not None and c_fake is not None
        return terms.acgan_d_cost(aux_real, y_real, aux_fake, c_fake, weight=self.class_weight)

    def g_term(self, aux_fake: Tensor | None, c_fake: Tensor | None) -> Tensor | None:
        if self.d_mode != "acgan":
            return None
        assert aux_fake is not None and c_fake is not None
        return terms.acgan_g_cost(aux_fake, c_fake, weight=self.class_weight)

    def readout(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
                c_fake: Tensor | None) -> dict[str, Tensor]:
        if self.d_mode != "acgan" or aux_real is None or aux_fake is None:
            return {}
        assert y_real is not None and c_fake is not None
        return {"ac_real": terms.class_accuracy(aux_real, y_real),
                "ac_fake": terms.class_accuracy(aux_fake, c_fake)}

    def describe(self, loss: Loss) -> Loss:
        how = {"projection": "D(x, y) = ψ(φ(x)) + embed(y)ᵀφ(x) (projection)",
               "concat": "D sees x beside y's one-hot (concatenation)",
               "acgan": f"AC-GAN: both players also minimise {self.class_weight:g}·CE of D's class head "
                        "(D on real and fake, G on fake)"}[self.d_mode]
        return dataclasses.replace(loss, description=f"{loss.description}; conditional on y: G(z, y), {how}")

    def labels_of(self, c: Tensor) -> Tensor:
        return c

    @property
    def summary(self) -> str:
        return f"a conditional GAN on {self.n} classes (D: {self.d_mode})"


class InfoCondition(_Conditioned):
    """InfoGAN: a ``categories``-valued code and ``continuous`` U(−1, 1) codes, recovered by Q."""

    kind = "infogan"

    def __init__(self, *, categories: int, continuous: int, lambda_cat: float, lambda_cont: float,
                 device: torch.device) -> None:
        self.categories, self.continuous = categories, continuous
        self.lambda_cat, self.lambda_cont = lambda_cat, lambda_cont
        self.code_dim = categories + continuous
        self.classes = tuple(f"c={i}" for i in range(categories))
        self.device = device

    @property
    def entropy(self) -> float:
        """H(c) of the categorical code, in nats: mi_bound's ceiling."""
        return terms.code_entropy(self.categories)

    def build_models(self, model_cfg: Any, *, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        G = build_generator(model_cfg, data_shape=data_shape, extra_inputs=self.code_dim,
                            categories=self.categories, code_dim=self.code_dim)
        base = build_base_discriminator(model_cfg, data_shape=data_shape)
        features = split_discriminator(base)[2]
        outputs = terms.q_outputs(self.categories, self.continuous)
        aux = q_head(features, outputs, bool(model_cfg.spectral_norm))
        return G, ConditionalDiscriminator(base, aux=aux)

    def condition(self, n: int, generator: torch.Generator) -> Tensor:
        """c ~ p(c): a uniform categorical value (one-hot) and U(−1, 1) continuous codes."""
        parts = []
        if self.categories:
            value = torch.randint(self.categories, (n,), device=self.device, generator=generator)
            parts.append(one_hot(value, self.categories))
        if self.continuous:
            parts.append(torch.rand(n, self.continuous, device=self.device, generator=generator) * 2.0 - 1.0)
        return torch.cat(parts, dim=1)

    def judge(self, D: nn.Module, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        return super().judge(D, x, None)  # D does not see the code: Q must recover it

    def score(self, D: nn.Module, x: Tensor, c: Tensor | None) -> Tensor:
        return D(x)

    def _cost(self, q: Tensor | None, code: Tensor | None) -> Tensor:
        assert q is not None and code is not None
        return terms.info_cost(q, code, categories=self.categories, continuous=self.continuous,
                               lambda_cat=self.lambda_cat, lambda_cont=self.lambda_cont)

    def d_term(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
               c_fake: Tensor | None) -> Tensor:
        return self._cost(aux_fake, c_fake)

    def g_term(self, aux_fake: Tensor | None, c_fake: Tensor | None) -> Tensor:
        return self._cost(aux_fake, c_fake)

    def readout(self, aux_real: Tensor | None, y_real: Tensor | None, aux_fake: Tensor | None,
                c_fake: Tensor | None) -> dict[str, Tensor]:
        if aux_fake is None or c_fake is None:
            return {}
        return terms.mi_bounds(aux_fake, c_fake, categories=self.categories, continuous=self.continuous)

    def describe(self, loss: Loss) -> Loss:
        return dataclasses.replace(loss, description=(
            f"{loss.description}; InfoGAN: both players also minimise −λ·L_I, "
            f"L_I = E log Q(c|G(z, c)) + H(c) "
            f"(λ = {self.lambda_cat:g} categorical, {self.lambda_cont:g} continuous)"))

    def labels_of(self, c: Tensor) -> Tensor:
        return terms.split_code(c, self.categories)[0]

    @property
    def summary(self) -> str:
        return f"InfoGAN with {self.categories} categorical values and {self.continuous} continuous codes"


def build_condition(cond_cfg: Any, *, sampler: Any, device: torch.device) -> Unconditioned:
    """The run's condition from the ``[cond]`` section and the sampler's labels (DataError if it has none)."""
    if cond_cfg.kind == "none":
        return Unconditioned()
    if cond_cfg.kind == "infogan":
        return InfoCondition(categories=cond_cfg.categories, continuous=cond_cfg.continuous,
                             lambda_cat=cond_cfg.lambda_cat, lambda_cont=cond_cfg.lambda_cont, device=device)
    classes = tuple(getattr(sampler, "classes", ()) or ())
    labels = getattr(sampler, "labels", None)
    if len(classes) < 2 or labels is None:
        where = getattr(sampler, "location", sampler.name)
        raise DataError(f"{printable(where)}: cond.kind = 'cgan' needs labelled images (a folder needs one "
                        "sub-folder per class, two or more); cond.kind = 'infogan' learns codes instead")
    prior = torch.bincount(labels.view(-1).long(), minlength=len(classes))[:len(classes)]
    return ClassCondition(classes, prior.to(device), d_mode=cond_cfg.d, embed_dim=cond_cfg.embed_dim,
                          class_weight=cond_cfg.class_weight)


def entropy_ceiling(condition: Unconditioned) -> float:
    """mi_bound's ceiling H(c) in nats (NaN when the run has no categorical code)."""
    return condition.entropy if isinstance(condition, InfoCondition) and condition.categories else math.nan
