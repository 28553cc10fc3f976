"""An offline feature space for small labelled data: a classifier trained once per dataset and cached.

Inception-v3 needs a 95 MB download and judges ImageNet-like photos; on 8×8 digits or MNIST its
features say little. The Fréchet LeNet distance is the usual answer: a small classifier trained on the
dataset itself. Its penultimate features (128-d) give ``fd_classifier`` (a Fréchet distance in *its*
space, never comparable to a FID), and its predicted classes give class coverage.

- ``lenet``: two or three small conv layers and a 128-unit layer, for digits (8×8), MNIST and
  Fashion-MNIST (any side; pooled to 4×4). Digits: a seconds-long CPU training to ≥ 97 % held-out.
- ``resnet``: a small ResNet (three stages of one basic block, widths 32-64-128) for CIFAR-10, with
  random crops and flips.

It is trained on the training split at the GAN's own image shape (``data.image_size``,
``data.channels``, through :meth:`ImageSource.to_unit`, so real and generated images reach it the same
way), evaluated on a held-out split (torchvision's test split; for digits, a fixed stratified fifth
that the classifier never trains on), and saved with its test accuracy to
``~/.cache/gantui/classifiers/<dataset>-<C>x<H>x<W>-<arch>-v<VERSION>-….pt`` (atomic write; loaded with
``weights_only=True``). Training is stepwise (one minibatch per yield), seeded, and draws from no
global random stream but torch's CPU one, which it restores.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantui.atomic import atomic_write
from gantui.engine.data.images import ImageSource, load_image_source
from gantui.engine.quality.cache import QualityError, cache_root, file_key
from gantui.engine.quality.features import Features, module_nbytes
from gantui.engine.rng import isolated_rng

VERSION = 1  # bump when an architecture or its training changes: old cache files are then ignored
CLASSIFIER_DATASETS = {"digits": "lenet", "mnist": "lenet", "fashion-mnist": "lenet", "cifar10": "resnet"}
FEATURES = 128
EPOCHS = {"digits": 40, "mnist": 4, "fashion-mnist": 8, "cifar10": 30}
BATCH = 128
LR = 2e-3
DIGITS_TEST_SHARE = 0.2
SPLIT_SEED = 20_260_101  # the digits hold-out split: fixed forever, or cached accuracies would lie
FEATURE_BATCH = 1000


class LeNet(nn.Module):
    """(B, C, S, S) → logits (B, classes); :meth:`features` gives the 128-d penultimate layer."""

    def __init__(self, channels: int, side: int, classes: int) -> None:
        super().__init__()
        if side >= 16:  # MNIST-sized: a 5×5 stem and two poolings, as LeNet-5
            body: list[nn.Module] = [
                nn.Conv2d(channels, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, S/2, S/2)
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, S/4, S/4)
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            ]
        else:  # 8×8 digits: no room to pool early
            body = [nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),  # (B, 32, S, S)
                    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*body, nn.AdaptiveAvgPool2d(4), nn.Flatten())  # (B, 64·16)
        self.penultimate = nn.Sequential(nn.Linear(64 * 16, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: Tensor) -> Tensor:
        return self.penultimate(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class _Block(nn.Module):
    """A basic residual block (He et al. 2016): two 3×3 convs with BatchNorm, a projected shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet with three one-block stages (32, 64, 128 wide) for 32×32 images; 128-d pooled features."""

    def __init__(self, channels: int, side: int, classes: int) -> None:
        super().__init__()
        del side  # global pooling: any side
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            _Block(32, 32, 1), _Block(32, 64, 2), _Block(64, FEATURES, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 128)
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


ARCHITECTURES: dict[str, type[nn.Module]] = {"lenet": LeNet, "resnet": SmallResNet}


# ----------------------------------------------------------------------------------------- data
def _subset(source: ImageSource, rows: np.ndarray) -> ImageSource:
    index = torch.from_numpy(rows)
    assert source.pixels is not None and source.labels is not None
    return ImageSource(source.name, source.location, source.shape, source.max_value,
                       pixels=source.pixels[index], labels=source.labels[index])


def digits_split(source: ImageSource, *, test_share: float = DIGITS_TEST_SHARE
                 ) -> tuple[ImageSource, ImageSource]:
    """A fixed stratified split of the 1 797 digits: (train, held-out test)."""
    assert source.labels is not None
    labels = source.labels.numpy()
    rng = np.random.default_rng(SPLIT_SEED)
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        test.append(rows[:round(test_share * len(rows))])
    test_rows = np.sort(np.concatenate(test))
    train_rows = np.setdiff1d(np.arange(len(labels)), test_rows)
    return _subset(source, train_rows), _subset(source, test_rows)


def labelled_splits(data_cfg: Any) -> tuple[ImageSource, ImageSource]:
    """(train, test) labelled image sources of the configured dataset, at the GAN's image shape."""
    if data_cfg.name not in CLASSIFIER_DATASETS:
        raise QualityError(f"data.name = '{data_cfg.name}': no labelled classes for an offline classifier "
                           f"(available for {', '.join(CLASSIFIER_DATASETS)}); use Inception features")
    if data_cfg.name == "digits":
        return digits_split(load_image_source(data_cfg))
    return load_image_source(data_cfg), load_image_source(data_cfg, split="test")


