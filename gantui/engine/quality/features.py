"""Feature spaces: the networks that turn images into the vectors every quality metric compares.

A :class:`FeatureSpace` maps a batch of images in [−1, 1] (N, C, H, W), on the training device, to
features (N, d) and, where it has them, class probabilities. Two kinds exist:

- :class:`InceptionSpace`: Inception-v3's 2048-d pool features, as every FID paper uses. gantui follows
  **torch-fidelity** (0.3): its Inception-v3 weights converted from the 2015-12-05 TensorFlow graph of
  the original TTUR FID code, fed uint8 RGB images (grey repeated to 3 channels), resized to 299 × 299
  with its TensorFlow-1-compatible bilinear interpolation. torchmetrics' FrechetInceptionDistance uses
  the same network and weights, but resizes with antialiasing by default (``antialias=True``);
  clean-fid resizes with PIL. Resizing alone moves FID (clean-fid: CIFAR-10 9.89 → 10.85 between
  legacy and clean resizing), so FIDs from different libraries are not comparable.
- :class:`~gantui.engine.quality.classifier.ClassifierSpace`: a small classifier trained on the data
  (offline); its distance is reported as ``fd_classifier``, never as FID.

The Inception weights (95 MB) download on first use to ``~/.cache/gantui/weights`` (a copy that
torch-fidelity already put in torch's hub cache is used as is); ``eval.inception_weights = PATH``
names a local file instead. Either way the file is loaded with ``torch.load(weights_only=True)``
before the network is built, and every failure is one :class:`QualityError` line that names both ways
out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from gantui.engine.quality.cache import QualityError, cache_root, digest_file
from gantui.text import printable

INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]
INCEPTION_FEATURES = ["2048", "logits_unbiased"]  # pool features for FID/KID/PRDC, logits for IS
INCEPTION_BATCH = 100  # images per Inception forward pass (299 × 299 activations are large)


@dataclass(frozen=True)
class Features:
    """What a feature space says about a batch: features (N, d) float32, and class probabilities."""

    features: Tensor
    probs: Tensor | None = None


class FeatureSpace(Protocol):
    """A fixed network from images in [−1, 1] to features (never trained by the evaluator)."""

    key: str  # the network and its exact weights: part of every real-statistics cache key
    distance_name: str  # what its Fréchet distance is called: "fid" or "fd_classifier"
    dim: int
    classes: int  # > 0: its predictions are the data's classes (class coverage); 0: they are not
    inception_score: bool  # its probabilities are Inception's ImageNet classes (the Inception Score)
    device: torch.device

    def __call__(self, images: Tensor) -> Features: ...

    def nbytes(self) -> int:
        """Bytes of its parameters and buffers."""
        ...


def module_nbytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[−1, 1] (N, C, H, W) to uint8 (N, 3, H, W), rounded as a saved PNG would be; grey is repeated."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class InceptionSpace:
    """torch-fidelity's Inception-v3: 2048-d pool features and ImageNet class probabilities."""

    distance_name = "fid"
    dim = 2048
    classes = 0
    inception_score = True

    def __init__(self, network: nn.Module, *, key: str, device: torch.device) -> None:
        self.network = network.eval().to(device)
        self.key = key
        self.device = device

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Features:
        pixels = to_uint8_rgb(images.to(self.device))
        pools, probs = [], []
        for start in range(0, len(pixels), INCEPTION_BATCH):
            pool, logits = self.network(pixels[start:start + INCEPTION_BATCH])
            pools.append(pool.float())
            probs.append(torch.softmax(logits.double(), dim=1).float())
        return Features(torch.cat(pools), torch.cat(probs))

    def nbytes(self) -> int:
        return module_nbytes(self.network)


def _torch_fidelity_inception(path: Path) -> nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", INCEPTION_FEATURES,
                                       feature_extractor_weights_path=str(path))


def _download(url: str, path: Path) -> None:
    # Writes to a temporary file beside ``path`` and renames it: a broken download leaves nothing.
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(path), progress=False)


def _one_line(exc: BaseException) -> str:
    text = " ".join(printable(str(exc)).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def inception_weights_path(weights: str = "", *, root: Path | None = None,
                           download: Callable[[str, Path], None] = _download) -> Path:
    """The local Inception weights file: ``weights`` if given, else the cached (or downloaded) copy."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise QualityError(f"eval.inception_weights = {printable(weights)}: no such file; give the path "
                               f"of {INCEPTION_FILE}, or leave eval.inception_weights empty to download it "
                               "(needs a network)")
        return path
    root = cache_root() if root is None else root
    path = root / "weights" / INCEPTION_FILE
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if hub.is_file() and not path.is_file():
        return hub
    if not path.is_file():
        try:
            download(INCEPTION_URL, path)
        except Exception as exc:  # URLError, HTTPError, OSError, timeouts: all mean "no weights"
            raise QualityError(f"Inception-v3 weights for FID: the download to {printable(str(path))} failed "
                               f"({_one_line(exc)}); connect to a network and try again, or download "
                               f"{INCEPTION_URL} elsewhere and set eval.inception_weights = PATH") from None
    return path


def load_inception(weights: str = "", *, device: torch.device, root: Path | None = None,
                   build: Callable[[Path], nn.Module] = _torch_fidelity_inception,
                   download: Callable[[str, Path], None] = _download) -> InceptionSpace:
    """Inception-v3 as a feature space (``build`` and ``download`` are replaceable for tests)."""
    path = inception_weights_path(weights, root=root, download=download)
    try:  # check the file safely before anything else reads it
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise ValueError("not a state dict of tensors")
        network = build(path)
        network.load_state_dict(state)
    except Exception as exc:
        raise QualityError(f"{printable(str(path))}: not the Inception-v3 FID weights ({_one_line(exc)}); "
                           f"set eval.inception_weights to a copy of {INCEPTION_FILE}, or leave it empty "
                           "to download it (needs a network)") from None
    for p in network.parameters():
        p.requires_grad_(False)
    return InceptionSpace(network, key=f"inception-v3-tf-{digest_file(path)}", device=device)
