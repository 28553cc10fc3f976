"""Shared set-up for the image-quality tests: a stand-in feature space and the digits classifier.

The digits classifier takes seconds to train; :func:`digits_classifier` trains it once per test
session into a temporary cache folder, so every quality test module shares it.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from gantui.engine.quality.classifier import TrainedClassifier, iter_classifier, labelled_splits
from gantui.engine.quality.features import Features
from gantui.engine.quality.steps import finish
from gantui.presets import load_config

CPU = torch.device("cpu")


def digits_config():
    return load_config("digits-mlp", ["train.threads=1"])


@functools.cache
def quality_cache() -> Path:
    """A temporary cache root for the whole session (removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix="gantui-quality-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.cache
def digits_classifier() -> TrainedClassifier:
    return finish(iter_classifier(digits_config().data, (1, 8, 8), device=CPU, root=quality_cache()))


@functools.cache
def digits_test_images() -> tuple[Tensor, Tensor]:
    """The held-out digits as [−1, 1] images (N, 1, 8, 8) and their labels."""
    _, test = labelled_splits(digits_config().data)
    return test.to_unit(test.pixels), test.labels


class ProjectionSpace:
    """A stand-in feature space: a fixed random projection of the pixels, then tanh (counts images seen)."""

    distance_name = "fd_stand_in"
    classes = 0
    inception_score = False
    device = CPU

    def __init__(self, pixels: int, dim: int = 16, seed: int = 0, key: str = "projection") -> None:
        gen = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(pixels, dim, generator=gen) / pixels**0.5
        self.dim = dim
        self.key = f"{key}-{dim}-{seed}"
        self.images_seen = 0

    def module(self) -> nn.Module:
        """The same map as an nn.Module (for torchmetrics' ``feature=``)."""
        weight = self.weight

        class Projection(nn.Module):
            def forward(self, x: Tensor) -> Tensor:
                return torch.tanh(x.flatten(1).float() @ weight)

        return Projection()

    def __call__(self, images: Tensor) -> Features:
        self.images_seen += len(images)
        return Features(torch.tanh(images.flatten(1).float() @ self.weight))

    def nbytes(self) -> int:
        return self.weight.numel() * 4
