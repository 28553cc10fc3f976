"""Image datasets and samplers, on small files written here in the exact formats torchvision reads.

No network: missing datasets are tested with download = false, and a failed download by making
torchvision's own download step raise, as it does offline.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gantui.config import resolve
from gantui.engine.data import (
    DataError,
    DeviceTensorSampler,
    StreamingSampler,
    build_sampler,
    dataset_shape,
    fixed_real_batch,
)

CPU = torch.device("cpu")


def data_cfg(**values: Any) -> Any:
    return resolve({"data": values}, source="test").data


def sampler_for(**values: Any) -> Any:
    return build_sampler(data_cfg(**values), device=CPU, seed=0)


# ---------------------------------------------------------------- on-disk formats torchvision reads


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX (LeCun) file: magic 0x0000_08_nd (0x08 = unsigned byte), then each dim as big-endian int32."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, images: np.ndarray) -> None:
    """torchvision 0.29 MNIST needs all four uncompressed raw files in <root>/<Class>/raw/ (no md5 check)."""
    raw = root / folder / "raw"
    labels = np.arange(len(images)) % 10
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "t10k-images-idx3-ubyte", images[:2])
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[:2])


def mnist_images() -> np.ndarray:
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    images[0, 0, 0] = 255
    images[0, 2, 5] = 51
    images[1] = 102
    return images


def write_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """CIFAR-10 python batches: pickled dicts whose "data" rows are 3072 bytes, R plane, G plane, B plane.

    torchvision checks each file's md5 against the real dataset; tiny synthetic batches cannot match,
    so the test replaces only that check (torchvision.datasets.cifar.check_integrity) with "the file
    exists". Everything else, unpickling and the row -> HWC reshape, is torchvision's own code.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rows = np.zeros((10, 3, 32, 32), dtype=np.uint8)
    rows[0, 0], rows[0, 1], rows[0, 2] = 255, 0, 51  # image 0: colour (255, 0, 51) everywhere
    rows[1, 0, 2, 5] = 255  # image 1: one red pixel at row 2, column 5
    for i in range(5):
        batch = {"data": rows[2 * i:2 * i + 2].reshape(2, 3072), "labels": [2 * i, 2 * i + 1]}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": rows[:2].reshape(2, 3072), "labels": [0, 1]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    return rows


# ---------------------------------------------------------------- torchvision datasets


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_files_map_to_unit_range(tmp_path: Path, name: str, folder: str) -> None:
    write_mnist(tmp_path, folder, mnist_images())
    sampler = sampler_for(name=name, root=str(tmp_path), download=False)
    assert isinstance(sampler, DeviceTensorSampler)  # auto on CPU: always on the device
    data = sampler.data
    assert data.shape == (5, 1, 28, 28) and data.dtype == torch.float32
    # v -> v / 127.5 − 1: 255 -> 1, 0 -> −1, 51 -> 0.4 − 1 = −0.6, 102 -> 0.8 − 1 = −0.2.
    assert data[0, 0, 0, 0] == 1.0
    assert data[0, 0, 2, 5].item() == pytest.approx(-0.6, abs=1e-6)
    assert data[0, 0, 5, 2] == -1.0  # (row 2, col 5) was set, not its transpose
    assert torch.allclose(data[1], torch.full((1, 28, 28), -0.2), atol=1e-6)
    assert data[2:].eq(-1.0).all()
    assert sampler.labels.tolist() == [0, 1, 2, 3, 4]
    assert sampler.shape == (1, 28, 28) and not sampler.is_toy


def test_mnist_resized_and_made_rgb(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST", mnist_images())
    cfg = data_cfg(name="mnist", root=str(tmp_path), download=False, image_size=32, channels=3)
    assert dataset_shape(cfg) == (3, 32, 32)
    data = build_sampler(cfg, device=CPU, seed=0).data
    assert data.shape == (5, 3, 32, 32)
    assert data.min() >= -1.0 and data.max() <= 1.0
    # A constant image stays constant under bilinear resizing: image 1 is 102 -> −0.2 everywhere.
    assert torch.allclose(data[1], torch.full((3, 32, 32), -0.2), atol=1e-6)
    assert torch.equal(data[:, 0], data[:, 2])  # grey copied into R, G and B


def test_cifar10_batches_map_to_unit_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, monkeypatch)
    sampler = sampler_for(name="cifar10", root=str(tmp_path), download=False)
    data = sampler.data
    assert data.shape == (10, 3, 32, 32)  # the five training batches, not test_batch
    # Image 0 is (255, 0, 51) -> (1, −1, −0.6) in every pixel: channels stay in R, G, B order.
    assert data[0, 0].eq(1.0).all() and data[0, 1].eq(-1.0).all()
    assert torch.allclose(data[0, 2], torch.full((32, 32), -0.6), atol=1e-6)
    # Image 1: only R at (row 2, column 5) is lit.
    assert data[1, 0, 2, 5] == 1.0 and (data[1] == 1.0).sum() == 1
    assert sampler.labels.tolist() == list(range(10))


