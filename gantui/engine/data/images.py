"""Image datasets: find them, read them as uint8 pixels once, and turn batches into the GAN's [−1, 1].

Every dataset becomes an :class:`ImageSource`: uint8 pixels on the host (or a folder read lazily),
plus :meth:`ImageSource.to_unit`, which maps a batch of those pixels, already on the training device,
to float (N, C, H, W) in [−1, 1] (resized and channel-converted if the config asks). Keeping uint8
until the device means a quarter of the bytes cross the bus, whether the whole set is moved once
(:class:`~gantui.engine.data.samplers.DeviceTensorSampler`) or streamed batch by batch.

Whatever goes wrong (no scikit-learn, no files, no network) becomes one :class:`DataError` whose
one-line message says where we looked and what to do: torchvision tracebacks never reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from gantui.engine.data.fake import fake_images
from gantui.text import printable

# Per-sample (C, H, W) of each dataset as stored, before data.channels / data.image_size apply.
NATIVE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "folder": (3, 64, 64),
    "fake": (3, 64, 64),
}
# torchvision class name and the folder under data.root where it keeps its files.
_TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Short names of each labelled set's classes, by label: what a conditional run's grid writes at a row's
# start (torchvision's own names are longer: "0 - zero", "T-shirt/top", "automobile").
_DIGITS = tuple(str(i) for i in range(10))
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": _DIGITS,
    "mnist": _DIGITS,
    "fashion-mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "boot"),
    "cifar10": ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
# ITU-R 601-2 luma, the weights PIL uses for RGB -> L.
_LUMA = (0.299, 0.587, 0.114)


class DataError(Exception):
    """A dataset that cannot be had: the message is one line, fit to show without a traceback."""


def worker_error(exc: BaseException) -> DataError:
    """One line from an error raised in a DataLoader worker (an unreadable image in a folder).

    The worker's exception reaches the main process re-raised with the worker's whole traceback in its
    message ("Caught DataError in DataLoader worker process 0. Original Traceback ..."); what the user
    needs is that traceback's last line, the original message.
    """
    text = str(exc)
    if isinstance(exc, DataError) and "Original Traceback" not in text:
        return exc
    last = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = last[-1] if last else type(exc).__name__
    for prefix in ("gantui.engine.data.images.DataError: ", "DataError: "):
        message = message.removeprefix(prefix)
    return DataError(printable(message))


def dataset_shape(data_cfg: Any) -> tuple[int, ...]:
    """The per-sample shape ``build_sampler`` will produce, known without reading any data.

    Models are built from it, and tests use it to let ``fake`` stand in for an image preset.
    """
    if data_cfg.name in ("ring8", "grid25", "gaussian", "spiral"):
        return (2,)
    if data_cfg.name not in NATIVE_SHAPES:
        raise DataError(f"unknown dataset '{data_cfg.name}'")
    channels, height, width = NATIVE_SHAPES[data_cfg.name]
    if data_cfg.channels:
        if data_cfg.channels not in (1, 3):
            raise DataError(f"data.channels = {data_cfg.channels}: images have 1 (grey) or 3 (RGB) channels")
        channels = data_cfg.channels
    if data_cfg.image_size:
        height = width = data_cfg.image_size
    return (channels, height, width)


@dataclass
class ImageSource:
    """A dataset's pixels before they become GAN input.

    ``pixels`` holds the whole set as uint8 (N, C, H, W) on the host when it fits there (torchvision
    sets, digits, streamed fake data); otherwise ``items`` reads one (C, H, W) uint8 image at a time
    (folders). ``max_value`` is the pixel value that maps to +1 (255, or 16 for digits). ``labels``
    holds each image's class (N,) int64 where the set has classes, and ``classes`` their names by label:
    a folder has them when every image lies in one of two or more sub-folders, one per class.
    """

    name: str
    location: str
    shape: tuple[int, int, int]
    max_value: int
    pixels: Tensor | None = None
    items: Dataset | None = None
    labels: Tensor | None = None
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.pixels) if self.pixels is not None else len(self.items)  # type: ignore[arg-type]

    def nbytes_on_device(self) -> int:
        """Bytes the whole set takes as float32 in the output shape."""
        return len(self) * int(np.prod(self.shape)) * 4

    def to_unit(self, pixels: Tensor) -> Tensor:
        """uint8 (B, C, H, W) on any device -> float32 (B, *shape) in [−1, 1] on the same device.

        v ↦ v / (max / 2) − 1 maps 0 to −1 and max to +1 exactly (max / 2 is exact in binary).
        Bilinear resizing only averages neighbours, so the result stays in [−1, 1].
        """
        x = pixels.float() / (self.max_value / 2) - 1.0
        channels, height, width = self.shape
        if x.shape[1] == 1 and channels == 3:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] == 3 and channels == 1:
            r, g, b = _LUMA
            x = r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > width)
        return x.clamp_(-1.0, 1.0).contiguous()


class FolderImages(Dataset):
    """Image files read one at a time: RGB or L, centre-cropped to a square, resized to ``size``."""

    def __init__(self, files: list[Path], *, channels: int, size: int) -> None:
        self.files, self.mode, self.size = files, ("L" if channels == 1 else "RGB"), size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as img:
                img = img.convert(self.mode)
                side = min(img.size)
                left, top = (img.width - side) // 2, (img.height - side) // 2
                img = img.crop((left, top, left + side, top + side))
                img = img.resize((self.size, self.size), Image.Resampling.BICUBIC)
                array = np.asarray(img, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"{path}: cannot read this image ({exc})") from None
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.transpose(2, 0, 1).copy())


def _load_digits(shape: tuple[int, int, int]) -> ImageSource:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("data.name = 'digits' needs scikit-learn: pip install 'gantui[digits]'") from None
    digits = load_digits()
    pixels = torch.from_numpy(digits.images.astype(np.uint8)).unsqueeze(1)  # (1797, 1, 8, 8), 0..16
    return ImageSource("digits", "scikit-learn's bundled digits", shape, 16, pixels=pixels,
                       labels=torch.from_numpy(digits.target).long(), classes=CLASS_NAMES["digits"])


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _load_torchvision(name: str, root: Path, download: bool, shape: tuple[int, int, int],
                      *, train: bool = True) -> ImageSource:
    """Read a torchvision dataset's training (or test) split, converting any failure into a DataError."""
    class_name, subfolder = _TORCHVISION[name]
    folder = root / subfolder
    try:
        import torchvision.datasets as tvd

        dataset_class = {"MNIST": tvd.MNIST, "FashionMNIST": tvd.FashionMNIST, "CIFAR10": tvd.CIFAR10}
        dataset = dataset_class[class_name](str(root), train=train, download=download)
    except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, ... : all mean "no data"
        how = f"copy the {name} files to {folder}"
        if download:
            raise DataError(f"{name}: not found in {folder} and the download failed ({_one_line(exc)}); "
                            f"connect to a network and try again, or {how}") from None
        raise DataError(f"{name}: not found in {folder}; set data.download = true (needs a network), "
                        f"or {how}") from None
    data = torch.as_tensor(np.asarray(dataset.data), dtype=torch.uint8)
    pixels = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)  # (N, C, H, W)
    labels = torch.as_tensor(np.asarray(dataset.targets)).long()
    return ImageSource(name, str(folder), shape, 255, pixels=pixels.contiguous(), labels=labels,
                       classes=CLASS_NAMES[name])


