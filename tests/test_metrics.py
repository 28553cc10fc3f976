"""The 2-D toy read-outs of gantui.engine.metrics against values derived by hand.

Reference numbers come from GAN_THEORY.md and are re-derived here where a closed form exists.
Datasets are defined in this file (GAN_THEORY.md's definitions) so the test does not depend on
the data module: 8-ring radius 2, std 0.02; 25-grid means (i, j), i, j in {-4, -2, 0, 2, 4}, std 0.05.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from gantui.engine.metrics import (
    data_bin_masses,
    histogram_grid,
    jsd_bias,
    jsd_binned,
    jsd_covering,
    jsd_gaussians_1d,
    jsd_true,
    mode_metrics,
)

LN2 = math.log(2.0)

RING_ANGLES = 2 * np.pi * np.arange(8) / 8
RING_MEANS = 2.0 * np.stack([np.cos(RING_ANGLES), np.sin(RING_ANGLES)], axis=1)  # (8, 2)
RING_STD = 0.02
GRID_MEANS = np.array([(i, j) for i in range(-4, 5, 2) for j in range(-4, 5, 2)], dtype=float)  # (25, 2)
GRID_STD = 0.05


def sample_modes(means: np.ndarray, std: float, k: int, n: int, seed: int) -> np.ndarray:
    """n samples from a generator that covers the first k modes perfectly (equal weights, data std)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, n)
    return means[idx] + std * rng.standard_normal((n, 2))


def hand_jsd_covering(k: int, big_k: int) -> float:
    """JSD for p uniform over K modes, q uniform over k covered ones, modes well separated.

    JSD = ½[Σ_covered p log(2p/(p+q)) + Σ_uncovered p log 2] + ½ Σ_covered q log(2q/(p+q)),
    with p = 1/K, q = 1/k per mode (each mode's density shape cancels inside the logs).
    """
    p, q = 1.0 / big_k, 1.0 / k
    p_part = k * p * math.log(2 * p / (p + q)) + (big_k - k) * p * LN2
    q_part = k * q * math.log(2 * q / (p + q))
    return 0.5 * p_part + 0.5 * q_part


# ---------------------------------------------------------------------------------------------
# 1-D oracle: validates the JSD definition and units (nats)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mu2,s2,expected", [
    (1.0, 1.0, 0.111421),   # GAN_THEORY.md: N(0,1)‖N(1,1)
    (2.0, 1.0, 0.336831),   # N(0,1)‖N(2,1)
    (0.0, 2.0, 0.092733),   # N(0,1)‖N(0,2²)
    (10.0, 1.0, LN2),       # disjoint for all practical purposes: the maximum, ln 2
])
def test_jsd_gaussians_1d_oracle(mu2: float, s2: float, expected: float) -> None:
    assert jsd_gaussians_1d(0.0, 1.0, mu2, s2) == pytest.approx(expected, abs=1e-5)


