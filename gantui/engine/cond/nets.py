"""Conditional players: G(z, c) and D(x, c) built around gantui's MLP and DCGAN players.

``c`` is what a sample is conditioned on: a class label (B,) int64 for a conditional GAN, or the code
vector (B, K + n) = [one-hot categorical value, continuous codes] for InfoGAN. Every D still returns
raw v of shape (B,) from ``forward`` (each loss interprets it, and can be switched mid-run);
:meth:`ConditionalDiscriminator.judge` also returns the auxiliary head's output (AC-GAN's class logits,
InfoGAN's Q), computed from the same body features in the same pass.

- G: the unconditional generator with a wider input, fed ``[z, embed(y)]`` (a learnt label embedding,
  as in Mirza & Osindero's G(z|y)) or ``[z, c]`` (InfoGAN's codes are part of G's latent).
- D, projection (Miyato & Koyama 2018): the built D is split into its body φ (every layer but the
  last) and its last layer ψ; ``D(x, y) = ψ(φ(x)) + embed(y)ᵀ φ(x)``, φ(x) flattened (a DCGAN's
  4×4 map: ψ, a 4×4 convolution to 1, is a linear map of that vector).
- D, concatenation: the one-hot label beside the input (extra input features for the MLP, K constant
  planes for the DCGAN), the label's first use is D's first layer.
- D with an auxiliary head on φ(x): AC-GAN's class logits (Odena et al. 2017), or InfoGAN's Q
  (Chen et al. 2016: Q shares all of D's layers but the last, then one hidden layer).

Spectral norm, when the run asks for it, wraps the new layers too (the projection's embedding as in
StudioGAN's SN-GAN). ``c = None`` (a caller that does not choose a condition: a probe, an EMA copy)
means a fixed balanced condition for G (labels 0, 1, …, K − 1, 0, …; continuous codes at 0) and no
label term for D (projection and concatenation then judge x alone).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from gantui.engine.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    _check_dcgan_shape,
)

Q_HIDDEN = 128  # InfoGAN's Q: one hidden layer on D's features (the paper's FC 128 on MNIST)


def _maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    return _spectral_norm(layer) if spectral_norm else layer


def balanced_labels(n: int, classes: int, device: torch.device) -> Tensor:
    """0, 1, …, K − 1, 0, 1, …: n labels, every class as often as n allows."""
    return torch.arange(n, device=device) % max(classes, 1)


def one_hot(labels: Tensor, classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B,) labels -> (B, K) one-hot rows by a comparison: no range check, so no host sync on any device
    (``F.one_hot`` reads the labels' maximum back on the CPU)."""
    return (labels[:, None] == torch.arange(classes, device=labels.device)).to(dtype)


class ConditionalGenerator(nn.Module):
    """(z, c) -> x: the base generator on ``[z, embed(y)]`` (``classes`` > 0) or ``[z, c]`` (codes)."""

    def __init__(self, base: nn.Module, *, classes: int = 0, embed_dim: int = 0, categories: int = 0,
                 code_dim: int = 0) -> None:
        super().__init__()
        self.base = base
        self.classes, self.categories, self.code_dim = classes, categories, code_dim
        self.embed = nn.Embedding(classes, embed_dim) if classes else None  # (B,) -> (B, embed_dim)

    def default_condition(self, n: int, device: torch.device) -> Tensor:
        """The balanced condition used when the caller gives none."""
        if self.embed is not None:
            return balanced_labels(n, self.classes, device)
        code = torch.zeros(n, self.code_dim, device=device)
        if self.categories:
            code[:, :self.categories] = one_hot(balanced_labels(n, self.categories, device), self.categories)
        return code

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is None:
            c = self.default_condition(len(z), z.device)
        extra = self.embed(c) if self.embed is not None else c
        return self.base(torch.cat([z, extra.to(z.dtype)], dim=1))  # (B, z_dim + e) -> (B, *data_shape)


def split_discriminator(d: nn.Module) -> tuple[nn.Sequential, nn.Module, int]:
    """(body φ, last layer ψ, width of the flattened φ(x)) of a built MLP or DCGAN discriminator."""
    layers = list(d.net)
    head = layers[-1]
    if isinstance(head, nn.Linear):
        features = head.in_features
    elif isinstance(head, nn.Conv2d):
        features = head.in_channels * head.kernel_size[0] * head.kernel_size[1]
    else:  # pragma: no cover - every gantui D ends in a Linear or a Conv2d
        raise TypeError(f"cannot split a discriminator ending in {type(head).__name__}")
    return nn.Sequential(*layers[:-1]), head, features