def test_cifar10_to_grey_uses_luma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, monkeypatch)
    data = sampler_for(name="cifar10", root=str(tmp_path), download=False, channels=1).data
    assert data.shape == (10, 1, 32, 32)
    # 0.299·1 + 0.587·(−1) + 0.114·(−0.6) = 0.299 − 0.587 − 0.0684 = −0.3564 (weights sum to 1).
    assert torch.allclose(data[0], torch.full((1, 32, 32), -0.3564), atol=1e-6)


@pytest.mark.parametrize("name, folder", [
    ("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"), ("cifar10", "cifar-10-batches-py")])
def test_missing_dataset_says_where_and_how(tmp_path: Path, name: str, folder: str) -> None:
    with pytest.raises(DataError) as info:
        sampler_for(name=name, root=str(tmp_path), download=False)
    message = str(info.value)
    assert str(tmp_path / folder) in message
    assert "data.download = true" in message
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no torchvision traceback


def test_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(self: Any) -> None:  # what MNIST.download raises when every mirror fails
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://...\n<urlopen>")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataError) as info:
        sampler_for(name="mnist", root=str(tmp_path), download=True)
    message = str(info.value)
    assert "download failed" in message and str(tmp_path / "MNIST" / "raw") in message
    assert "\n" not in message


def test_root_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_mnist(tmp_path / "data", "MNIST", mnist_images())
    assert sampler_for(name="mnist", root="~/data", download=False).data.shape == (5, 1, 28, 28)


# ---------------------------------------------------------------- digits, folder, fake


def test_digits() -> None:
    from sklearn.datasets import load_digits

    sampler = sampler_for(name="digits")
    assert sampler.data.shape == (1797, 1, 8, 8)
    # Values 0..16 -> v / 8 − 1, so 0 -> −1 and 16 -> 1.
    expected = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 8 - 1
    assert torch.allclose(sampler.data, expected, atol=1e-6)
    assert sampler.data.min() == -1.0 and sampler.data.max() == 1.0


def test_digits_without_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import raise ImportError
    with pytest.raises(DataError, match=r"pip install 'gantui\[digits\]'"):
        sampler_for(name="digits")


def write_png_folder(root: Path) -> None:
    from PIL import Image

    # 12 wide × 6 tall: the centre 6 columns (3..8) are (255, 0, 51), the outer ones black. A centre
    # crop to 6 × 6 keeps only the colour, so the resized image is that colour everywhere.
    wide = np.zeros((6, 12, 3), dtype=np.uint8)
    wide[:, 3:9] = (255, 0, 51)
    Image.fromarray(wide).save(root / "wide.png")
    (root / "sub").mkdir()
    Image.fromarray(np.full((5, 5, 3), 102, dtype=np.uint8)).save(root / "sub" / "grey.bmp")
    (root / "notes.txt").write_text("not an image")


def test_folder_of_images(tmp_path: Path) -> None:
    write_png_folder(tmp_path)
    sampler = sampler_for(name="folder", path=str(tmp_path), image_size=8)
    data = sampler.data  # files sorted: sub/grey.bmp, wide.png
    assert data.shape == (2, 3, 8, 8)
    assert torch.allclose(data[0], torch.full((3, 8, 8), -0.2), atol=1e-6)  # 102 -> −0.2
    assert data[1, 0].eq(1.0).all() and data[1, 1].eq(-1.0).all()
    assert torch.allclose(data[1, 2], torch.full((8, 8), -0.6), atol=1e-6)


