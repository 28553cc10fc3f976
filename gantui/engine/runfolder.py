"""The run folder: what a run leaves on disk for the user's own tools.

``runs/<time>-<preset>/`` holds ``config.toml`` (the resolved configuration, loadable as a preset),
``metrics.jsonl`` (one object per logged step), ``events.jsonl`` (every intervention),
``samples/step-NNNNNNN.png`` and ``checkpoints/``. Whole files are replaced atomically; the two
logs are appended one complete batch of lines at a time, and a resumed run first drops any line
past its checkpoint (including a half-written last line) so the logs never hold two futures.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from gantui.atomic import atomic_write, atomic_write_text
from gantui.config import Config
from gantui.tomlio import dumps_toml

KEEP_PERIODIC = 3  # periodic checkpoints kept; manual, final and emergency ones are all kept


def default_run_dir(preset: str, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = Path(preset).stem if preset else "run"
    path = root / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{name}-{n}"
    return path


class RunFolder:
    """Writes one run's files. Every method may raise OSError (full disk, no permission)."""

    def __init__(self, path: Path, config: Config, *, resume_step: int | None = None) -> None:
        self.path = Path(path)
        for sub in ("", "samples", "checkpoints"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.toml", dumps_toml(config.as_dict()))
        self.metrics_path = self.path / "metrics.jsonl"
        self.events_path = self.path / "events.jsonl"
        if resume_step is not None:
            for log in (self.metrics_path, self.events_path):
                _truncate_after(log, resume_step)

    # ------------------------------------------------------------------------------- logs
    def append_metrics(self, rows: list[dict[str, float]]) -> None:
        _append_lines(self.metrics_path, rows)

    def append_event(self, event: dict[str, Any]) -> None:
        _append_lines(self.events_path, [event])

    # ---------------------------------------------------------------------------- samples
    def write_image_grid(self, step: int, images: np.ndarray) -> Path:
        """Save an (N, H, W, C) uint8 batch as one PNG grid."""
        return self._save_png(step, _grid(images))

    def write_toy_scatter(self, step: int, real: np.ndarray, fake: np.ndarray, surface: np.ndarray,
                          extent: tuple[float, float, float, float]) -> Path:
        """Save real (green) and generated (magenta) points over D's surface as a PNG."""
        return self._save_png(step, _scatter(real, fake, surface, extent))

    def _save_png(self, step: int, pixels: np.ndarray) -> Path:
        from PIL import Image

        path = self.path / "samples" / f"step-{step:07d}.png"
        image = Image.fromarray(pixels)
        atomic_write(path, lambda f: image.save(f, format="PNG"))
        return path

    # ------------------------------------------------------------------------ checkpoints
    def checkpoint_path(self, tag: str, step: int) -> Path:
        return self.path / "checkpoints" / f"{tag}-{step:07d}.pt"

    def prune_periodic(self) -> None:
        periodic = sorted((self.path / "checkpoints").glob("periodic-*.pt"))
        for old in periodic[:-KEEP_PERIODIC]:
            old.unlink(missing_ok=True)


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not (isinstance(v, float) and not math.isfinite(v))}


def _append_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    text = "".join(json.dumps(_json_safe(r), separators=(",", ":")) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()


def _truncate_after(path: Path, step: int) -> None:
    """Keep the lines whose ``step`` is at most ``step``; drop a torn last line."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


def _grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    n, h, w, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = images[i]
    return out[..., 0] if c == 1 else out


def _scatter(real: np.ndarray, fake: np.ndarray, surface: np.ndarray,
             extent: tuple[float, float, float, float], size: int = 400) -> np.ndarray:
    # Background: D(x) from purple (0, "fake") through grey (0.5) to green (1, "real").
    ys = np.linspace(0, surface.shape[0] - 1, size).round().astype(int)
    xs = np.linspace(0, surface.shape[1] - 1, size).round().astype(int)
    d = surface[np.ix_(ys, xs)][..., None]
    fake_c, mid_c, real_c = np.array([90, 40, 110]), np.array([40, 40, 40]), np.array([30, 110, 60])
    img = np.where(d < 0.5, mid_c + (fake_c - mid_c) * (1 - 2 * d), mid_c + (real_c - mid_c) * (2 * d - 1))
    img = img.astype(np.uint8)
    xmin, xmax, ymin, ymax = extent
    for points, colour in ((real, (80, 255, 120)), (fake, (255, 80, 255))):
        if len(points) == 0:
            continue
        px = ((points[:, 0] - xmin) / (xmax - xmin) * (size - 1)).round().astype(int)
        py = ((ymax - points[:, 1]) / (ymax - ymin) * (size - 1)).round().astype(int)
        ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
        for dy in (0, 1):
            for dx in (0, 1):
                img[np.clip(py[ok] + dy, 0, size - 1), np.clip(px[ok] + dx, 0, size - 1)] = colour
    return img
