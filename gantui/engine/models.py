"""The two players: generator G and discriminator (or critic) D, built from the ``[model]`` config.

D always returns raw outputs of shape (B,), never a sigmoid: a logit for the BCE family, a critic
value for WGAN, an f-GAN ``v``. Each loss interprets ``v`` itself (GAN_THEORY.md, "Losses on raw
outputs"), which is what lets the user switch losses mid-run without rebuilding D.

Two architectures:

- ``mlp``: fully connected, any data shape (images are flattened). The NIPS 2016 tutorial's
  D 784-128-1 and G 100-128-784 is ``z_dim=100, g_hidden=[128], d_hidden=[128]`` on (1, 28, 28).
  G uses ReLU (the tutorial's and pytorch/examples' choice), D uses LeakyReLU(0.2) so it passes
  gradient to G even where a unit is off. G's output is tanh for images (data scaled to [-1, 1])
  and linear for flat vectors such as the 2-D toys (their means sit at radius 2 or on a +-4 grid,
  outside tanh's range).
- ``dcgan``: pytorch/examples dcgan/main.py for 32 or 64 px and 1 or 3 channels, base width
  ``width`` (their ngf = ndf), with the DCGAN paper's weight init.

``spectral_norm`` wraps every D conv/linear layer (SN-GAN). A critic trained with a gradient
penalty must not use BatchNorm (the penalty is per sample, BatchNorm mixes samples), so
:func:`build_models` takes ``batchnorm_d`` to override the config; the trainer passes False.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

DCGAN_SIZES = (32, 64)
DCGAN_CHANNELS = (1, 3)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars (a spectral-norm layer counts its original weight once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    return _spectral_norm(layer) if spectral_norm else layer


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> x (B, *data_shape): Linear+ReLU per hidden width, then tanh or linear out."""

    def __init__(self, *, z_dim: int, hidden: list[int], data_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        out_dim = math.prod(self.data_shape)
        layers: list[nn.Module] = []
        width_in = z_dim
        for width in hidden:
            layers += [nn.Linear(width_in, width), nn.ReLU()]  # (B, width_in) -> (B, width)
            width_in = width
        layers.append(nn.Linear(width_in, out_dim))  # (B, width_in) -> (B, prod(data_shape))
        # Images live in [-1, 1]: tanh. Flat vectors (2-D toys) are unbounded: linear.
        if len(self.data_shape) > 1:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)  # (B, *data_shape)


class MLPDiscriminator(nn.Module):
    """x (B, *data_shape) -> v (B,): flatten, Linear+LeakyReLU(0.2) per hidden width, Linear to 1."""

    def __init__(self, *, hidden: list[int], data_shape: tuple[int, ...], spectral_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]  # (B, *data_shape) -> (B, prod(data_shape))
        width_in = math.prod(data_shape)
        for width in hidden:
            layers += [_maybe_sn(nn.Linear(width_in, width), spectral_norm),  # (B, width_in) -> (B, width)
                       nn.LeakyReLU(0.2)]
            width_in = width
        layers.append(_maybe_sn(nn.Linear(width_in, 1), spectral_norm))  # (B, width_in) -> (B, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (B,) raw logits / critic values


# ---------------------------------------------------------------------------------------------
# DCGAN (pytorch/examples dcgan/main.py, without D's final sigmoid)
# ---------------------------------------------------------------------------------------------


def _check_dcgan_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """Return (channels, size) or raise ValueError naming what DCGAN supports."""
    ok = (len(data_shape) == 3 and data_shape[0] in DCGAN_CHANNELS
          and data_shape[1] == data_shape[2] and data_shape[1] in DCGAN_SIZES)
    if not ok:
        raise ValueError(f"dcgan supports images of shape (C, S, S) with C in {DCGAN_CHANNELS} and "
                         f"S in {DCGAN_SIZES}, got data_shape={tuple(data_shape)}; "
                         "use model.name = 'mlp' or data.image_size = 32 or 64")
    return data_shape[0], data_shape[1]


def _n_up(size: int) -> int:
    """Stride-2 stages between 4x4 and size x size: 3 for 32 px, 4 for 64 px."""
    return int(math.log2(size // 4))


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> x (B, C, S, S): ConvTranspose 1 -> 4 -> ... -> S, BatchNorm+ReLU, tanh out."""

    def __init__(self, *, z_dim: int, width: int, channels: int, size: int) -> None:
        super().__init__()
        n_up = _n_up(size)
        ch = width * 2 ** (n_up - 1)  # 64 px: 8*width at 4x4, as in pytorch/examples; 32 px: 4*width
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),  # (B, z_dim, 1, 1) -> (B, ch, 4, 4)
            nn.BatchNorm2d(ch), nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),  # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
                nn.BatchNorm2d(ch // 2), nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False),  # (B,width,S/2,S/2) -> (B,C,S,S)
                   nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))  # (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    """x (B, C, S, S) -> v (B,): Conv stride 2 down to 4x4 with LeakyReLU(0.2), a 4x4 conv to 1 logit.

    BatchNorm follows every conv but the first and last (as in pytorch/examples) when ``batchnorm``.
    Without BatchNorm the hidden convs get a bias, which BatchNorm would otherwise have supplied.
    """

    def __init__(self, *, width: int, channels: int, size: int, batchnorm: bool, spectral_norm: bool) -> None:
        super().__init__()
        n_down = _n_up(size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1, bias=False),  # (B, C, S, S) -> (B, width, S/2, S/2)
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = width
        for _ in range(n_down - 1):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batchnorm))  # (B,ch,s,s) -> (B,2ch,s/2,s/2)
            if batchnorm:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))  # (B, ch, 4, 4) -> (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if spectral_norm:  # after the init: a wrapped layer's weight is computed, not stored
            for i, layer in enumerate(self.net):
                if isinstance(layer, nn.Conv2d):
                    self.net[i] = _spectral_norm(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (B,) raw logits / critic values, no sigmoid


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN paper init: conv weights ~ N(0, 0.02), BatchNorm weight ~ N(1, 0.02), bias 0.

    Applied to plain layers, before spectral norm wraps them.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def build_models(model_cfg: Any, *, data_shape: tuple[int, ...],
                 batchnorm_d: bool | None = None) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) from a ``[model]`` config section.

    ``batchnorm_d`` overrides ``model_cfg.batchnorm_d`` (pass False for gradient-penalty losses).
    The MLP discriminator never has BatchNorm, so the flag only matters for ``dcgan``.
    """
    data_shape = tuple(int(s) for s in data_shape)
    use_bn = bool(model_cfg.batchnorm_d) if batchnorm_d is None else batchnorm_d
    sn = bool(model_cfg.spectral_norm)
    if model_cfg.name == "mlp":
        g: nn.Module = MLPGenerator(z_dim=model_cfg.z_dim, hidden=list(model_cfg.g_hidden),
                                    data_shape=data_shape)
        d: nn.Module = MLPDiscriminator(hidden=list(model_cfg.d_hidden), data_shape=data_shape,
                                        spectral_norm=sn)
        return g, d
    if model_cfg.name == "dcgan":
        channels, size = _check_dcgan_shape(data_shape)
        g = DCGANGenerator(z_dim=model_cfg.z_dim, width=model_cfg.width, channels=channels, size=size)
        d = DCGANDiscriminator(width=model_cfg.width, channels=channels, size=size,
                               batchnorm=use_bn, spectral_norm=sn)
        return g, d
    raise ValueError(f"model.name = {model_cfg.name!r}: expected 'mlp' or 'dcgan'")
