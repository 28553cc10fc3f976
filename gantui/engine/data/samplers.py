"""Minibatch sources: what the trainer calls for fresh real data on every D-step.

Algorithm 1 draws a fresh real minibatch for each of the k D-steps, so ``sample`` sits in the
hottest loop. The three samplers keep it cheap in different ways:

- :class:`ToySampler` draws 2-D points from the known density, on the device.
- :class:`DeviceTensorSampler` keeps the whole dataset on the device and indexes it with
  ``torch.randint`` on a device generator: no host sync, so a CUDA graph can capture it.
- :class:`StreamingSampler` streams uint8 batches through a DataLoader (pinned memory, non-blocking
  copies) for sets that do not fit, and converts them to [−1, 1] on the device.

A labelled image set (``classes`` is not empty) also gives labelled minibatches,
:meth:`~DeviceTensorSampler.sample_labelled` (x and each image's class, drawn together: what a
conditional GAN's D-step needs), and :meth:`~DeviceTensorSampler.class_examples`, a fixed batch
ordered class by class for the dashboard's grid.

:func:`build_sampler` picks one from the ``[data]`` config section.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset

from gantui.engine.data.fake import fake_images
from gantui.engine.data.images import ImageSource, dataset_shape, load_image_source, worker_error
from gantui.engine.data.memory import check_fits, images_nbytes
from gantui.engine.data.toys import TOY_NAMES, ToyDistribution, toy_distribution

# Seeds derived from the run's seed, so the training stream, the fixed "show real" batch and the
# fake images are independent of each other yet all reproducible.
FIXED_BATCH_SEED_OFFSET = 1
FAKE_SEED_OFFSET = 2
ON_DEVICE_FRACTION = 0.25  # data.on_device = auto: keep the set on a GPU below this share of free memory
_BYTES_PER_CHUNK = 2**26  # moving a set to the device in 64 MiB float chunks bounds the peak memory


class Sampler(Protocol):
    """A source of real minibatches on the training device."""

    name: str
    shape: tuple[int, ...]  # per sample: (2,) or (C, H, W)
    is_toy: bool
    device: torch.device

    def sample(self, batch_size: int) -> Tensor:
        """A fresh minibatch, (batch_size, *shape) float32 on ``device``; images in [−1, 1]."""
        ...

    def fixed_batch(self, n: int) -> Tensor:
        """The same ``n`` real samples on every call: the dashboard's "show real" view."""
        ...


