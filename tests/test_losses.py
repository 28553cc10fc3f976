"""The GAN objectives against values derived by hand (GAN_THEORY.md's tables; derivations in comments).

Conventions: ``softplus(x) = ln(1 + eˣ)``, ``σ(x) = 1/(1 + e⁻ˣ)``, all logs natural. Reference values
come from ``math`` applied to the formulas written out here, never from the code under test.
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType

import pytest
import torch

from gantui.config import LOSS_NAMES, SCHEMA, resolve
from gantui.engine.losses import LOSSES, Loss, OptimizerHint, configure

LN2 = math.log(2.0)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def t(*values: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------------

def test_registry_has_exactly_the_config_names_in_order() -> None:
    assert tuple(LOSSES) == LOSS_NAMES
    assert isinstance(LOSSES, MappingProxyType)
    with pytest.raises(TypeError):
        LOSSES["mine"] = LOSSES["wgan"]  # type: ignore[index]


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_entry_is_described_and_has_a_consistent_hint(name: str) -> None:
    loss = LOSSES[name]
    assert isinstance(loss, Loss) and loss.name == name
    assert loss.description.strip() == loss.description and "\n" not in loss.description
    assert 10 < len(loss.description) <= 100
    assert loss.family in ("bce", "lsgan", "wgan", "hinge", "fgan", "relativistic")
    hint = loss.hint
    assert isinstance(hint, OptimizerHint)
    assert hint.optimizer in ("adam", "rmsprop") and hint.lr_d > 0 and hint.lr_g > 0 and hint.k >= 1
    assert (hint.betas is None) == (hint.optimizer == "rmsprop")
    # The hint is a valid configuration: every key is in the schema and passes the validator.
    doc: dict[str, dict[str, object]] = {"loss": {"name": name}}
    for dotted, value in hint.as_overrides().items():
        section, key = dotted.split(".")
        doc.setdefault(section, {})[key] = value
    cfg = resolve(doc, source="test")
    assert cfg.train.k == hint.k and cfg.train.optimizer == hint.optimizer
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.name = "other"  # type: ignore[misc]


def test_flags_say_what_the_trainer_must_add() -> None:
    assert {n for n in LOSS_NAMES if LOSSES[n].penalty} == {"wgan-gp", "dragan"}
    assert LOSSES["wgan-gp"].penalty == "wgan-gp" and LOSSES["dragan"].penalty == "dragan"
    assert {n for n in LOSS_NAMES if LOSSES[n].clip_weights} == {"wgan"}
    assert {n for n in LOSS_NAMES if LOSSES[n].needs_real_in_g} == {"rsgan", "ragan"}
    # σ(v) is a probability only where v is a logit: the BCE family and the f-GAN JS row
    # (g_f(v) = log 2σ(v), so σ(v*) = p/(p+q) = D*).
    logits = {"minimax", "nonsaturating", "maxlikelihood", "dragan", "fgan-js"}
    assert {n for n in LOSS_NAMES if not LOSSES[n].critic} == logits


def test_hints_carry_the_papers_settings() -> None:
    # GAN_THEORY.md: WGAN RMSProp 5e-5, n_critic 5, clip 0.01; WGAN-GP Adam 1e-4, β = (0.5, 0.9),
    # n_critic 5, λ = 10; DCGAN defaults elsewhere: Adam 2e-4, β = (0.5, 0.999), k = 1.
    wgan = LOSSES["wgan"].hint
    assert (wgan.optimizer, wgan.lr_d, wgan.lr_g, wgan.betas, wgan.k, wgan.clip) == (
        "rmsprop", 5e-5, 5e-5, None, 5, 0.01)
    gp = LOSSES["wgan-gp"].hint
    assert (gp.optimizer, gp.lr_d, gp.lr_g, gp.betas, gp.k, gp.gp_weight) == (
        "adam", 1e-4, 1e-4, (0.5, 0.9), 5, 10.0)
    ns = LOSSES["nonsaturating"].hint
    assert (ns.optimizer, ns.lr_d, ns.lr_g, ns.betas, ns.k) == ("adam", 2e-4, 2e-4, (0.5, 0.999), 1)
    assert LOSSES["dragan"].hint.gp_weight == 10.0
    assert SCHEMA["train"]["lr_d"].default == ns.lr_d  # the default loss's hint is the default config


# ---------------------------------------------------------------------------------------------------
# BCE family: minimax, non-saturating, maximum likelihood, DRAGAN
# ---------------------------------------------------------------------------------------------------

BCE = ("minimax", "nonsaturating", "maxlikelihood", "dragan")


@pytest.mark.parametrize("name", BCE)
def test_bce_reference_values_at_a_coin_flip_discriminator(name: str) -> None:
    # v ≡ 0 → D = ½: L_D = −ln ½ − ln ½ = 2 ln 2 = 1.3863, and the bound ln 2 − L_D/2 = 0.
    zeros = torch.zeros(8, 1)
    loss = LOSSES[name]
    assert loss.d_loss(zeros, zeros).item() == pytest.approx(2 * LN2, abs=1e-6)
    assert loss.readout(zeros, zeros)["jsd_bound"].item() == pytest.approx(0.0, abs=1e-6)
    # G: non-saturating −ln ½ = ln 2; minimax ln(1 − ½) = −ln 2; max. likelihood −½·e⁰ = −0.5.
    expected_g = {"minimax": -LN2, "nonsaturating": LN2, "maxlikelihood": -0.5, "dragan": LN2}[name]
    assert loss.g_loss(zeros).item() == pytest.approx(expected_g, abs=1e-6)


def test_bce_asymmetric_values() -> None:
    v_r, v_f = t(2.0), t(-1.0)
    # L_D = −ln σ(2) − ln(1 − σ(−1)) = softplus(−2) + softplus(−1) = 0.126928 + 0.313262 = 0.440190.
    l_d = softplus(-2.0) + softplus(-1.0)
    assert LOSSES["minimax"].d_loss(v_r, v_f).item() == pytest.approx(l_d, rel=1e-6)
    # Non-saturating −ln σ(−1) = softplus(1) = 1.313262; minimax ln(1 − σ(−1)) = −softplus(−1);
    # maximum likelihood −½ e⁻¹ = −0.183940.
    assert LOSSES["nonsaturating"].g_loss(v_f).item() == pytest.approx(softplus(1.0), rel=1e-6)
    assert LOSSES["minimax"].g_loss(v_f).item() == pytest.approx(-softplus(-1.0), rel=1e-6)
    assert LOSSES["maxlikelihood"].g_loss(v_f).item() == pytest.approx(-0.5 * math.exp(-1.0), rel=1e-6)
    # JSD ≥ ln 2 − L_D/2 = 0.693147 − 0.220095 = 0.473052.
    bound = LOSSES["nonsaturating"].readout(v_r, v_f)["jsd_bound"]
    assert bound.item() == pytest.approx(LN2 - l_d / 2, rel=1e-6)


def test_bce_batches_are_means() -> None:
    v_r, v_f = t(2.0, -1.0), t(0.0, 1.0)
    # Real: ½(softplus(−2) + softplus(1)); fake: ½(softplus(0) + softplus(1)) with softplus(0) = ln 2.
    l_d = 0.5 * (softplus(-2.0) + softplus(1.0)) + 0.5 * (LN2 + softplus(1.0))
    assert LOSSES["nonsaturating"].d_loss(v_r, v_f).item() == pytest.approx(l_d, rel=1e-6)
    # (N, 1) outputs give the same value as (N,): every loss is a plain batch mean.
    assert LOSSES["nonsaturating"].d_loss(v_r[:, None], v_f[:, None]).item() == pytest.approx(l_d, rel=1e-6)


def test_jsd_bound_is_clamped_at_zero_and_never_exceeds_ln2() -> None:
    # A D worse than a coin (v_r = −3, v_f = 3): L_D = 2 softplus(3) = 6.097 > 2 ln 2, ln 2 − L_D/2 < 0.
    readout = LOSSES["minimax"].readout(t(-3.0), t(3.0))
    assert readout["jsd_bound"].item() == 0.0
    # A perfect D (v_r = 1e4, v_f = −1e4): L_D → 0 and the bound reaches ln 2, its maximum.
    assert LOSSES["minimax"].readout(t(1e4), t(-1e4))["jsd_bound"].item() == pytest.approx(LN2, abs=1e-6)


def test_bce_gradients_match_hand_derivatives() -> None:
    v = t(-3.0, -1.0, 0.0, 2.0, dtype=torch.float64)
    n = v.numel()
    cases = {
        # d/dv softplus(−v) = −σ(−v); d/dv −softplus(v) = −σ(v); d/dv −½eᵛ = −½eᵛ; each over N.
        "nonsaturating": [-sigmoid(-x) / n for x in v.tolist()],
        "minimax": [-sigmoid(x) / n for x in v.tolist()],
        "maxlikelihood": [-0.5 * math.exp(x) / n for x in v.tolist()],
    }
    for name, expected in cases.items():
        v_f = v.clone().requires_grad_(True)
        LOSSES[name].g_loss(v_f).backward()
        assert v_f.grad.tolist() == pytest.approx(expected, rel=1e-9), name
    # D: ∂L_D/∂v_r = −σ(−v_r)/N (raise real logits), ∂L_D/∂v_f = σ(v_f)/N (lower fake logits).
    v_r, v_f = v.clone().requires_grad_(True), v.clone().requires_grad_(True)
    LOSSES["minimax"].d_loss(v_r, v_f).backward()
    assert v_r.grad.tolist() == pytest.approx([-sigmoid(-x) / n for x in v.tolist()], rel=1e-9)
    assert v_f.grad.tolist() == pytest.approx([sigmoid(x) / n for x in v.tolist()], rel=1e-9)


def test_minimax_saturates_when_d_rejects_fakes_and_nonsaturating_does_not() -> None:
    # v_f = −30 (D(G(z)) ≈ 1e-13): minimax's gradient −σ(−30) ≈ −9.4e-14 has vanished, the
    # non-saturating −σ(30) ≈ −1 has not. Both point the same way (raise v_f).
    v_f = torch.full((1,), -30.0, requires_grad=True)
    LOSSES["minimax"].g_loss(v_f).backward()
    assert -1e-12 < v_f.grad.item() < 0.0
    v_f = torch.full((1,), -30.0, requires_grad=True)
    LOSSES["nonsaturating"].g_loss(v_f).backward()
    assert v_f.grad.item() == pytest.approx(-1.0, abs=1e-6)


def test_maxlikelihood_minus_sign_moves_fakes_towards_looking_real() -> None:
    # ∂(−½ E eᵛ)/∂v = −½eᵛ/N < 0 everywhere, so one descent step raises every fake logit. Without the
    # minus sign each step would lower them: G would move away from the data.
    v_f = t(-5.0, -1.0, 0.0, 3.0).requires_grad_(True)
    before = v_f.detach().clone()
    LOSSES["maxlikelihood"].g_loss(v_f).backward()
    with torch.no_grad():
        v_f -= 0.1 * v_f.grad
    assert bool((v_f > before).all())


# Two discrete distributions on atoms {a, b, c}, as minibatches whose means are exact expectations:
# P = (1/2, 1/4, 1/4) as 8 samples, Q = (1/8, 3/8, 1/2) as 8 samples.
P_ATOMS = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
Q_ATOMS = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2])
P = (1 / 2, 1 / 4, 1 / 4)
Q = (1 / 8, 3 / 8, 1 / 2)
# JSD = ½ KL(P‖M) + ½ KL(Q‖M) with M = (5/16, 5/16, 3/8): p/m = (8/5, 4/5, 2/3), q/m = (2/5, 6/5, 4/3).
JSD_PQ = 0.5 * (0.5 * math.log(8 / 5) + 0.25 * math.log(4 / 5) + 0.25 * math.log(2 / 3)) + 0.5 * (
    0.125 * math.log(2 / 5) + 0.375 * math.log(6 / 5) + 0.5 * math.log(4 / 3))  # = 0.087763


def on_atoms(per_atom: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """D's outputs on the real (P) and fake (Q) batches given one output per atom (float64)."""
    v = torch.tensor(per_atom, dtype=torch.float64)
    return v[P_ATOMS], v[Q_ATOMS]


