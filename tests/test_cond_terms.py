"""The conditional objectives' terms against values derived by hand, and the mutual-information bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gantui.engine.cond import terms
from gantui.engine.cond.judge import matched_accuracy

LN10 = math.log(10.0)


def test_acgan_costs_are_the_class_cross_entropies_of_the_paper() -> None:
    # Two classes. Real: logits (0, ln 3) with label 1: p = 3/4, CE = ln 4/3. Fake: logits (ln 2, 0),
    # asked for class 0: p = 2/3, CE = ln 3/2; fake asked for class 1: p = 1/3, CE = ln 3.
    real = torch.tensor([[0.0, math.log(3.0)]])
    fake = torch.tensor([[math.log(2.0), 0.0], [math.log(2.0), 0.0]])
    y_real, y_fake = torch.tensor([1]), torch.tensor([0, 1])
    fake_ce = (math.log(1.5) + math.log(3.0)) / 2
    d = terms.acgan_d_cost(real, y_real, fake, y_fake, weight=0.5)
    g = terms.acgan_g_cost(fake, y_fake, weight=0.5)
    assert float(d) == pytest.approx(0.5 * (math.log(4 / 3) + fake_ce), abs=1e-6)
    assert float(g) == pytest.approx(0.5 * fake_ce, abs=1e-6)


def test_q_log_sigma_has_a_soft_floor() -> None:
    # log σ = −4 + softplus(raw + 4): raw = 0 gives −4 + ln(1 + e⁴); raw = −10 stays just above −4.
    q = torch.tensor([[0.0, 0.0, 0.3, 0.0], [0.0, 0.0, 0.3, -10.0]])  # K = 2 logits, μ, raw log σ
    _, mean, log_std = terms.split_q(q, 2, 1)
    assert float(mean[0, 0]) == pytest.approx(0.3)
    assert float(log_std[0, 0]) == pytest.approx(-4 + math.log1p(math.exp(4.0)), abs=1e-6)
    assert float(log_std[1, 0]) == pytest.approx(-4 + math.log1p(math.exp(-6.0)), abs=1e-6)


def test_info_cost_against_a_known_q_output() -> None:
    # K = 2, one continuous code. Q says logits (ln 3, 0) (p(c=0) = 3/4), μ = 0.5, log σ = ln 2 (raw chosen
    # so that −4 + softplus(raw + 4) = ln 2). The code is c_cat = 0, c_cont = −0.5:
    # −log Q_cat = ln 4/3; −log Q_cont = ½ ln 2π + ln 2 + (−0.5 − 0.5)² / (2·4) = ½ ln 2π + ln 2 + 1/8.
    raw = math.log(math.expm1(math.log(2.0) + 4.0)) - 4.0
    q = torch.tensor([[math.log(3.0), 0.0, 0.5, raw]])
    code = torch.tensor([[1.0, 0.0, -0.5]])
    cat_nll, cont_nll = terms.info_nll(q, code, categories=2, continuous=1)
    cont_by_hand = 0.5 * math.log(2 * math.pi) + math.log(2.0) + 1 / 8
    assert float(cat_nll) == pytest.approx(math.log(4 / 3), abs=1e-6)
    assert float(cont_nll) == pytest.approx(cont_by_hand, abs=1e-5)
    cost = terms.info_cost(q, code, categories=2, continuous=1, lambda_cat=1.0, lambda_cont=0.1)
    assert float(cost) == pytest.approx(math.log(4 / 3) + 0.1 * cont_by_hand, abs=1e-5)
    bounds = terms.mi_bounds(q, code, categories=2, continuous=1)
    assert float(bounds["mi_bound"]) == pytest.approx(math.log(2.0) - math.log(4 / 3), abs=1e-6)
    assert float(bounds["mi_cont"]) == pytest.approx(0.0)  # ln 2 − 1.63 < 0: clamped, as jsd_bound is


def test_the_mi_bound_is_h_c_for_a_perfect_q_and_zero_for_a_uniform_one() -> None:
    values = torch.arange(100) % 10
    code = torch.nn.functional.one_hot(values, 10).float()
    perfect = 60.0 * code  # the right value's logit 60 above the rest: CE = ln(1 + 9e⁻⁶⁰) ≈ 0
    uniform = torch.zeros(100, 10)
    assert float(terms.mi_bounds(perfect, code, categories=10, continuous=0)["mi_bound"]) == \
        pytest.approx(LN10, abs=1e-6)
    assert float(terms.mi_bounds(uniform, code, categories=10, continuous=0)["mi_bound"]) == \
        pytest.approx(0.0, abs=1e-6)
    assert terms.code_entropy(10) == pytest.approx(2.302585, abs=1e-6)


def test_a_sharp_gaussian_q_bounds_the_continuous_codes_above_their_entropy() -> None:
    # Differential entropies: a Q that recovers c to within σ = e⁻² scores n·(ln 2 − ½ ln 2π + 2 − ½)
    # when it errs by exactly one σ, more than H(c) = n ln 2 itself: mi_cont has no ceiling.
    raw = math.log(math.expm1(-2.0 + 4.0)) - 4.0  # log σ = −2
    sigma = math.exp(-2.0)
    c = torch.tensor([[0.2, -0.7]])
    q = torch.tensor([[0.2 + sigma, -0.7 - sigma, raw, raw]])
    by_hand = 2 * (math.log(2.0) - 0.5 * math.log(2 * math.pi) + 2.0 - 0.5)
    bound = terms.mi_bounds(q, c, categories=0, continuous=2)["mi_cont"]
    assert float(bound) == pytest.approx(by_hand, abs=1e-5)
    assert by_hand > 2 * math.log(2.0)


def test_split_code_reads_the_categorical_value_from_the_one_hot_part() -> None:
    code = torch.tensor([[0.0, 1.0, 0.0, 0.25], [1.0, 0.0, 0.0, -1.0]])
    value, cont = terms.split_code(code, 3)
    assert value.tolist() == [1, 0] and cont.view(-1).tolist() == [0.25, -1.0]


def test_matched_accuracy_is_the_best_one_to_one_assignment() -> None:
    # Codes 0, 1, 2 mean classes 2, 0, 1: a permutation is recognised as perfect.
    codes = np.array([0, 0, 1, 1, 2, 2])
    assert matched_accuracy(codes, np.array([2, 2, 0, 0, 1, 1]), 3, 3) == 1.0
    # Counts[code, class]: code 0 → class 0 ×3, class 1 ×2; code 1 → class 1 ×3. Greedy per code would
    # send both to class 1 (5 + 3, not one-to-one); the best assignment is 0→0, 1→1: (3 + 3) / 8.
    codes = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    classes = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    assert matched_accuracy(codes, classes, 2, 2) == pytest.approx(6 / 8)
    # More code values than classes: an unmatched value counts as wrong.
    assert matched_accuracy(np.array([0, 1, 2]), np.array([0, 1, 1]), 3, 2) == pytest.approx(2 / 3)
