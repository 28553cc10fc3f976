"""Gradient penalties that the trainer adds to D's loss: WGAN-GP's and DRAGAN's.

Both return ``(penalty, mean_grad_norm)``: the penalty ``E(‖∇_x̂ D(x̂)‖₂ − 1)²`` *unweighted* (the
trainer multiplies by λ = ``loss.gp_weight``, so λ can change live without touching this code) and
the mean gradient norm as a detached read-out for the dashboard. The penalty is built with
``create_graph=True``, so ``penalty.backward()`` reaches D's parameters through the input gradient.

Only device-side ops: random numbers come from ``torch.rand(..., device=x.device, generator=...)``,
nothing calls ``.item()`` or branches on a tensor's value, so a CUDA graph can capture a D step that
includes a penalty. Pass ``generator`` for reproducible draws (CPU tests; on CUDA the trainer's device
generator, which each graph replay advances as an eager step would).

The critic must score each sample independently (no BatchNorm in D): the input gradient of
``D(x̂).sum()`` is then exactly each sample's own ∇D(x̂ᵢ), as the penalty requires.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _per_sample_uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0,1) draw per sample, shaped (N, 1, 1, ...) to broadcast over every non-batch dim."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return torch.rand(shape, device=x.device, dtype=x.dtype, generator=generator)


def _penalty_at(critic: Callable[[Tensor], Tensor], x_hat: Tensor) -> tuple[Tensor, Tensor]:
    """``E(‖∇D(x̂)‖₂ − 1)²`` and the detached mean ‖∇D(x̂)‖₂ at the given points."""
    x_hat = x_hat.detach().requires_grad_(True)
    v_hat = critic(x_hat)
    (grad,) = torch.autograd.grad(v_hat.sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(start_dim=1).norm(2, dim=1)  # (N,): one norm over each sample's dims
    return (grad_norm - 1.0).square().mean(), grad_norm.mean().detach()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): the penalty on x̂ = εx + (1 − ε)x̃, ε ~ U[0,1] per
    sample, i.e. on random points of the segments between real and generated samples, where the optimal
    critic has unit gradient norm. ``fake`` is detached: the penalty trains D only."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    eps = _per_sample_uniform(real, generator)
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()
    return _penalty_at(critic, x_hat)


def dragan_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    *,
    generator: torch.Generator | None = None,
    std: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """DRAGAN (Kodali et al. 2017): the same penalty at points near the real data only.

    x_p = x + 0.5·std(x)·u with u ~ U[0,1) elementwise, then x̂ = x + α(x_p − x), α ~ U[0,1] per sample.
    std(x) is one scalar over the whole batch, as in the authors' code (``X.std()``); a data-parallel
    rank passes ``std``, the std of the global batch, since its own share of the batch is not the batch.
    Draw order, for reproducibility with a seeded ``generator``: first u (the shape of x), then α (one
    per sample).
    """
    real = real.detach()
    u = torch.rand(real.shape, device=real.device, dtype=real.dtype, generator=generator)
    perturbed = real + 0.5 * (real.std() if std is None else std) * u
    alpha = _per_sample_uniform(real, generator)
    x_hat = real + alpha * (perturbed - real)
    return _penalty_at(critic, x_hat)