class LabelledSampler(Sampler, Protocol):
    """A sampler of a labelled image set: ``classes`` names the labels 0 … K − 1."""

    classes: tuple[str, ...]
    labels: Tensor  # (N,) int64 on the host: the class of each image of the set

    def sample_labelled(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """A fresh minibatch and its labels, (batch_size,) int64 on ``device``."""
        ...

    def class_examples(self, per_class: int) -> tuple[Tensor, Tensor]:
        """The same ``per_class`` images of every class on each call, class 0 first, and their labels."""
        ...


def device_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator that lives on ``device``, so random draws there never touch the host."""
    return torch.Generator(device=device).manual_seed(seed)


def _spread_indices(n: int, length: int) -> Tensor:
    """``n`` indices spread evenly over ``range(length)`` (wrapping when n > length)."""
    return torch.arange(n) * length // n if n <= length else torch.arange(n) % length


def class_example_indices(labels: Tensor, classes: int, per_class: int) -> Tensor:
    """Indices of ``per_class`` images of each class (spread over that class's images), class 0 first.

    A class with no image at all is filled with −1: its row stays empty.
    """
    out = torch.full((classes, per_class), -1, dtype=torch.long)
    for c in range(classes):
        rows = torch.nonzero(labels == c).view(-1)
        if len(rows):
            out[c] = rows[_spread_indices(per_class, len(rows))]
    return out.view(-1)


class ToySampler:
    """Fresh draws from a 2-D toy distribution, on the device, every call."""

    is_toy = True
    shape = (2,)

    def __init__(self, distribution: ToyDistribution, *, device: torch.device, seed: int) -> None:
        self.distribution = distribution
        self.name = distribution.name
        self.device = device
        self.seed = seed
        self.generator = device_generator(device, seed)

    def sample(self, batch_size: int) -> Tensor:
        return self.distribution.sample(batch_size, generator=self.generator, device=self.device)

    def fixed_batch(self, n: int) -> Tensor:
        gen = device_generator(self.device, self.seed + FIXED_BATCH_SEED_OFFSET)
        return self.distribution.sample(n, generator=gen, device=self.device)


class DeviceTensorSampler:
    """The whole dataset as one float tensor on the device; a minibatch is a random gather.

    ``generator`` is a device generator, so a captured CUDA graph draws new indices on every replay.
    Images may be stored channels-last (:meth:`use_channels_last`): a gather keeps the layout, so a
    channels-last D reads its real minibatch without a conversion per step.
    """

    is_toy = False

    def __init__(self, data: Tensor, *, name: str, seed: int, labels: Tensor | None = None,
                 classes: tuple[str, ...] = (), location: str = "") -> None:
        self.data = data  # (N, *shape) float32 in [−1, 1], on the device
        self.location = location or name  # where the set came from, for messages
        self.labels = labels  # (N,) int64 on the host, or None
        self.classes = classes if labels is not None else ()
        self.name = name
        self.shape = tuple(data.shape[1:])
        self.device = data.device
        self.generator = device_generator(data.device, seed)
        self._labels = labels.to(data.device) if labels is not None else None  # gathered with the images

    def __len__(self) -> int:
        return len(self.data)

    def use_channels_last(self) -> None:
        """Store the images channels-last (NHWC in memory), once; a no-op for flat data."""
        if self.data.dim() == 4 and not self.data.is_contiguous(memory_format=torch.channels_last):
            self.data = self.data.contiguous(memory_format=torch.channels_last)

    def sample(self, batch_size: int) -> Tensor:
        index = torch.randint(len(self.data), (batch_size,), device=self.device, generator=self.generator)
        return self.data[index]

    def sample_labelled(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """One draw of indices for both, so ``sample`` and this advance the stream alike."""
        if self._labels is None:
            raise ValueError(f"{self.name} has no labels")
        index = torch.randint(len(self.data), (batch_size,), device=self.device, generator=self.generator)
        return self.data[index], self._labels[index]

    def fixed_batch(self, n: int) -> Tensor:
        return self.data[_spread_indices(n, len(self.data)).to(self.device)]

    def class_examples(self, per_class: int) -> tuple[Tensor, Tensor]:
        if self.labels is None:
            raise ValueError(f"{self.name} has no labels")
        index = class_example_indices(self.labels, len(self.classes), per_class)
        return _gather_or_blank(lambda i: self.data[i.to(self.device)], index, self.shape, self.device), \
            _row_labels(len(self.classes), per_class, self.device)


def _row_labels(classes: int, per_class: int, device: torch.device) -> Tensor:
    return torch.arange(classes, device=device).repeat_interleave(per_class)


def _gather_or_blank(gather, index: Tensor, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Images ``gather(index)`` where ``index >= 0``; black (−1) where it is −1 (a class without images)."""
    out = torch.full((len(index), *shape), -1.0, device=device)
    present = index >= 0
    if bool(present.any()):
        out[present.to(device)] = gather(index[present])
    return out


class _Rows(Dataset):
    """A host tensor seen as a dataset of its rows (DataLoader's collate stacks them back)."""

    def __init__(self, rows: Tensor) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Tensor:
        return self.rows[index]


class _Labelled(Dataset):
    """A dataset's images with their labels: DataLoader's collate turns the pairs into two batches."""

    def __init__(self, images: Dataset, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]


class StreamingSampler:
    """uint8 batches streamed through a DataLoader, converted to [−1, 1] on the device.

    The iterator is endless: when an epoch ends a new (reshuffled) one starts; workers persist. A
    labelled set streams (images, labels) pairs, so a labelled minibatch is one draw like any other.
    """

    is_toy = False

    def __init__(self, source: ImageSource, *, device: torch.device, seed: int, workers: int) -> None:
        self.source = source
        self.labels = source.labels
        self.classes = source.classes if source.labels is not None else ()
        self.name = source.name
        self.location = source.location
        self.shape = source.shape
        self.device = device
        self.workers = workers
        self.seed = seed
        images: Dataset = _Rows(source.pixels) if source.pixels is not None else source.items
        self._images = images  # the "show real" views are the whole set's, whichever share trains
        self._whole: Dataset = images if source.labels is None else _Labelled(images, source.labels)
        self._dataset: Dataset = self._whole
        self._batch_size = 0
        self._loader: DataLoader | None = None
        self._batches: Iterator = iter(())
        self._started = False

    def __len__(self) -> int:
        return len(self.source)

    def _start(self, batch_size: int) -> None:
        """(Re)build the loader for this batch size (a set smaller than a batch: with replacement)."""
        small = len(self._dataset) < batch_size
        order = RandomSampler(self._dataset, replacement=small, num_samples=batch_size if small else None,
                              generator=torch.Generator().manual_seed(self.seed))
        self._loader = DataLoader(self._dataset, batch_size=batch_size, sampler=order, drop_last=True,
                                  num_workers=self.workers, persistent_workers=self.workers > 0,
                                  pin_memory=self.device.type == "cuda")
        self._batch_size = batch_size
        self._batches = iter(self._loader)
        self._started = True

    def shard(self, *, rank: int, world: int, seed: int) -> None:
        """Train on one data-parallel rank's share of the set: every ``world``-th image from ``rank`` on,
        shuffled with ``seed`` (as DistributedSampler partitions a set, without its padding)."""
        self._dataset = Subset(self._whole, range(rank, len(self._whole), world))
        self.seed = seed
        self._batch_size = 0
        self._loader, self._batches, self._started = None, iter(()), False

    def _next(self, batch_size: int):
        if batch_size != self._batch_size or not self._started:
            self._start(batch_size)
        assert self._loader is not None
        try:
            try:
                return next(self._batches)
            except StopIteration:  # end of an epoch: reshuffle and go on
                self._batches = iter(self._loader)
                return next(self._batches)
        except Exception as exc:  # a worker's error arrives wrapped in its whole traceback
            raise worker_error(exc) from None

    def sample(self, batch_size: int) -> Tensor:
        batch = self._next(batch_size)
        pixels = batch if self.labels is None else batch[0]
        return self.source.to_unit(pixels.to(self.device, non_blocking=True))

    def sample_labelled(self, batch_size: int) -> tuple[Tensor, Tensor]:
        if self.labels is None:
            raise ValueError(f"{self.name} has no labels")
        pixels, labels = self._next(batch_size)
        return (self.source.to_unit(pixels.to(self.device, non_blocking=True)),
                labels.to(self.device, non_blocking=True))

    def fixed_batch(self, n: int) -> Tensor:
        index = _spread_indices(n, len(self._images))
        pixels = torch.stack([self._images[int(i)] for i in index])
        return self.source.to_unit(pixels.to(self.device))

    def class_examples(self, per_class: int) -> tuple[Tensor, Tensor]:
        if self.labels is None:
            raise ValueError(f"{self.name} has no labels")
        index = class_example_indices(self.labels, len(self.classes), per_class)

        def gather(rows: Tensor) -> Tensor:
            pixels = torch.stack([self._images[int(i)] for i in rows])
            return self.source.to_unit(pixels.to(self.device))

        return _gather_or_blank(gather, index, self.shape, self.device), \
            _row_labels(len(self.classes), per_class, self.device)


def fixed_real_batch(sampler: Sampler, n: int) -> Tensor:
    """The same ``n`` real samples every time, for the dashboard's "show real" view."""
    return sampler.fixed_batch(n)


def _fits_on_device(nbytes: int, device: torch.device) -> bool:
    """data.on_device = auto: on CPU (and unified-memory MPS) always; on CUDA below 25 % of free memory."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes < ON_DEVICE_FRACTION * free


def move_to_device(source: ImageSource, device: torch.device, *, workers: int = 0,
                   channels_last: bool = False) -> Tensor:
    """The whole set as float32 (N, *shape) in [−1, 1] on ``device``, converted in bounded chunks.

    ``channels_last`` allocates it NHWC from the start (no second copy of the set to convert it).
    """
    layout = torch.channels_last if channels_last and len(source.shape) == 3 else torch.contiguous_format
    out = torch.empty((len(source), *source.shape), device=device, memory_format=layout)
    chunk = max(1, _BYTES_PER_CHUNK // (int(np.prod(source.shape)) * 4))
    if source.pixels is not None:
        for start in range(0, len(source), chunk):
            out[start:start + chunk] = source.to_unit(source.pixels[start:start + chunk].to(device))
        return out
    loader = DataLoader(source.items, batch_size=min(chunk, 256), num_workers=workers)
    start = 0
    try:
        for pixels in loader:
            out[start:start + len(pixels)] = source.to_unit(pixels.to(device))
            start += len(pixels)
    except Exception as exc:  # a worker's error arrives wrapped in its whole traceback
        raise worker_error(exc) from None
    return out


def build_sampler(data_cfg: Any, *, device: torch.device, seed: int, channels_last: bool = False) -> Sampler:
    """The sampler for the ``[data]`` section: toy, whole set on the device, or streamed.

    ``channels_last`` stores an on-device image set NHWC (see ``device.wants_channels_last``).
    Raises :class:`~gantui.engine.data.images.DataError` (one line) when the data cannot be had.
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if data_cfg.name in TOY_NAMES:
        return ToySampler(toy_distribution(data_cfg.name), device=device, seed=seed)
    shape = dataset_shape(data_cfg)
    if data_cfg.name == "fake":
        nbytes = images_nbytes(data_cfg.fake_size, shape)
        what = f"data.fake_size = {data_cfg.fake_size:,} images of {'×'.join(map(str, shape))} (float32)"
        advice = "lower data.fake_size or data.image_size"
        if data_cfg.on_device != "no" and (data_cfg.on_device == "yes" or _fits_on_device(nbytes, device)):
            check_fits(nbytes, device, what, advice)
            data = fake_images(data_cfg.fake_size, shape, seed=seed + FAKE_SEED_OFFSET, device=device)
            sampler = DeviceTensorSampler(data, name="fake", seed=seed)
            if channels_last:
                sampler.use_channels_last()
            return sampler
        check_fits(nbytes, torch.device("cpu"), what, advice)  # made as floats on the host first
    source = load_image_source(data_cfg, seed=seed + FAKE_SEED_OFFSET)
    on_device = data_cfg.on_device == "yes" or (
        data_cfg.on_device == "auto" and _fits_on_device(source.nbytes_on_device(), device))
    if on_device:
        check_fits(source.nbytes_on_device(), device, f"{data_cfg.name} on {device.type} as float32",
                   "set data.on_device = no to stream it, or lower data.image_size")
        data = move_to_device(source, device, workers=data_cfg.workers, channels_last=channels_last)
        return DeviceTensorSampler(data, name=source.name, seed=seed, labels=source.labels,
                                   classes=source.classes, location=source.location)
    return StreamingSampler(source, device=device, seed=seed, workers=data_cfg.workers)
