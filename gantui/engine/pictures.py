"""Sample pictures for the run folder: a grid of generated images, or 2-D points over D's surface.

Pure numpy, written as PNG by :class:`gantui.engine.runfolder.RunFolder`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["image_grid", "normalised_scores", "toy_scatter"]


def image_grid(images: np.ndarray, pad: int = 2, *, columns: int = 0) -> np.ndarray:
    """The images in rows of ``columns`` (0: as square a grid as n allows), ``pad`` pixels apart."""
    n, h, w, c = images.shape
    cols = columns if columns > 0 else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = images[i]
    return out[..., 0] if c == 1 else out


def normalised_scores(v: np.ndarray) -> np.ndarray:
    """A critic's raw scores mapped to [0, 1] for colouring: its 2nd to 98th percentile span the map.

    A critic's v has no absolute meaning (WGAN's drifts by thousands), only its order on the plane;
    σ(v) of such scores is a uniform 0 or 1. Percentiles keep one outlier from flattening the rest.
    """
    v = np.asarray(v, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.full(v.shape, 0.5)
    lo, hi = np.percentile(finite, [2.0, 98.0])
    if not hi > lo:
        return np.full(v.shape, 0.5)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def toy_scatter(real: np.ndarray, fake: np.ndarray, surface: np.ndarray,
                extent: tuple[float, float, float, float], size: int = 400, *,
                score: bool = False) -> np.ndarray:
    """Points over D's surface. ``surface`` holds D(x) in [0, 1], or a critic's raw v with ``score``."""
    if score:
        surface = normalised_scores(surface)
    # Background: D(x) from purple (0, "fake") through grey (0.5) to green (1, "real").
    ys = np.linspace(0, surface.shape[0] - 1, size).round().astype(int)
    xs = np.linspace(0, surface.shape[1] - 1, size).round().astype(int)
    # A blown-up D reports NaN: such pixels are grey (no verdict), never an undefined cast's colour.
    d = np.nan_to_num(surface[np.ix_(ys, xs)], nan=0.5).clip(0.0, 1.0)[..., None]
    fake_c, mid_c, real_c = np.array([90, 40, 110]), np.array([40, 40, 40]), np.array([30, 110, 60])
    img = np.where(d < 0.5, mid_c + (fake_c - mid_c) * (1 - 2 * d), mid_c + (real_c - mid_c) * (2 * d - 1))
    img = img.astype(np.uint8)
    xmin, xmax, ymin, ymax = extent
    for points, colour in ((real, (80, 255, 120)), (fake, (255, 80, 255))):
        points = points[np.isfinite(points).all(axis=1)]  # a blown-up G's NaN points have no place
        if len(points) == 0:
            continue
        px = ((points[:, 0] - xmin) / (xmax - xmin) * (size - 1)).round().astype(int)
        py = ((ymax - points[:, 1]) / (ymax - ymin) * (size - 1)).round().astype(int)
        ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
        for dy in (0, 1):
            for dx in (0, 1):
                img[np.clip(py[ok] + dy, 0, size - 1), np.clip(px[ok] + dx, 0, size - 1)] = colour
    return img