class ConditionalDiscriminator(nn.Module):
    """D(x, c) -> v (B,): body φ, last layer ψ, and a projection embedding or an auxiliary head on φ(x)."""

    def __init__(self, base: nn.Module, *, projection_classes: int = 0, aux: nn.Module | None = None,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.body, self.head, features = split_discriminator(base)
        self.features = features
        self.embed: nn.Module | None = None
        if projection_classes:
            embed = nn.Embedding(projection_classes, features)  # (B,) -> (B, features)
            nn.init.xavier_uniform_(embed.weight)  # as StudioGAN: N(0, 1) rows would swamp ψ(φ(x))
            self.embed = _maybe_sn(embed, spectral_norm)
        self.aux = aux  # (B, features) -> (B, outputs), or None

    def _score(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        phi = self.body(x)
        v = self.head(phi).reshape(len(x), -1).sum(1)  # (B,): ψ(φ(x))
        flat = phi.flatten(1)  # (B, features)
        if self.embed is not None and c is not None:
            v = v + (self.embed(c) * flat).sum(1)  # + embed(y)ᵀ φ(x)
        return v, flat

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self._score(x, c)[0]

    def judge(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(v (B,), the auxiliary head's output (B, outputs) or None), from one pass through the body."""
        v, flat = self._score(x, c)
        return v, (self.aux(flat) if self.aux is not None else None)


class ConcatDiscriminator(nn.Module):
    """D(x, y) -> v (B,): the base D on x with y's one-hot beside it (features, or K constant planes)."""

    def __init__(self, base: nn.Module, *, classes: int, flat: bool) -> None:
        super().__init__()
        self.base, self.classes, self.flat = base, classes, flat

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        y = (torch.zeros(len(x), self.classes, device=x.device, dtype=x.dtype) if c is None
             else one_hot(c, self.classes, x.dtype))
        if self.flat:
            return self.base(torch.cat([x.flatten(1), y], dim=1))  # (B, prod(shape) + K)
        planes = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # (B, K, S, S)
        return self.base(torch.cat([x, planes], dim=1))

    def judge(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, None]:
        return self(x, c), None


def class_head(features: int, classes: int, spectral_norm: bool) -> nn.Module:
    """AC-GAN's auxiliary classifier: one linear layer from φ(x) to K logits."""
    return _maybe_sn(nn.Linear(features, classes), spectral_norm)


def q_head(features: int, outputs: int, spectral_norm: bool) -> nn.Module:
    """InfoGAN's Q: φ(x) -> 128 (LeakyReLU 0.2) -> categorical logits, means and raw log σ."""
    return nn.Sequential(_maybe_sn(nn.Linear(features, Q_HIDDEN), spectral_norm), nn.LeakyReLU(0.2),
                         _maybe_sn(nn.Linear(Q_HIDDEN, outputs), spectral_norm))


def build_generator(model_cfg: Any, *, data_shape: tuple[int, ...], extra_inputs: int,
                    **conditioning: int) -> ConditionalGenerator:
    """The run's G on ``z_dim + extra_inputs`` inputs, wrapped to take (z, c)."""
    z_in = model_cfg.z_dim + extra_inputs
    if model_cfg.name == "dcgan":
        channels, size = _check_dcgan_shape(data_shape)
        base: nn.Module = DCGANGenerator(z_dim=z_in, width=model_cfg.width, channels=channels, size=size)
    elif model_cfg.name == "mlp":
        base = MLPGenerator(z_dim=z_in, hidden=list(model_cfg.g_hidden), data_shape=tuple(data_shape))
    else:
        raise ValueError(f"model.name = {model_cfg.name!r}: expected 'mlp' or 'dcgan'")
    return ConditionalGenerator(base, **conditioning)


def build_base_discriminator(model_cfg: Any, *, data_shape: tuple[int, ...], label_inputs: int = 0
                             ) -> nn.Module:
    """The run's unconditional D, with room for ``label_inputs`` one-hot inputs (features or planes)."""
    sn = bool(model_cfg.spectral_norm)
    if model_cfg.name == "dcgan":
        channels, size = _check_dcgan_shape(data_shape)
        return DCGANDiscriminator(width=model_cfg.width, channels=channels + label_inputs, size=size,
                                  batchnorm=bool(model_cfg.batchnorm_d), spectral_norm=sn)
    if model_cfg.name == "mlp":
        shape = (math.prod(data_shape) + label_inputs,) if label_inputs else tuple(data_shape)
        return MLPDiscriminator(hidden=list(model_cfg.d_hidden), data_shape=shape, spectral_norm=sn)
    raise ValueError(f"model.name = {model_cfg.name!r}: expected 'mlp' or 'dcgan'")