def test_jsd_bound_is_tight_at_the_optimal_discriminator() -> None:
    # D* = p/(p+q) ⇔ v* = ln(p/q) = (ln 4, ln 2/3, ln 1/2); there V(D*, G) = −log 4 + 2 JSD exactly.
    v_star = [math.log(p / q) for p, q in zip(P, Q, strict=True)]
    bound = LOSSES["nonsaturating"].readout(*on_atoms(v_star))["jsd_bound"].item()
    assert bound == pytest.approx(JSD_PQ, abs=1e-12)
    # Any other D gives a strictly lower bound.
    worse = LOSSES["nonsaturating"].readout(*on_atoms([v + 0.3 for v in v_star]))["jsd_bound"].item()
    assert worse < JSD_PQ - 1e-4
    # And at D*, E_Q exp(v*) = Σ q·p/q = 1, so the maximum-likelihood cost is exactly −0.5.
    assert LOSSES["maxlikelihood"].g_loss(on_atoms(v_star)[1]).item() == pytest.approx(-0.5, abs=1e-12)


# ---------------------------------------------------------------------------------------------------
# LSGAN, WGAN, hinge
# ---------------------------------------------------------------------------------------------------

def test_lsgan_values_for_both_codings() -> None:
    v_r, v_f = t(2.0), t(-1.0)
    # (a, b, c) = (0, 1, 1): L_D = ½(2 − 1)² + ½(−1 − 0)² = 1; L_G = ½(−1 − 1)² = 2.
    default = LOSSES["lsgan"]
    assert default.d_loss(v_r, v_f).item() == pytest.approx(1.0)
    assert default.g_loss(v_f).item() == pytest.approx(2.0)
    # (a, b, c) = (−1, 1, 0): L_D = ½(2 − 1)² + ½(−1 + 1)² = ½; L_G = ½(−1 − 0)² = ½.
    pearson = configure("lsgan", lsgan_coding="-1-1-0")
    assert pearson.d_loss(v_r, v_f).item() == pytest.approx(0.5)
    assert pearson.g_loss(v_f).item() == pytest.approx(0.5)


