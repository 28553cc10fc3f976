"""The ``fake`` dataset: smooth synthetic images of any size, for smoke tests and benchmarks.

Like pytorch/examples dcgan's ``--dataset fake`` it needs no files, but instead of pure noise each
image is a colour gradient plus a few soft blobs, so a generator has structure to learn and sample
grids look like something. Everything is drawn from one seeded generator on the target device.
"""

from __future__ import annotations

import torch
from torch import Tensor

BLOBS_PER_IMAGE = 3
_PIXELS_PER_CHUNK = 2**22  # rendering work per chunk: bounds memory for large image sizes


def fake_images(n: int, shape: tuple[int, int, int], *, seed: int, device: torch.device) -> Tensor:
    """``n`` images of ``shape`` = (C, H, W), float32 in (−1, 1), on ``device``; same seed, same images.

    All random parameters are drawn up front, so the result does not depend on the chunking.
    """
    channels, height, width = shape
    gen = torch.Generator(device=device).manual_seed(seed)

    def uniform(*size: int, lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(*size, generator=gen, device=device)

    # Background: offset + slope_x * x + slope_y * y per channel, x and y in [0, 1].
    offset = uniform(n, channels, 1, 1, lo=-0.5, hi=0.5)
    slope_x = uniform(n, channels, 1, 1, lo=-1.0, hi=1.0)
    slope_y = uniform(n, channels, 1, 1, lo=-1.0, hi=1.0)
    # Blobs: a Gaussian bump with a per-channel amplitude, a centre and a width.
    amplitude = uniform(n, BLOBS_PER_IMAGE, channels, lo=-1.5, hi=1.5)
    centre = uniform(n, BLOBS_PER_IMAGE, 2, lo=0.1, hi=0.9)
    width_sq = uniform(n, BLOBS_PER_IMAGE, lo=0.08, hi=0.25) ** 2

    ys = torch.linspace(0.0, 1.0, height, device=device).view(1, 1, height, 1)
    xs = torch.linspace(0.0, 1.0, width, device=device).view(1, 1, 1, width)
    out = torch.empty(n, channels, height, width, device=device)
    chunk = max(1, _PIXELS_PER_CHUNK // (BLOBS_PER_IMAGE * height * width))
    for start in range(0, n, chunk):
        s = slice(start, start + chunk)
        image = offset[s] + slope_x[s] * xs + slope_y[s] * ys  # (b, C, H, W)
        dist_sq = ((xs - centre[s, :, 0, None, None]) ** 2
                   + (ys - centre[s, :, 1, None, None]) ** 2)  # (b, blobs, H, W)
        bumps = torch.exp(-dist_sq / (2 * width_sq[s, :, None, None]))
        image = image + torch.einsum("bkc,bkhw->bchw", amplitude[s], bumps)
        out[s] = torch.tanh(image)
    return out