def test_jsd_gaussians_1d_is_symmetric() -> None:
    forward, backward = jsd_gaussians_1d(0.0, 1.0, 0.0, 2.0), jsd_gaussians_1d(0.0, 2.0, 0.0, 1.0)
    assert forward == pytest.approx(backward, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Discrete JSD and its bias term
# ---------------------------------------------------------------------------------------------


def test_jsd_binned_hand_values() -> None:
    assert jsd_binned(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(LN2)  # disjoint
    assert jsd_binned(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == pytest.approx(0.0, abs=1e-15)
    # p = (½, ½), q = (1, 0): m = (¾, ¼).
    # ½[½ log(½/¾) + ½ log(½/¼)] + ½[1 · log(1/¾)] = ¼ log(2/3) + ¼ log 2 + ½ log(4/3).
    expected = 0.25 * math.log(2 / 3) + 0.25 * LN2 + 0.5 * math.log(4 / 3)
    assert jsd_binned(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(expected, abs=1e-12)


def test_jsd_bias_hand_value() -> None:
    # p = q̂ = 1/M on M bins: (1/(4n)) · M · (1/M)(1 − 1/M)/(2/M) = (M − 1)/(8n).
    m, n = 50, 1000
    p = np.full(m, 1.0 / m)
    assert jsd_bias(p, p, n) == pytest.approx((m - 1) / (8 * n), rel=1e-12)
    # Bins where q̂ = 0 are left out of the sum.
    assert jsd_bias(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 10) == pytest.approx(0.0, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Exact data-bin masses
# ---------------------------------------------------------------------------------------------


def test_grid_covers_the_means_with_std_wide_bins() -> None:
    x_edges, y_edges = histogram_grid(RING_MEANS, RING_STD)
    np.testing.assert_allclose(np.diff(x_edges), RING_STD)
    assert x_edges[0] <= -2.0 - 6 * RING_STD + 1e-12 and x_edges[-1] >= 2.0 + 6 * RING_STD - 1e-12
    assert y_edges[0] <= -2.0 - 6 * RING_STD + 1e-12 and y_edges[-1] >= 2.0 + 6 * RING_STD - 1e-12


def test_data_bin_masses_match_erf_by_hand() -> None:
    # One mode N((0.3, -0.2), 0.5² I) on edges 0, 0.5, 1 (x) and -1, 0 (y): bin (0, 0) holds
    # [Φ((0.5−0.3)/0.5) − Φ((0−0.3)/0.5)] · [Φ((0+0.2)/0.5) − Φ((−1+0.2)/0.5)], Φ(z) = ½(1 + erf(z/√2)).
    def phi(z: float) -> float:
        return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))

    x_edges, y_edges = np.array([0.0, 0.5, 1.0]), np.array([-1.0, 0.0])
    p, outside = data_bin_masses(np.array([[0.3, -0.2]]), 0.5, np.array([1.0]), x_edges, y_edges)
    assert p.shape == (2, 1)
    ax0 = phi(0.4) - phi(-0.6)
    ax1 = phi(1.4) - phi(0.4)
    ay = phi(0.4) - phi(-1.6)
    np.testing.assert_allclose(p[:, 0], [ax0 * ay, ax1 * ay], rtol=1e-12)
    assert outside == pytest.approx(1.0 - (ax0 + ax1) * ay, abs=1e-12)


def test_data_bin_masses_mixture_weights_and_far_tail() -> None:
    # Two modes weighted 0.25 / 0.75; each in-grid total is its weight, and the grid of ±6 std leaves
    # outside at most 4·Φ(−6) ≈ 4e-9 (per axis, both tails).
    means = np.array([[-1.0, 0.0], [1.0, 0.0]])
    x_edges, y_edges = histogram_grid(means, 0.1)
    p, outside = data_bin_masses(means, 0.1, np.array([0.25, 0.75]), x_edges, y_edges)
    left = p[x_edges[:-1] < 0.0].sum()
    assert left == pytest.approx(0.25, abs=1e-9)
    assert p.sum() + outside == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= outside < 4e-9
    # The last bin, 5 to 6 std right of the
    # mode at x = 1 holds 0.75 · (Φ(6) − Φ(5)) · ~1 ≈ 0.75 · 2.9e-7.
    tail = 0.5 * math.erfc(5 / math.sqrt(2)) - 0.5 * math.erfc(6 / math.sqrt(2))  # Φ(6) − Φ(5)
    assert p[-1].sum() == pytest.approx(0.75 * tail, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------------


def test_covering_table_from_the_hand_formula() -> None:
    # GAN_THEORY.md's table, to its 4 decimals.
    ring = [0.4969, 0.3804, 0.2903, 0.2158, 0.1518, 0.0956, 0.0454, 0.0]
    for k, expected in zip(range(1, 9), ring, strict=True):
        assert hand_jsd_covering(k, 8) == pytest.approx(expected, abs=6e-5)
        assert jsd_covering(k, 8) == pytest.approx(hand_jsd_covering(k, 8), abs=1e-12)
    grid = {1: 0.6084, 5: 0.4228, 10: 0.2744, 15: 0.1639, 20: 0.0749, 24: 0.0141}
    for k, expected in grid.items():
        assert hand_jsd_covering(k, 25) == pytest.approx(expected, abs=6e-5)
        assert jsd_covering(k, 25) == pytest.approx(hand_jsd_covering(k, 25), abs=1e-12)


@pytest.mark.parametrize("k", range(1, 9))
def test_jsd_true_on_ring_generators_covering_k_modes(k: int) -> None:
    # Tolerance 0.005 nats: GAN_THEORY.md measures the residual (after-correction) bias at n = 10 000
    # as ≈ 0.002 at q = p and 0.0016 with one mode dropped (0.047 vs 0.0454); the bias shrinks as
    # fewer modes are covered (fewer occupied bins). Seed-to-seed spread measured over 20 seeds is
    # below 0.0004, so 0.002 + 5 · 0.0004 = 0.004 < 0.005.
    fake = sample_modes(RING_MEANS, RING_STD, k, 10_000, seed=k)
    estimate = jsd_true(fake, RING_MEANS, RING_STD, np.full(8, 1 / 8))
    assert estimate == pytest.approx(hand_jsd_covering(k, 8), abs=0.005)


def test_bias_correction_is_what_brings_q_equals_p_near_zero() -> None:
    # At q = p the plug-in histogram JSD is inflated by roughly (occupied bins)/(8n); here ~300 bins
    # hold most samples, so the uncorrected value is ≈ 0.004-0.006. The corrected estimate must be
    # within GAN_THEORY.md's 0.002 plus sampling spread (< 0.004); without correction it would not be.
    fake = sample_modes(RING_MEANS, RING_STD, 8, 10_000, seed=42)
    weights = np.full(8, 1 / 8)
    estimate = jsd_true(fake, RING_MEANS, RING_STD, weights)
    assert 0.0 <= estimate < 0.004
    x_edges, y_edges = histogram_grid(RING_MEANS, RING_STD)
    p, p_out = data_bin_masses(RING_MEANS, RING_STD, weights, x_edges, y_edges)
    counts = np.histogram2d(fake[:, 0], fake[:, 1], bins=(x_edges, y_edges))[0]
    n_out = len(fake) - counts.sum()
    plug_in = jsd_binned(np.append(p.ravel(), p_out), np.append(counts.ravel(), n_out) / len(fake))
    assert plug_in > 0.004
    assert plug_in - estimate > 0.002


@pytest.mark.parametrize("k", [1, 5])
def test_jsd_true_on_grid_generators(k: int) -> None:
    # 25-grid: with few modes covered few bins are occupied and the residual bias is small; at
    # n = 10 000 and k <= 5 (≤ 250 occupied bins, like the ring) the ring's 0.005 tolerance applies.
    fake = sample_modes(GRID_MEANS, GRID_STD, k, 10_000, seed=100 + k)
    estimate = jsd_true(fake, GRID_MEANS, GRID_STD, np.full(25, 1 / 25))
    assert estimate == pytest.approx(hand_jsd_covering(k, 25), abs=0.005)


def test_jsd_true_single_gaussian_against_the_1d_oracle() -> None:
    # Data N(0, I), fakes N((1, 0), I): both factorise over the axes with the same y factor, so the
    # 2-D JSD equals the 1-D JSD N(0,1)‖N(1,1) = 0.111421 (checked by the 1-D oracle above), and so
    # does the *binned* JSD equal the binned 1-D one: the y masses cancel inside every log.
    means, std, weights = np.zeros((1, 2)), 1.0, np.ones(1)
    true_jsd = jsd_gaussians_1d(0.0, 1.0, 1.0, 1.0)

    # Binning bias, computed independently with math.erf on the estimator's x edges (-6 .. 6 in
    # steps of 1, plus the outside). Binning can only lose information, so binned ≤ true.
    def phi(z: float) -> float:
        return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))

    edges = list(range(-6, 7))
    p1 = [phi(b) - phi(a) for a, b in itertools.pairwise(edges)]
    q1 = [phi(b - 1) - phi(a - 1) for a, b in itertools.pairwise(edges)]
    p1.append(1.0 - sum(p1))
    q1.append(1.0 - sum(q1))
    binned = sum(0.5 * p * math.log(2 * p / (p + q)) + 0.5 * q * math.log(2 * q / (p + q))
                 for p, q in zip(p1, q1, strict=True))
    binning_bias = true_jsd - binned
    assert 0.0 < binning_bias < 0.01  # bins one std wide: a coarse but bounded loss

    # Sampling error at n = 20 000: seed-to-seed spread is ≈ 0.0013 (measured over 30 seeds), so the
    # estimate must sit within 0.006 (> 4 spreads) of the binned value, hence within
    # binning_bias + 0.006 of the true 2-D JSD.
    rng = np.random.default_rng(7)
    fake = rng.standard_normal((20_000, 2)) + np.array([1.0, 0.0])
    estimate = jsd_true(fake, means, std, weights)
    assert estimate == pytest.approx(binned, abs=0.006)
    assert estimate == pytest.approx(true_jsd, abs=binning_bias + 0.006)
    # Halving the bins shrinks the binning loss (to ~0.001); the estimate lands closer to the truth.
    estimate_fine = jsd_true(fake, means, std, weights, bin_width=0.5)
    assert estimate_fine == pytest.approx(true_jsd, abs=0.006)


def test_jsd_true_reaches_ln2_for_samples_off_the_grid_or_not_finite() -> None:
    # Every fake in the overflow bin, where p holds < 1e-8: JSD = ½ Σ p ln 2 + ½ · 1 · log(2/(1+p_out))
    # ≈ ln 2, and the bias term is 0 (q̂ = 1 in the only occupied bin).
    weights = np.full(8, 1 / 8)
    far = np.full((10_000, 2), 50.0)
    assert jsd_true(far, RING_MEANS, RING_STD, weights) == pytest.approx(LN2, abs=1e-6)
    nan = np.full((10_000, 2), np.nan)
    assert jsd_true(nan, RING_MEANS, RING_STD, weights) == pytest.approx(LN2, abs=1e-6)


def test_jsd_true_takes_tensors() -> None:
    fake = sample_modes(RING_MEANS, RING_STD, 3, 10_000, seed=5)
    weights = np.full(8, 1 / 8)
    from_numpy = jsd_true(fake, RING_MEANS, RING_STD, weights)
    from_tensor = jsd_true(torch.from_numpy(fake).float(), torch.from_numpy(RING_MEANS), RING_STD,
                           torch.from_numpy(weights))
    assert from_tensor == pytest.approx(from_numpy, abs=1e-3)  # float32 rounding moves a few samples


# ---------------------------------------------------------------------------------------------
# Mode coverage
# ---------------------------------------------------------------------------------------------


def test_mode_metrics_points_on_three_modes() -> None:
    fake = np.repeat(RING_MEANS[[0, 3, 5]], 10, axis=0)
    assert mode_metrics(fake, RING_MEANS, RING_STD) == (3, 1.0)


def test_mode_metrics_points_far_away() -> None:
    fake = np.full((100, 2), 10.0)
    assert mode_metrics(fake, RING_MEANS, RING_STD) == (0, 0.0)


def test_mode_metrics_three_std_boundary() -> None:
    # 2.9 std from mode 0 counts, 3.1 std does not; non-finite samples are low quality.
    fake = np.array([RING_MEANS[0] + [2.9 * RING_STD, 0.0], RING_MEANS[2] + [0.0, 3.1 * RING_STD],
                     [np.nan, 0.0], [np.inf, np.inf]])
    assert mode_metrics(fake, RING_MEANS, RING_STD) == (1, 0.25)


def test_mode_metrics_perfect_generator_hq_is_chi2_probability() -> None:
    # ‖x − μ‖²/σ² ~ χ²₂ for a sample of its own mode, and P(χ²₂ ≤ 9) = 1 − e^{−9/2} = 0.98889.
    # Binomial standard error at n = 20 000: √(0.98889 · 0.01111 / 20 000) = 0.00074; allow 4 of them.
    fake = torch.from_numpy(sample_modes(RING_MEANS, RING_STD, 8, 20_000, seed=11))
    modes, hq = mode_metrics(fake, RING_MEANS, RING_STD)
    assert modes == 8
    assert hq == pytest.approx(1.0 - math.exp(-4.5), abs=4 * 0.00074)