@pytest.mark.parametrize(("coding", "a", "b"), [("0-1-1", 0.0, 1.0), ("-1-1-0", -1.0, 1.0)])
def test_lsgan_jsd_bound_is_valid_and_tight_at_the_optimal_d(coding: str, a: float, b: float) -> None:
    # The LSGAN-optimal D is (bp + aq)/(p + q), where L_D = ½(b − a)² Σ pq/(p + q) = (b − a)²(2 − Δ)/8
    # with Δ = Σ (p − q)²/(p + q) = (3/8)²/(5/8) + (1/8)²/(5/8) + (1/4)²/(3/4) = 9/40 + 1/40 + 1/12 = 1/3.
    # The read-out ½ − 2L_D/(b − a)² is then Δ/4 = 1/12, below the true JSD 0.087763 (Topsøe: JSD ≥ Δ/4).
    loss = configure("lsgan", lsgan_coding=coding)
    d_star = [(b * p + a * q) / (p + q) for p, q in zip(P, Q, strict=True)]
    bound = loss.readout(*on_atoms(d_star))["jsd_bound"].item()
    assert bound == pytest.approx(1 / 12, abs=1e-12)
    assert bound < JSD_PQ
    # A constant D halfway between the targets scores ½(b−a)²/4 on each side: the bound is exactly 0.
    mid = (a + b) / 2
    assert loss.readout(*on_atoms([mid, mid, mid]))["jsd_bound"].item() == pytest.approx(0.0, abs=1e-12)