def image_files(path: Path) -> list[Path]:
    """Every image file under ``path``, recursively, in a stable (sorted) order."""
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _load_folder(path_text: str, shape: tuple[int, int, int]) -> ImageSource:
    if not path_text:
        raise DataError("data.name = 'folder' needs data.path, a folder of images")
    path = Path(path_text).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: no such folder (data.path)")
    files = image_files(path)
    if not files:
        raise DataError(f"{path}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    labels, classes = folder_classes(path, files)
    items = FolderImages(files, channels=shape[0], size=shape[1])
    return ImageSource("folder", str(path), shape, 255, items=items, labels=labels, classes=classes)


def folder_classes(root: Path, files: list[Path]) -> tuple[Tensor | None, tuple[str, ...]]:
    """(labels, class names) of an image folder laid out as one sub-folder per class, else (None, ()).

    The class of an image is the first folder under ``root`` on its path (so ``cats/2024/a.png`` is a
    cat), numbered in sorted order (torchvision's ImageFolder does the same). A folder with images
    directly in it, or with fewer than two sub-folders, has no classes.
    """
    if any(f.parent == root for f in files):
        return None, ()
    firsts = [f.relative_to(root).parts[0] for f in files]
    classes = tuple(sorted(set(firsts)))
    if len(classes) < 2:
        return None, ()
    index = {name: i for i, name in enumerate(classes)}
    return torch.tensor([index[name] for name in firsts], dtype=torch.long), classes


def load_image_source(data_cfg: Any, *, seed: int = 0, split: str = "train") -> ImageSource:
    """Find and read the configured image dataset (every kind but on-device ``fake``) on the host.

    ``split = "test"`` reads a torchvision set's held-out split (the quality classifier's test set);
    the other datasets have only the one split the GAN trains on.
    """
    shape = dataset_shape(data_cfg)
    assert len(shape) == 3
    if split not in ("train", "test"):
        raise ValueError(f"split = {split!r}: expected 'train' or 'test'")
    if split == "test":
        if data_cfg.name not in _TORCHVISION:
            raise DataError(f"data.name = '{data_cfg.name}' has no held-out test split")
        return _load_torchvision(data_cfg.name, Path(data_cfg.root).expanduser(), data_cfg.download, shape,
                                 train=False)
    if data_cfg.name == "digits":
        return _load_digits(shape)
    if data_cfg.name in _TORCHVISION:
        return _load_torchvision(data_cfg.name, Path(data_cfg.root).expanduser(), data_cfg.download, shape)
    if data_cfg.name == "folder":
        return _load_folder(data_cfg.path, shape)
    if data_cfg.name == "fake":
        unit = fake_images(data_cfg.fake_size, shape, seed=seed, device=torch.device("cpu"))
        pixels = unit.add_(1.0).mul_(127.5).round_().to(torch.uint8)
        return ImageSource("fake", "generated", shape, 255, pixels=pixels)
    raise DataError(f"data.name = '{data_cfg.name}' is not an image dataset")
