"""The engine's data layer: 2-D toy densities, image datasets, and the samplers the trainer draws from.

Import what you need from here; the submodules are ``toys`` (known 2-D densities), ``images``
(reading datasets into [−1, 1]), ``fake`` (synthetic images) and ``samplers`` (minibatch sources).
torchvision, scikit-learn and Pillow are imported only when a dataset that needs them is loaded.
"""

from gantui.engine.data.fake import fake_images
from gantui.engine.data.images import DataError, ImageSource, dataset_shape, load_image_source
from gantui.engine.data.samplers import (
    DeviceTensorSampler,
    Sampler,
    StreamingSampler,
    ToySampler,
    build_sampler,
    fixed_real_batch,
    move_to_device,
)
from gantui.engine.data.toys import TOY_NAMES, GaussianMixture2D, Spiral, ToyDistribution, toy_distribution

__all__ = [
    "TOY_NAMES",
    "DataError",
    "DeviceTensorSampler",
    "GaussianMixture2D",
    "ImageSource",
    "Sampler",
    "Spiral",
    "StreamingSampler",
    "ToyDistribution",
    "ToySampler",
    "build_sampler",
    "dataset_shape",
    "fake_images",
    "fixed_real_batch",
    "load_image_source",
    "move_to_device",
    "toy_distribution",
]