def test_wasserstein_and_hinge_values() -> None:
    v_r, v_f = t(2.0, 0.0), t(-1.0, 0.5)
    # E v_r = 1, E v_f = −0.25. WGAN: L_D = −0.25 − 1 = −1.25, L_G = 0.25, Ŵ = 1.25.
    for name in ("wgan", "wgan-gp"):
        assert LOSSES[name].d_loss(v_r, v_f).item() == pytest.approx(-1.25)
        assert LOSSES[name].g_loss(v_f).item() == pytest.approx(0.25)
        assert LOSSES[name].readout(v_r, v_f).keys() == {"w_estimate"}
        assert LOSSES[name].readout(v_r, v_f)["w_estimate"].item() == pytest.approx(1.25)
    # Hinge: real ½(relu(1 − 2) + relu(1 − 0)) = ½; fake ½(relu(1 − 1) + relu(1 + 0.5)) = ¾: L_D = 1.25.
    assert LOSSES["hinge"].d_loss(v_r, v_f).item() == pytest.approx(1.25)
    assert LOSSES["hinge"].g_loss(v_f).item() == pytest.approx(0.25)
    assert LOSSES["hinge"].readout(v_r, v_f)["w_estimate"].item() == pytest.approx(1.25)


# ---------------------------------------------------------------------------------------------------
# f-GAN
# ---------------------------------------------------------------------------------------------------

