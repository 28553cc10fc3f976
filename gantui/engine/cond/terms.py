"""The conditional objectives' extra terms, as pure functions of D's auxiliary outputs (minimised).

The GAN loss itself still sees only D's raw output v (any registered loss, switchable mid-run); these
terms are added beside it (GAN_THEORY.md, "Controlling what G draws").

AC-GAN (Odena et al. 2017). D's class head gives logits ℓ(x) over the K classes, and
``L_C = E log P(C = c | x_real) + E log P(C = c | x_fake)``. D maximises L_S + L_C and G maximises
L_C − L_S, so as costs D adds ``w·(CE(ℓ(x_r), y_r) + CE(ℓ(x_f), y_f))`` and G adds ``w·CE(ℓ(x_f), y_f)``,
y_f being the label G was asked for.

InfoGAN (Chen et al. 2016). ``min_{G,Q} max_D V(D, G) − λ L_I(G, Q)`` with
``L_I = E_{c∼p(c), x∼G(z,c)} log Q(c|x) + H(c) ≤ I(c; G(z, c))``. Q shares D's body (and D's optimiser),
so both players' costs add ``λ·E[−log Q(c|x)]`` on generated samples (H(c) is a constant: no gradient).
The categorical code's ``−log Q`` is a cross-entropy of Q's logits; each continuous code's is a
factored Gaussian's, ``½ ln 2π + log σ_j + (c_j − μ_j)² / (2σ_j²)``, with μ and log σ from Q.

The read-outs are the bounds themselves, in nats: ``mi_bound = H(c) − E[−log Q(c|x)]`` for the
categorical code (its ceiling H(c) = ln K: ln 10 = 2.303 for ten values; 0 for a Q that guesses) and
``mi_cont`` for the continuous codes together (H = ln 2 per U(−1, 1) code, a differential entropy: the
bound has no ceiling). Both are clamped at 0, as ``jsd_bound`` is: a Q worse than a guess gives a
negative bound, and 0 is the better, still valid, one (I ≥ 0).

Every function is device work only (no ``.item()``, no branch on a value): CUDA-graph safe.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
UNIFORM_ENTROPY = math.log(2.0)  # differential entropy of U(−1, 1), in nats
LOG_STD_MIN = -4.0  # Q's log σ is bounded below (softly): σ → 0 would send −log Q to −∞


def class_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean ``−log softmax(logits)[label]`` over the batch: (B, K) logits, (B,) int64 labels."""
    return F.cross_entropy(logits.float(), labels)


def acgan_d_cost(logits_real: Tensor, y_real: Tensor, logits_fake: Tensor, y_fake: Tensor, *,
                 weight: float) -> Tensor:
    """D's class cost ``w·(CE(real) + CE(fake))``: −w·L_C."""
    return weight * (class_cross_entropy(logits_real, y_real) + class_cross_entropy(logits_fake, y_fake))


def acgan_g_cost(logits_fake: Tensor, y_fake: Tensor, *, weight: float) -> Tensor:
    """G's class cost ``w·CE(fake)``: G is scored on being recognised as the class it was asked for."""
    return weight * class_cross_entropy(logits_fake, y_fake)


def q_outputs(categories: int, continuous: int) -> int:
    """Width of Q's output: the categorical logits, then a mean and a raw log σ per continuous code."""
    return categories + 2 * continuous


def split_q(q: Tensor, categories: int, continuous: int) -> tuple[Tensor, Tensor, Tensor]:
    """(categorical logits (B, K), means (B, n), log σ (B, n)) from Q's raw output (B, K + 2n).

    log σ = LOG_STD_MIN + softplus(raw − LOG_STD_MIN): the raw value itself well above the floor, a
    smooth floor below it.
    """
    q = q.float()
    logits = q[:, :categories]
    mean = q[:, categories:categories + continuous]
    raw = q[:, categories + continuous:categories + 2 * continuous]
    log_std = LOG_STD_MIN + F.softplus(raw - LOG_STD_MIN)
    return logits, mean, log_std


def split_code(code: Tensor, categories: int) -> tuple[Tensor, Tensor]:
    """(categorical value (B,) int64, continuous codes (B, n)) of a code vector [one-hot, continuous]."""
    if categories:
        value = code[:, :categories].argmax(1)
    else:
        value = torch.zeros(len(code), dtype=torch.long, device=code.device)
    return value, code[:, categories:]


def gaussian_nll(mean: Tensor, log_std: Tensor, c: Tensor) -> Tensor:
    """Mean over the batch of Σ_j −log N(c_j; μ_j, σ_j²), a factored Gaussian's negative log-likelihood."""
    z = (c.float() - mean) * torch.exp(-log_std)
    return (HALF_LOG_2PI + log_std + 0.5 * z.square()).sum(1).mean()


def info_nll(q: Tensor, code: Tensor, *, categories: int, continuous: int) -> tuple[Tensor, Tensor]:
    """(E[−log Q(c_cat|x)], E[−log Q(c_cont|x)]): each 0 when the run has no such code."""
    logits, mean, log_std = split_q(q, categories, continuous)
    value, cont = split_code(code, categories)
    zero = q.new_zeros((), dtype=torch.float32)
    cat_nll = class_cross_entropy(logits, value) if categories else zero
    cont_nll = gaussian_nll(mean, log_std, cont) if continuous else zero
    return cat_nll, cont_nll


def info_cost(q: Tensor, code: Tensor, *, categories: int, continuous: int, lambda_cat: float,
              lambda_cont: float) -> Tensor:
    """``λ_cat·E[−log Q(c_cat|x)] + λ_cont·E[−log Q(c_cont|x)]``: −λ·L_I up to the constant λ·H(c)."""
    cat_nll, cont_nll = info_nll(q, code, categories=categories, continuous=continuous)
    return lambda_cat * cat_nll + lambda_cont * cont_nll


def code_entropy(categories: int) -> float:
    """H(c) of a uniform categorical code of ``categories`` values: ln K nats (0 without one)."""
    return math.log(categories) if categories else 0.0


def mi_bounds(q: Tensor, code: Tensor, *, categories: int, continuous: int) -> dict[str, Tensor]:
    """``mi_bound`` (categorical, ≤ ln K) and ``mi_cont`` (continuous), lower bounds on I(c; G(z, c))."""
    cat_nll, cont_nll = info_nll(q.detach(), code, categories=categories, continuous=continuous)
    out: dict[str, Tensor] = {}
    if categories:
        out["mi_bound"] = (code_entropy(categories) - cat_nll).clamp(min=0.0)
    if continuous:
        out["mi_cont"] = (continuous * UNIFORM_ENTROPY - cont_nll).clamp(min=0.0)
    return out


def class_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of the batch whose largest logit is its label (0-dim, on the device)."""
    return (logits.argmax(1) == labels).float().mean()
