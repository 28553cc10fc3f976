"""Quality metrics on feature arrays, against values derived by hand or computed independently."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gantui.engine.quality import manifold
from gantui.engine.quality.classes import class_coverage, class_histogram, inception_score
from gantui.engine.quality.frechet import frechet_distance_of_features, moments, sqrt_psd
from gantui.engine.quality.kid import kid, mmd2_unbiased
from gantui.engine.quality.manifold import knn_radii, prdc
from tests.quality_helpers import ProjectionSpace, digits_test_images


def closed_form_fid(x: np.ndarray, y: np.ndarray) -> float:
    """‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2 sqrtm(Σ₁Σ₂)), with scipy's generic matrix square root."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def noisy_copy(images: torch.Tensor, std: float, *, seed: int) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + std * noise).clamp(-1, 1)


def features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=gen) / d**0.5  # correlated, not isotropic
    return (torch.randn(n, d, generator=gen) @ mix) * scale + shift


def test_fid_of_a_set_against_itself_is_zero():
    x = features(2000, 32, seed=1)
    assert frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_the_closed_form_with_scipy_sqrtm():
    x = features(1500, 48, seed=2)
    y = features(1200, 48, seed=3, shift=0.3, scale=1.4)
    expected = closed_form_fid(x.double().numpy(), y.double().numpy())
    assert expected > 1.0
    assert frechet_distance_of_features(x, y) == pytest.approx(expected, abs=1e-3)
    assert frechet_distance_of_features(y, x) == pytest.approx(expected, abs=1e-3)  # symmetric


def test_fid_of_two_gaussians_is_the_mean_shift_plus_the_trace_term():
    # N(0, I) vs N(m, 4I) in d dimensions: ‖m‖² + d(1 + 4 − 2·2) = ‖m‖² + d, up to sampling error.
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(20000, 8, generator=gen)
    y = 2 * torch.randn(20000, 8, generator=gen) + 0.5
    assert frechet_distance_of_features(x, y) == pytest.approx(8 * 0.25 + 8, rel=0.03)


def test_fid_matches_torchmetrics_with_the_same_feature_module():
    from torchmetrics.image.fid import FrechetInceptionDistance

    images, _ = digits_test_images()
    space = ProjectionSpace(64, dim=16)
    noisy = noisy_copy(images, 0.3, seed=5)
    metric = FrechetInceptionDistance(feature=space.module(), input_img_size=(1, 8, 8))
    metric.update(images, real=True)
    metric.update(noisy, real=False)
    ours = frechet_distance_of_features(space(images).features, space(noisy).features)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-4)


def test_fid_grows_with_the_noise_added_to_the_images():
    images, _ = digits_test_images()
    space = ProjectionSpace(64, dim=16)
    real = space(images).features
    gen = torch.Generator().manual_seed(6)
    noise = torch.randn(images.shape, generator=gen)
    fids = [frechet_distance_of_features(real, space((images + s * noise).clamp(-1, 1)).features)
            for s in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert fids[0] == pytest.approx(0.0, abs=1e-6)
    assert all(a < b for a, b in itertools.pairwise(fids)), fids


def test_sqrt_psd_squares_back_and_clips_rounding_noise():
    a = features(500, 12, seed=7)
    cov = moments(a).cov
    root = sqrt_psd(cov)
    assert torch.allclose(root @ root, cov, atol=1e-10)
    singular = torch.diag(torch.tensor([4.0, 1.0, -1e-15], dtype=torch.float64))
    assert torch.allclose(sqrt_psd(singular), torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)))


# ------------------------------------------------------------------------------------------ KID
def test_mmd_matches_the_double_sum_written_out():
    gen = torch.Generator().manual_seed(8)
    x, y = torch.rand(6, 3, generator=gen), torch.rand(6, 3, generator=gen) + 0.2

    def k(a, b):
        return (float(a @ b) / 3 + 1) ** 3

    m = 6
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert mmd2_unbiased(x, y) == pytest.approx(within - 2 * across, rel=1e-5)


def test_kid_is_zero_within_its_spread_for_one_distribution_and_not_for_two():
    a = features(3000, 32, seed=9).abs()
    b = features(3000, 32, seed=10).abs()  # another draw of the same distribution
    value, spread = kid(a[:1500], a[1500:], subsets=50, subset_size=500)
    assert abs(value) < spread
    shifted, shifted_spread = kid(a, b + 0.15, subsets=50, subset_size=500)
    assert shifted > 5 * shifted_spread > 0


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_matches_torchmetrics_on_whole_sets():
    from torchmetrics.image.kid import KernelInceptionDistance

    images, _ = digits_test_images()
    space = ProjectionSpace(64, dim=16)
    noisy = noisy_copy(images, 0.3, seed=11)
    n = len(images)
    # One subset of the whole set is a permutation: the unbiased MMD² does not depend on the order.
    metric = KernelInceptionDistance(feature=space.module(), subsets=1, subset_size=n)
    metric.update(images, real=True)
    metric.update(noisy, real=False)
    theirs = float(metric.compute()[0])
    ours, _ = kid(space(images).features, space(noisy).features, subsets=1, subset_size=n)
    assert ours == pytest.approx(theirs, rel=1e-4)