# Per row: the output activation g_f(v) and the textbook conjugate f*(t) (Nowozin et al. 2016,
# Table 2), written independently of the code's stable closed forms for f*(g_f(v)).
TEXTBOOK = {
    "fgan-kl": (lambda v: v, lambda t_: math.exp(t_ - 1)),
    "fgan-rkl": (lambda v: -math.exp(-v), lambda t_: -1 - math.log(-t_)),
    "fgan-pearson": (lambda v: v, lambda t_: t_ * t_ / 4 + t_),
    "fgan-neyman": (lambda v: 1 - math.exp(-v), lambda t_: 2 - 2 * math.sqrt(1 - t_)),
    "fgan-hellinger": (lambda v: 1 - math.exp(-v), lambda t_: t_ / (1 - t_)),
    "fgan-js": (lambda v: math.log(2) - softplus(-v), lambda t_: -math.log(2 - math.exp(t_))),
    "fgan-tv": (lambda v: 0.5 * math.tanh(v), lambda t_: t_),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
@pytest.mark.parametrize("v", [-2.0, -0.5, 0.3, 1.5])
def test_fgan_terms_match_the_textbook_conjugates(name: str, v: float) -> None:
    g_f, f_star = TEXTBOOK[name]
    x = t(v, dtype=torch.float64)
    # With v_r = v_f = v: L_D = −g_f(v) + f*(g_f(v)); practical L_G = −g_f(v); saddle L_G = −f*(g_f(v)).
    assert LOSSES[name].d_loss(x, x).item() == pytest.approx(-g_f(v) + f_star(g_f(v)), rel=1e-9, abs=1e-12)
    assert LOSSES[name].g_loss(x).item() == pytest.approx(-g_f(v), rel=1e-9, abs=1e-12)
    saddle = configure(name, fgan_g="saddle")
    assert saddle.g_loss(x).item() == pytest.approx(-f_star(g_f(v)), rel=1e-9, abs=1e-12)


def test_fgan_kl_asymmetric_values() -> None:
    # v_r = 2, v_f = −1 with g = v, f*(t) = e^{t−1}: L_D = −2 + e⁻²; practical L_G = 1; saddle −e⁻².
    v_r, v_f = t(2.0), t(-1.0)
    assert LOSSES["fgan-kl"].d_loss(v_r, v_f).item() == pytest.approx(-2 + math.exp(-2), rel=1e-6)
    assert LOSSES["fgan-kl"].g_loss(v_f).item() == pytest.approx(1.0)
    assert configure("fgan-kl", fgan_g="saddle").g_loss(v_f).item() == pytest.approx(-math.exp(-2), rel=1e-6)


SQRT = math.sqrt
# True D_f(P ‖ Q) = Σ q f(p/q) for P = (1/2, 1/4, 1/4), Q = (1/8, 3/8, 1/2), so p/q = (4, 2/3, 1/2).
TRUE_DIVERGENCE = {
    "fgan-kl": 0.5 * math.log(4) + 0.25 * math.log(2 / 3) + 0.25 * math.log(1 / 2),  # Σ p ln(p/q)
    "fgan-rkl": 0.125 * math.log(1 / 4) + 0.375 * math.log(3 / 2) + 0.5 * math.log(2),  # Σ q ln(q/p)
    "fgan-pearson": 31 / 24,  # Σ (p−q)²/q = (9/64)/(1/8) + (1/64)/(3/8) + (1/16)/(1/2) = 9/8 + 1/24 + 1/8
    "fgan-neyman": 19 / 32,  # Σ (p−q)²/p = (9/64)/(1/2) + (1/64)/(1/4) + (1/16)/(1/4) = 9/32 + 1/16 + 1/4
    "fgan-hellinger": (SQRT(1 / 2) - SQRT(1 / 8)) ** 2 + (SQRT(1 / 4) - SQRT(3 / 8)) ** 2
    + (SQRT(1 / 4) - SQRT(1 / 2)) ** 2,  # Σ (√p − √q)²
    "fgan-js": 2 * JSD_PQ,  # f(u) = u ln u − (1+u) ln((1+u)/2) gives 2·JSD
    "fgan-tv": 3 / 8,  # ½ Σ |p − q| = ½ (3/8 + 1/8 + 1/4)
}
# The optimal critic T* = f'(p/q), inverted through g_f to a raw output v*:
#   KL   f' = 1 + ln u,            g = v          → v* = 1 + ln(p/q)
#   RKL  f' = −1/u,                g = −e^{−v}    → v* = ln(p/q)
#   χ²P  f' = 2(u − 1),            g = v          → v* = 2(p/q − 1)
#   χ²N  f' = 1 − 1/u²,            g = 1 − e^{−v} → v* = 2 ln(p/q)
#   H²   f' = 1 − 1/√u,            g = 1 − e^{−v} → v* = ½ ln(p/q)
#   JS   f' = ln(2u/(1 + u)),      g = ln 2σ(v)   → v* = ln(p/q)
#   TV   f' = ½ sign(u − 1),       g = ½ tanh(v)  → v* = ±∞ (±30 saturates tanh in float64)
OPTIMAL_V = {
    "fgan-kl": lambda r: 1 + math.log(r),
    "fgan-rkl": math.log,
    "fgan-pearson": lambda r: 2 * (r - 1),
    "fgan-neyman": lambda r: 2 * math.log(r),
    "fgan-hellinger": lambda r: 0.5 * math.log(r),
    "fgan-js": math.log,
    "fgan-tv": lambda r: 30.0 if r > 1 else -30.0,
}


@pytest.mark.parametrize("name", sorted(TRUE_DIVERGENCE))
def test_fgan_bound_is_tight_at_the_optimal_critic_and_lower_elsewhere(name: str) -> None:
    v_star = [OPTIMAL_V[name](p / q) for p, q in zip(P, Q, strict=True)]
    readout = LOSSES[name].readout(*on_atoms(v_star))
    assert readout["fdiv_bound"].item() == pytest.approx(TRUE_DIVERGENCE[name], abs=1e-9)
    # Sub-optimal critics: shifted (still optimal for TV, whose tanh stays saturated, so ≤ there) and
    # shrunk towards 0 (sub-optimal for every row, so strictly below).
    for shift in (-0.4, 0.25):
        shifted = LOSSES[name].readout(*on_atoms([v + shift for v in v_star]))["fdiv_bound"].item()
        assert shifted <= TRUE_DIVERGENCE[name] + 1e-12
    shrunk = LOSSES[name].readout(*on_atoms([0.1 * v for v in v_star]))["fdiv_bound"].item()
    assert shrunk < TRUE_DIVERGENCE[name] - 1e-3


def test_fgan_js_row_gives_twice_the_jsd() -> None:
    v_star = [math.log(p / q) for p, q in zip(P, Q, strict=True)]
    readout = LOSSES["fgan-js"].readout(*on_atoms(v_star))
    assert readout["fdiv_bound"].item() == pytest.approx(2 * JSD_PQ, abs=1e-12)
    assert readout["jsd_bound"].item() == pytest.approx(JSD_PQ, abs=1e-12)
    # Below zero the JSD read-out clamps at 0 (a valid, better bound) while fdiv_bound stays raw.
    bad = LOSSES["fgan-js"].readout(t(-3.0), t(3.0))
    assert bad["fdiv_bound"].item() < 0 and bad["jsd_bound"].item() == 0.0
    assert {"jsd_bound"} & LOSSES["fgan-kl"].readout(t(0.0), t(0.0)).keys() == set()


# ---------------------------------------------------------------------------------------------------
# Relativistic GANs (Jolicoeur-Martineau 2018)
# ---------------------------------------------------------------------------------------------------

def test_rsgan_pairs_real_and_fake_samples() -> None:
    # One pair (2, −1): L_D = −ln σ(2 − (−1)) = softplus(−3); L_G = −ln σ(−1 − 2) = softplus(3).
    rsgan = LOSSES["rsgan"]
    assert rsgan.d_loss(t(2.0), t(-1.0)).item() == pytest.approx(softplus(-3.0), rel=1e-6)
    assert rsgan.g_loss(t(-1.0), t(2.0)).item() == pytest.approx(softplus(3.0), rel=1e-6)
    # Pairs (2, −1) and (0, 1) as (N, 1) reals and (N,) fakes: element by element, not an N × N table.
    expected = 0.5 * (softplus(-3.0) + softplus(1.0))
    assert rsgan.d_loss(t(2.0, 0.0)[:, None], t(-1.0, 1.0)).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="v_real"):
        rsgan.g_loss(t(-1.0))
    with pytest.raises(ValueError, match="pairs"):
        rsgan.d_loss(t(1.0, 2.0), t(0.0))