def test_folder_in_grey_streamed(tmp_path: Path) -> None:
    write_png_folder(tmp_path)
    sampler = sampler_for(name="folder", path=str(tmp_path), image_size=8, channels=1,
                          on_device="no", workers=0)
    assert isinstance(sampler, StreamingSampler) and sampler.shape == (1, 8, 8)
    batch = fixed_real_batch(sampler, 2)
    # PIL's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 = (4996725 + 381021 + 32768) >> 16 = 82.
    assert torch.allclose(batch[1], torch.full((1, 8, 8), 82 / 127.5 - 1), atol=1e-6)
    assert sampler.sample(4).shape == (4, 1, 8, 8)  # 2 images, batch 4: drawn with replacement


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=str(tmp_path)):
        sampler_for(name="folder", path=str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        sampler_for(name="folder", path=str(tmp_path / "nope"))


def test_fake_shape_and_determinism() -> None:
    cfg = data_cfg(name="fake", fake_size=16, image_size=16, channels=1)
    assert dataset_shape(cfg) == (1, 16, 16)
    a = build_sampler(cfg, device=CPU, seed=5).data
    assert a.shape == (16, 1, 16, 16)
    assert a.min() > -1.0 and a.max() < 1.0  # tanh: strictly inside
    assert torch.equal(a, build_sampler(cfg, device=CPU, seed=5).data)
    assert not torch.equal(a, build_sampler(cfg, device=CPU, seed=6).data)
    # Smooth, not noise: neighbouring pixels differ far less than pixels do overall (for white
    # noise the mean neighbour difference is ≈ 1.13 × the mean absolute deviation).
    step = (a[..., 1:] - a[..., :-1]).abs().mean()
    spread = (a - a.mean()).abs().mean()
    assert step < 0.3 * spread


def test_fake_defaults_and_streaming() -> None:
    assert dataset_shape(data_cfg(name="fake")) == (3, 64, 64)
    sampler = sampler_for(name="fake", fake_size=8, on_device="no", workers=0)
    assert isinstance(sampler, StreamingSampler)
    batch = sampler.sample(3)
    assert batch.shape == (3, 3, 64, 64) and batch.min() >= -1.0 and batch.max() <= 1.0


def test_dataset_shapes_without_data() -> None:
    assert dataset_shape(data_cfg(name="mnist")) == (1, 28, 28)
    assert dataset_shape(data_cfg(name="mnist", image_size=64)) == (1, 64, 64)
    assert dataset_shape(data_cfg(name="cifar10")) == (3, 32, 32)
    assert dataset_shape(data_cfg(name="digits")) == (1, 8, 8)
    assert dataset_shape(data_cfg(name="folder", path="x")) == (3, 64, 64)
    assert dataset_shape(data_cfg(name="ring8")) == (2,)
    with pytest.raises(DataError, match="channels"):
        dataset_shape(data_cfg(name="cifar10", channels=2))


# ---------------------------------------------------------------- samplers


def test_device_tensor_sampler_draws_rows_reproducibly() -> None:
    rows = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    a = DeviceTensorSampler(rows, name="rows", seed=1)
    batch = a.sample(32)
    assert batch.shape == (32, 1, 2, 2)
    ids = batch[:, 0, 0, 0]
    assert torch.equal(batch, ids.view(32, 1, 1, 1).expand(32, 1, 2, 2))  # whole rows, not mixtures
    assert ids.min() >= 0 and ids.max() <= 49
    assert len(set(ids.tolist())) > 16  # 32 draws from 50 rows: ≈ 24 distinct, not one repeated row
    b = DeviceTensorSampler(rows, name="rows", seed=1)
    assert torch.equal(b.sample(32), batch)
    assert not torch.equal(DeviceTensorSampler(rows, name="rows", seed=2).sample(32), batch)
    # fixed batch: rows spread evenly, i·50 // 5 = 0, 10, 20, 30, 40, on every call.
    assert a.fixed_batch(5)[:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]


def test_streaming_sampler_covers_every_row_each_epoch(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST", mnist_images())
    sampler = sampler_for(name="mnist", root=str(tmp_path), download=False, on_device="no", workers=0)
    assert isinstance(sampler, StreamingSampler)
    # 5 images, batch 1: one epoch is the 5 images, each exactly once, then a new epoch starts.
    firsts = [sampler.sample(1) for _ in range(10)]
    assert all(b.shape == (1, 1, 28, 28) for b in firsts)
    signature = [float(b.sum()) for b in firsts]
    assert sorted(signature[:5]) == sorted(signature[5:])
    assert sampler.sample(2).shape == (2, 1, 28, 28)  # a new batch size rebuilds the loader