def test_kid_is_deterministic():
    a, b = features(800, 8, seed=12), features(800, 8, seed=13)
    assert kid(a, b, subsets=5, subset_size=200) == kid(a, b, subsets=5, subset_size=200)


# ----------------------------------------------------------------------------------------- PRDC
def test_knn_radii_by_hand_on_a_line():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # Distances from 0: 1, 3, 7; from 1: 1, 2, 6; from 3: 2, 3, 4; from 7: 4, 6, 7.
    assert knn_radii(x, 1).tolist() == pytest.approx([1, 1, 2, 4])
    assert knn_radii(x, 2).tolist() == pytest.approx([3, 2, 3, 6])


def test_prdc_by_hand_on_a_line(monkeypatch):
    monkeypatch.setattr(manifold, "K_PRECISION_RECALL", 1)
    monkeypatch.setattr(manifold, "K_DENSITY_COVERAGE", 1)
    real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])  # 1-NN radii 1, 1, 2, 4
    fake = torch.tensor([[0.5], [2.0], [20.0], [21.0]])  # 1-NN radii 1.5, 1.5, 1, 1
    out = prdc(real, fake)
    # 0.5 lies in the balls of 0 and 1; 2.0 in those of 1 and 3; 20 and 21 in none.
    assert out["precision"] == pytest.approx(2 / 4)
    assert out["density"] == pytest.approx(4 / 4 / 1)
    # Reals within a fake ball: 0 and 1 (ball of 0.5, r 1.5), 3 (ball of 2, r 1.5); 7 is not.
    assert out["recall"] == pytest.approx(3 / 4)
    # Reals with a fake inside their own ball: 0 (0.5), 1 (0.5, 2.0), 3 (2.0); 7 has none within 4.
    assert out["coverage"] == pytest.approx(3 / 4)


def test_identical_sets_have_precision_recall_and_coverage_one():
    x = features(1000, 16, seed=14)
    out = prdc(x, x.clone())
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] >= 1.0  # each point is in its own ball, and in those of its neighbours


def clusters(n_per: int, classes: list[int], seed: int) -> torch.Tensor:
    """Well separated Gaussian clusters, one per class, in 16-d."""
    centres = torch.eye(16)[:10] * 20
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([centres[c] + torch.randn(n_per, 16, generator=gen) for c in classes])


def test_precision_falls_when_the_fakes_are_noise():
    real = clusters(100, list(range(10)), seed=15)
    good = prdc(real, clusters(100, list(range(10)), seed=16))
    noise = prdc(real, 20 * torch.rand(1000, 16, generator=torch.Generator().manual_seed(17)))
    # Even one distribution scores below 1 on 1 000 points in 16-d: k-NN balls underestimate a manifold.
    assert good["precision"] > 0.75 and good["coverage"] > 0.9
    assert noise["precision"] < 0.05 and noise["density"] < 0.05


def test_recall_falls_when_the_fakes_cover_half_the_classes():
    real = clusters(100, list(range(10)), seed=18)
    full = prdc(real, clusters(100, list(range(10)), seed=16))
    half = prdc(real, clusters(200, [0, 1, 2, 3, 4], seed=19))  # as many fakes, from half the classes
    assert half["precision"] == pytest.approx(full["precision"], abs=0.05)  # what is drawn is realistic ...
    assert half["recall"] == pytest.approx(full["recall"] / 2, abs=0.06)  # ... but half the data is missed
    assert half["coverage"] == pytest.approx(full["coverage"] / 2, abs=0.06)


def test_prdc_in_small_chunks_equals_one_pass(monkeypatch):
    real, fake = features(600, 8, seed=20), features(600, 8, seed=21, shift=0.2)
    whole = prdc(real, fake)
    monkeypatch.setattr(manifold, "DISTANCE_CHUNK_ELEMENTS", 600 * 7)  # 7 rows per chunk
    steps = manifold.iter_prdc(real, fake)
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as end:
            chunked = end.value
            break
    assert yields > 100
    assert chunked == whole


# ----------------------------------------------------------------------------- classes and IS
def test_class_coverage_by_hand():
    data = torch.full((10,), 100.0)
    assert class_coverage(data, data) == (10, pytest.approx(0.0, abs=1e-12))
    one = torch.zeros(10)
    one[3] = 50
    assert class_coverage(one, data) == (1, pytest.approx(math.log(10)))
    # Five classes at 19.9 % and five at 0.1 % (under a tenth of their 10 %: missing).
    half = torch.tensor([199, 199, 199, 199, 199, 1, 1, 1, 1, 1], dtype=torch.float64)
    covered, kl = class_coverage(half, data)
    assert covered == 5
    assert kl == pytest.approx(5 * 0.199 * math.log(1.99) + 5 * 0.001 * math.log(0.01))


def test_class_histogram_counts_every_class():
    assert class_histogram(torch.tensor([0, 2, 2, 9]), 10).tolist() == [1, 0, 2, 0, 0, 0, 0, 0, 0, 1]


def test_inception_score_by_hand():
    k = 10
    confident = torch.eye(k).repeat(50, 1)  # every class equally often, each image certain
    mean, std = inception_score(confident)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    assert inception_score(torch.full((500, k), 1.0 / k))[0] == pytest.approx(1.0)
    assert inception_score(torch.eye(k)[torch.zeros(500, dtype=torch.long)])[0] == pytest.approx(1.0)