def test_ragan_compares_with_the_other_batch_mean() -> None:
    v_r, v_f = t(2.0, 0.0), t(-1.0, 1.0)  # E v_r = 1, E v_f = 0
    # L_D = mean softplus(−(v_r − 0)) + mean softplus(v_f − 1)
    #     = ½(softplus(−2) + ln 2) + ½(softplus(−2) + ln 2).
    l_d = softplus(-2.0) + LN2
    # L_G = mean softplus(−(v_f − 1)) + mean softplus(v_r − 0)
    #     = ½(softplus(2) + ln 2) + ½(softplus(2) + ln 2).
    l_g = softplus(2.0) + LN2
    assert LOSSES["ragan"].d_loss(v_r, v_f).item() == pytest.approx(l_d, rel=1e-6)
    assert LOSSES["ragan"].g_loss(v_f, v_r).item() == pytest.approx(l_g, rel=1e-6)
    # At v ≡ 0 each of the two terms is ln 2.
    zeros = torch.zeros(4)
    assert LOSSES["ragan"].d_loss(zeros, zeros).item() == pytest.approx(2 * LN2, abs=1e-6)


def test_relativistic_losses_report_no_jsd_bound_because_it_would_be_false() -> None:
    # Why readout() is empty: P = (0.99, 0.01), Q = (0.01, 0.99) on {a, b}, critic C(a) = 10, C(b) = −10.
    # E_P C = 9.8, E_Q C = −9.8. RaGAN's L_D = 0.99 softplus(−19.8) + 0.01 softplus(0.2)
    #                                      + 0.01 softplus(0.2) + 0.99 softplus(−19.8) ≈ 0.01596.
    # "ln 2 − L_D/2" would read 0.685 nats, above the true JSD = 0.99 ln 1.98 + 0.01 ln 0.02 = 0.637.
    v_r = torch.tensor([10.0] * 99 + [-10.0], dtype=torch.float64)
    v_f = torch.tensor([10.0] * 1 + [-10.0] * 99, dtype=torch.float64)
    true_jsd = 0.99 * math.log(1.98) + 0.01 * math.log(0.02)
    l_d = 2 * (0.99 * softplus(-19.8) + 0.01 * softplus(0.2))
    assert LOSSES["ragan"].d_loss(v_r, v_f).item() == pytest.approx(l_d, rel=1e-9)
    assert LN2 - l_d / 2 > true_jsd + 0.04
    assert LOSSES["ragan"].readout(v_r, v_f) == {} and LOSSES["rsgan"].readout(v_r, v_f) == {}


