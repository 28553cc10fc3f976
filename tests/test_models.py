"""Shapes, parameter counts and structure of the players built by gantui.engine.models."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gantui.engine.models import build_models, count_parameters


def model_cfg(**changes: object) -> SimpleNamespace:
    """A [model] section with the SCHEMA defaults, changed where a test says so."""
    from gantui.config import SCHEMA

    values = {k: f.default for k, f in SCHEMA["model"].items()}
    values.update(changes)
    return SimpleNamespace(**values)


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------


def test_mlp_toy_shapes_and_linear_output() -> None:
    g, d = build_models(model_cfg(z_dim=2, g_hidden=[16, 16], d_hidden=[16]), data_shape=(2,))
    x = g(torch.randn(5, 2))
    assert x.shape == (5, 2)
    assert d(x).shape == (5,)
    # Toy data is unbounded (means at radius 2): the last G module is a Linear, not a tanh.
    assert isinstance(list(g.modules())[-1], nn.Linear)


def test_mlp_image_shapes_and_tanh_output() -> None:
    g, d = build_models(model_cfg(z_dim=8, g_hidden=[32], d_hidden=[32, 16]), data_shape=(3, 8, 8))
    x = g(torch.randn(4, 8) * 100.0)
    assert x.shape == (4, 3, 8, 8)
    assert x.abs().max() <= 1.0  # tanh keeps images in [-1, 1] however large z is
    assert d(x).shape == (4,)


def test_tutorial_mlp_parameter_counts() -> None:
    # NIPS 2016 tutorial: D 784-128-1, G 100-128-784 on 28x28 images.
    # D: Linear(784,128) has 784*128 + 128 = 100 480, Linear(128,1) has 128 + 1 = 129  -> 100 609.
    # G: Linear(100,128) has 100*128 + 128 = 12 928, Linear(128,784) has 128*784 + 784 = 101 136
    #    -> 114 064.
    g, d = build_models(model_cfg(z_dim=100, g_hidden=[128], d_hidden=[128]), data_shape=(1, 28, 28))
    assert count_parameters(d) == 100_609
    assert count_parameters(g) == 114_064
    assert g(torch.randn(3, 100)).shape == (3, 1, 28, 28)
    assert d(torch.randn(3, 1, 28, 28)).shape == (3,)


def test_mlp_activations_are_the_documented_ones() -> None:
    g, d = build_models(model_cfg(g_hidden=[8, 8], d_hidden=[8, 8]), data_shape=(2,))
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 2
    leaky = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 2 and all(m.negative_slope == 0.2 for m in leaky)


# ---------------------------------------------------------------------------------------------
# DCGAN
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, channels: int) -> None:
    g, d = build_models(model_cfg(name="dcgan", z_dim=16, width=8), data_shape=(channels, size, size))
    x = g(torch.randn(2, 16))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1.0
    assert d(x).shape == (2,)


def test_dcgan_64_follows_pytorch_examples_widths() -> None:
    # pytorch/examples dcgan with ngf = ndf = w: G 4x4 x 8w -> 8x8 x 4w -> 16 x 2w -> 32 x w -> 64 x nc,
    # D 32 x w -> 16 x 2w -> 8 x 4w -> 4 x 8w -> 1.
    w = 4
    g, d = build_models(model_cfg(name="dcgan", z_dim=10, width=w), data_shape=(3, 64, 64))
    g_out = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_out = [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert g_out == [8 * w, 4 * w, 2 * w, w, 3]
    assert d_out == [w, 2 * w, 4 * w, 8 * w, 1]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3  # not after the first or last conv


def test_dcgan_weight_init() -> None:
    # N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm weights: with tens of thousands of draws
    # the sample std is 0.02 within a few percent and the mean is within a few standard errors.
    g, d = build_models(model_cfg(name="dcgan", z_dim=100, width=32), data_shape=(3, 32, 32))
    conv_w = torch.cat([m.weight.detach().flatten() for m in d.modules() if isinstance(m, nn.Conv2d)])
    assert conv_w.numel() > 10_000
    assert abs(conv_w.std().item() - 0.02) < 0.001
    assert abs(conv_w.mean().item()) < 0.001
    bn_w = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn_w.mean().item() - 1.0) < 0.01  # 224 draws: standard error 0.02 / 15 = 0.0013


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 48, 48), (2, 32, 32), (3, 32, 64), (2,)])
def test_dcgan_rejects_unsupported_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="dcgan supports"):
        build_models(model_cfg(name="dcgan"), data_shape=shape)


# ---------------------------------------------------------------------------------------------
# D returns raw outputs; BatchNorm and spectral norm switches
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape", [("mlp", (2,)), ("mlp", (1, 28, 28)), ("dcgan", (1, 32, 32))])
def test_d_output_is_unbounded(name: str, shape: tuple[int, ...]) -> None:
    # A sigmoid would keep every output inside (0, 1). Scaling the input by 1e4 must push a raw logit
    # outside that interval (the network is piecewise linear: |v| grows with the input scale).
    torch.manual_seed(0)
    _, d = build_models(model_cfg(name=name, width=8, batchnorm_d=False), data_shape=shape)
    v = d(torch.randn(16, *shape) * 1e4)
    assert ((v <= 0.0) | (v >= 1.0)).any()
    assert v.abs().max() > 10.0
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


def test_batchnorm_d_argument_overrides_config() -> None:
    cfg = model_cfg(name="dcgan", width=8, batchnorm_d=True)
    _, d_bn = build_models(cfg, data_shape=(1, 32, 32))
    _, d_plain = build_models(cfg, data_shape=(1, 32, 32), batchnorm_d=False)
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d_bn.modules())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d_plain.modules())
    _, d_cfg_off = build_models(model_cfg(name="dcgan", width=8, batchnorm_d=False), data_shape=(1, 32, 32))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d_cfg_off.modules())


def test_critic_without_batchnorm_supports_a_gradient_penalty() -> None:
    # WGAN-GP differentiates ||grad_x D(x)|| again: D must allow double backward, and its per-sample
    # gradients must not depend on the other samples (no BatchNorm mixing them).
    torch.manual_seed(0)
    _, d = build_models(model_cfg(name="dcgan", width=4), data_shape=(1, 32, 32), batchnorm_d=False)
    x = torch.randn(3, 1, 32, 32, requires_grad=True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean().backward()
    assert all(p.grad is not None for p in d.parameters())
    x0 = x[:1].detach().requires_grad_(True)
    (grad0,) = torch.autograd.grad(d(x0).sum(), x0)
    torch.testing.assert_close(grad0, grad[:1].detach(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name,shape,n_layers", [("mlp", (2,), 3), ("dcgan", (3, 64, 64), 5)])
def test_spectral_norm_on_every_d_layer(name: str, shape: tuple[int, ...], n_layers: int) -> None:
    # MLP with d_hidden=[8, 8]: 2 hidden Linear + the output Linear = 3; DCGAN 64 px D: 5 convs.
    cfg = model_cfg(name=name, d_hidden=[8, 8], width=4, spectral_norm=True)
    g, d = build_models(cfg, data_shape=shape)
    layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) == n_layers
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in g.modules())
    assert d(torch.randn(2, *shape)).shape == (2,)


def test_no_spectral_norm_by_default() -> None:
    _, d = build_models(model_cfg(), data_shape=(2,))
    assert not any(parametrize.is_parametrized(m) for m in d.modules())


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match=r"model\.name"):
        build_models(model_cfg(name="resnet"), data_shape=(2,))