# ------------------------------------------------------------------------------------ training
@dataclass(frozen=True)
class TrainedClassifier:
    """A trained classifier and what is known about it."""

    network: nn.Module
    arch: str
    dataset: str
    shape: tuple[int, int, int]
    classes: int
    accuracy: float  # on the held-out split
    test_size: int
    seconds: float  # training time (0 when loaded from the cache)
    path: Path | None = None


def _shift(x: Tensor, gen: torch.Generator, pad: int, flip: bool) -> Tensor:
    """Random translations by up to ``pad`` pixels (edge-replicated), and horizontal flips."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # (B, H, W, C)
    out = out.permute(0, 3, 1, 2)
    if flip:
        mirrored = torch.rand(b, generator=gen).to(x.device) < 0.5
        out = torch.where(mirrored[:, None, None, None], out.flip(-1), out)
    return out.contiguous()


@torch.no_grad()
def accuracy(network: nn.Module, source: ImageSource, device: torch.device) -> float:
    """Share of ``source``'s images that ``network`` labels correctly."""
    assert source.pixels is not None and source.labels is not None
    network.eval()
    correct = 0
    for start in range(0, len(source), FEATURE_BATCH):
        x = source.to_unit(source.pixels[start:start + FEATURE_BATCH].to(device))
        correct += int((network(x).argmax(1).cpu() == source.labels[start:start + FEATURE_BATCH]).sum())
    return correct / len(source)