# ---------------------------------------------------------------------------------------------------
# Every loss: stability, read-out types, configure()
# ---------------------------------------------------------------------------------------------------

VARIANTS = [LOSSES[n] for n in LOSS_NAMES] + [configure("lsgan", lsgan_coding="-1-1-0")] + [
    configure(n, fgan_g="saddle") for n in LOSS_NAMES if n.startswith("fgan-")]
EXTREMES = [torch.full((4,), 1e4), torch.full((4,), -1e4), torch.tensor([1e4, -1e4, 0.0, 5.0])]


@pytest.mark.parametrize("loss", VARIANTS, ids=lambda loss: f"{loss.name}-{loss.terms}")
def test_every_loss_is_finite_with_finite_gradients_at_extreme_logits(loss: Loss) -> None:
    for real in EXTREMES:
        for fake in EXTREMES:
            v_r, v_f = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
            l_d, l_g = loss.d_loss(v_r, v_f), loss.g_loss(v_f, v_r)
            assert l_d.dtype == torch.float32 and l_d.dim() == 0 and l_g.dim() == 0
            assert torch.isfinite(l_d) and torch.isfinite(l_g), (real, fake)
            grad_r, grad_f = torch.autograd.grad(l_d, (v_r, v_f))
            assert torch.isfinite(grad_r).all() and torch.isfinite(grad_f).all(), (real, fake)
            (grad_g,) = torch.autograd.grad(l_g, v_f)
            assert torch.isfinite(grad_g).all(), (real, fake)
            for value in loss.readout(v_r, v_f).values():
                assert torch.isfinite(value)


