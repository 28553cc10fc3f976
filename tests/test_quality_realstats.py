"""Real statistics: computed once per (dataset, split, size, feature space), cached safely on disk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gantui.engine.quality.frechet import moments
from gantui.engine.quality.realstats import RealImages, RealStatsCache, dataset_identity
from gantui.engine.quality.steps import finish
from tests.quality_helpers import ProjectionSpace, digits_config, digits_test_images


def real_images() -> RealImages:
    images, labels = digits_test_images()
    return RealImages("digits-test-1x8x8", len(images), lambda rows: images[rows], labels)


def obtain(cache, space, **kw):
    return finish(cache.iter_obtain(real_images(), space, **kw))


def test_statistics_are_computed_once_and_then_read_from_disk(tmp_path):
    space = ProjectionSpace(64)
    first = obtain(RealStatsCache(tmp_path), space)
    assert space.images_seen == 359
    cache = RealStatsCache(tmp_path)  # a new process: only the file is shared
    second = obtain(cache, space)
    assert cache.computed == 0 and space.images_seen == 359  # no image went through the network again
    assert second.key == first.key
    assert torch.equal(second.moments.cov, first.moments.cov) and torch.equal(second.sample, first.sample)
    assert second.class_counts is None and first.class_counts is None  # the stand-in has no classes


def test_the_statistics_are_those_of_the_features(tmp_path):
    space = ProjectionSpace(64)
    images, _ = digits_test_images()
    stats = obtain(RealStatsCache(tmp_path), space, sample=100)
    direct = moments(space(images).features)
    assert torch.allclose(stats.moments.mean, direct.mean) and torch.allclose(stats.moments.cov, direct.cov)
    assert stats.sample.shape == (100, 16)
    assert stats.class_counts is None  # the stand-in has no classes


def test_the_key_changes_with_the_size_and_the_feature_space(tmp_path):
    cache = RealStatsCache(tmp_path)
    keys = {obtain(cache, ProjectionSpace(64)).key,
            obtain(cache, ProjectionSpace(64), n=200).key,  # another size
            obtain(cache, ProjectionSpace(64, seed=1)).key,  # another network
            obtain(cache, ProjectionSpace(64, dim=8)).key}
    assert len(keys) == 4 and cache.computed == 4
    assert len(list(cache.root.glob("*.npz"))) == 4


def test_the_dataset_identity_names_split_shape_and_folder(tmp_path):
    cfg = digits_config().data
    assert dataset_identity(cfg, (1, 8, 8)) != dataset_identity(cfg, (1, 8, 8), "test")
    assert dataset_identity(cfg, (1, 8, 8)) != dataset_identity(cfg, (1, 16, 16))


def test_the_file_loads_without_pickle_and_a_damaged_one_is_recomputed(tmp_path):
    cache = RealStatsCache(tmp_path)
    space = ProjectionSpace(64)
    stats = obtain(cache, space)
    path = cache.path(stats.key)
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert set(f.files) == {"key", "n", "mean", "cov", "sample", "class_counts"}
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again = obtain(cache, space)
    assert cache.computed == 2 and torch.equal(again.moments.cov, stats.moments.cov)


def test_memory_is_reported_and_derived_values_are_kept(tmp_path):
    stats = obtain(RealStatsCache(tmp_path), ProjectionSpace(64))
    base = stats.nbytes()
    assert base == 16 * 8 + 16 * 16 * 8 + 359 * 16 * 4
    root = stats.sqrt_cov()
    assert stats.sqrt_cov() is root  # computed once
    radii = finish(stats.iter_radii(300))
    assert finish(stats.iter_radii(300)) is radii
    assert stats.nbytes() == base + 16 * 16 * 8 + 2 * 300 * 4
    with pytest.raises(ValueError):
        finish(stats.iter_radii(5))  # k = 5 needs more than 5 points