def iter_train_classifier(train: ImageSource, test: ImageSource, *, arch: str, device: torch.device,
                          epochs: int, seed: int = 0) -> Generator[tuple[int, int], None, TrainedClassifier]:
    """Train a classifier, one minibatch per yield of (steps done, total); returns it, tested."""
    assert train.pixels is not None and train.labels is not None
    started = time.perf_counter()
    classes = int(max(int(train.labels.max()), int(test.labels.max())) + 1)  # type: ignore[union-attr]
    channels, side, _ = train.shape
    with isolated_rng([]):
        torch.manual_seed(seed)
        network = ARCHITECTURES[arch](channels, side, classes).to(device)
    gen = torch.Generator().manual_seed(seed + 1)
    steps_per_epoch = math.ceil(len(train) / BATCH)
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(network.parameters(), lr=LR, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=total)
    pad, flip = (4, True) if arch == "resnet" else (1, False)
    step = 0
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(train), generator=gen)
        for start in range(0, len(train), BATCH):
            rows = order[start:start + BATCH]
            x = _shift(train.to_unit(train.pixels[rows].to(device)), gen, pad, flip)
            loss = F.cross_entropy(network(x), train.labels[rows].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
            if step < total:
                yield step, total
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return TrainedClassifier(network, arch, train.name, tuple(train.shape), classes,  # type: ignore[arg-type]
                             accuracy(network, test, device), len(test), time.perf_counter() - started)


# --------------------------------------------------------------------------------------- cache
def classifier_path(dataset: str, shape: tuple[int, ...], arch: str, *, root: Path | None = None) -> Path:
    root = cache_root() if root is None else root
    shape_text = "x".join(str(s) for s in shape)
    return root / "classifiers" / f"{file_key(dataset, shape_text, arch, f'v{VERSION}')}.pt"


def save_classifier(trained: TrainedClassifier, path: Path) -> None:
    payload = {"state": trained.network.state_dict(), "arch": trained.arch, "dataset": trained.dataset,
               "shape": list(trained.shape), "classes": trained.classes, "accuracy": trained.accuracy,
               "test_size": trained.test_size, "version": VERSION}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def load_classifier(path: Path, *, device: torch.device) -> TrainedClassifier | None:
    """A cached classifier, or None when the file is missing or not one we wrote (it is then retrained)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        channels, side, _ = payload["shape"]
        with isolated_rng([]):
            network = ARCHITECTURES[payload["arch"]](channels, side, int(payload["classes"]))
        network.load_state_dict(payload["state"])
        if payload["version"] != VERSION:
            return None
    except Exception:  # a truncated or foreign file: retrain rather than fail
        return None
    network.eval().to(device)
    for p in network.parameters():
        p.requires_grad_(False)
    return TrainedClassifier(network, payload["arch"], payload["dataset"], tuple(payload["shape"]),
                             int(payload["classes"]), float(payload["accuracy"]), int(payload["test_size"]),
                             0.0, path)


def iter_classifier(data_cfg: Any, shape: tuple[int, int, int], *, device: torch.device,
                    root: Path | None = None, epochs: int | None = None
                    ) -> Generator[tuple[int, int], None, TrainedClassifier]:
    """The dataset's classifier: from the cache, or trained (stepwise) on its training split and saved."""
    arch = CLASSIFIER_DATASETS.get(data_cfg.name, "")
    path = classifier_path(data_cfg.name, shape, arch, root=root)
    cached = load_classifier(path, device=device) if arch else None
    if cached is not None:
        return cached
    train, test = labelled_splits(data_cfg)
    trained = yield from iter_train_classifier(train, test, arch=arch, device=device,
                                               epochs=EPOCHS[data_cfg.name] if epochs is None else epochs)
    save_classifier(trained, path)
    return TrainedClassifier(**{**trained.__dict__, "path": path})


# --------------------------------------------------------------------------------- feature space
class ClassifierSpace:
    """A trained classifier as a feature space: penultimate features and softmax class probabilities."""

    distance_name = "fd_classifier"
    inception_score = False
    dim = FEATURES

    def __init__(self, trained: TrainedClassifier, *, device: torch.device) -> None:
        self.trained = trained
        self.network = trained.network.to(device)
        self.classes = trained.classes
        self.device = device
        digest = hashlib.sha256()
        for t in trained.network.state_dict().values():
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        shape_text = "x".join(str(s) for s in trained.shape)
        self.key = f"{trained.arch}-v{VERSION}-{trained.dataset}-{shape_text}-{digest.hexdigest()[:12]}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Features:
        feats, probs = [], []
        for start in range(0, len(images), FEATURE_BATCH):
            f = self.network.features(images[start:start + FEATURE_BATCH].to(self.device).float())
            feats.append(f)
            probs.append(torch.softmax(self.network.head(f), dim=1))
        return Features(torch.cat(feats), torch.cat(probs))

    def nbytes(self) -> int:
        return module_nbytes(self.network)