def test_exp_cap_keeps_maxlikelihood_gradient_alive_and_signed() -> None:
    # Above the cap the cost continues linearly: the gradient stays −½·e^50/N (not 0, not inf).
    v_f = torch.tensor([60.0, 1e4], requires_grad=True)
    LOSSES["maxlikelihood"].g_loss(v_f).backward()
    assert v_f.grad.tolist() == pytest.approx([-0.5 * math.exp(50.0) / 2] * 2, rel=1e-5)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_readouts_are_detached_scalar_tensors(name: str) -> None:
    v_r = torch.tensor([1.0, 2.0], requires_grad=True)
    v_f = torch.tensor([-1.0, 0.5], requires_grad=True)
    for key, value in LOSSES[name].readout(v_r, v_f).items():
        assert key in ("jsd_bound", "fdiv_bound", "w_estimate")
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad


def test_configure_defaults_are_the_registry_entries() -> None:
    for name in LOSS_NAMES:
        assert configure(name) == LOSSES[name]
    # Options for another family are ignored (the config always carries both).
    assert configure("wgan", lsgan_coding="-1-1-0", fgan_g="saddle") is LOSSES["wgan"]
    variant = configure("fgan-pearson", fgan_g="saddle")
    assert variant != LOSSES["fgan-pearson"]
    assert (variant.name, variant.description, variant.hint) == (
        "fgan-pearson", LOSSES["fgan-pearson"].description, LOSSES["fgan-pearson"].hint)
    # Pearson saddle at v = 2: −f*(g(2)) = −(2²/4 + 2) = −3; practical −g(2) = −2.
    assert variant.g_loss(t(2.0)).item() == pytest.approx(-3.0)
    assert LOSSES["fgan-pearson"].g_loss(t(2.0)).item() == pytest.approx(-2.0)


def test_configure_rejects_unknown_values() -> None:
    with pytest.raises(KeyError, match="unknown loss"):
        configure("vanilla")
    with pytest.raises(ValueError, match="LSGAN coding"):
        configure("lsgan", lsgan_coding="0-1-0")
    with pytest.raises(ValueError, match="f-GAN"):
        configure("fgan-kl", fgan_g="both")
