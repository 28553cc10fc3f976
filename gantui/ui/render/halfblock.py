"""Half-block pixels: two square pixels per terminal cell, the image renderer that works everywhere.

A terminal cell is about twice as tall as it is wide, so "▀" with its foreground set to the upper
pixel and its background set to the lower one draws two square pixels. Sixel and kitty graphics
often fail over ssh and inside tmux; this does not.

Speed comes from doing the per-pixel work in numpy (resize, quantise, pack each cell into one
int64 *cell key*) and touching Python only once per run of identical cells, with every Style
looked up in an LRU cache keyed by glyph and colour pair (``StyleCache``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import islice

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from gantui.ui.render.colors import grey_to_codes, pair_style, rgb_to_codes

__all__ = [
    "GLYPHS",
    "cells_to_strips",
    "grid_layout",
    "halfblock_cells",
    "image_grid_strips",
    "image_strips",
    "labelled_grid_strips",
    "legible_count",
    "legible_grid",
    "legible_tile",
    "pack_cells",
]

# Glyph ids used in cell keys. Renderers that draw symbols (the toy view) use ids >= 3.
GLYPHS = (" ", "▀", "▄", "•", "◆", "+")
_CODE_BITS = 25  # a colour code + 1 is at most 2**24, so it fits in 25 bits
_CODE_MASK = (1 << _CODE_BITS) - 1
MIN_TILE_PX = 12  # images are not shrunk below this many pixels a side: smaller, a grid shows only colour


def pack_cells(glyph: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """One int64 key per cell: glyph id, foreground code and background code (codes may be -1)."""
    return (glyph.astype(np.int64) << (2 * _CODE_BITS)) | ((fg + 1) << _CODE_BITS) | (bg + 1)


def halfblock_cells(upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(glyph, fg, bg) for cells whose upper and lower pixels have codes ``upper`` and ``lower``.

    A missing pixel (-1) is left to the terminal's background: "▄" in the lower pixel's colour when
    only the upper is missing, "▀" without a background when only the lower is, a space when both.
    """
    up_on, low_on = upper >= 0, lower >= 0
    glyph = np.where(up_on, 1, np.where(low_on, 2, 0))
    fg = np.where(up_on, upper, np.where(low_on, lower, -1))
    bg = np.where(up_on, lower, -1)
    return glyph, fg, bg


class StyleCache:
    """Style per cell key, least recently used dropped first: what makes redrawing cheap.

    A plain dict (insertion order = recency: a hit is popped and re-inserted) rather than
    functools.lru_cache, which keeps a linked-list node per entry for the garbage collector to walk.
    It may exceed ``max_size`` during one render and is trimmed after it. One cache per colour
    system is shared by every renderer: call them from the UI thread (where Textual renders).
    """

    def __init__(self, color_system: str, max_size: int = 1 << 12) -> None:
        self.color_system = color_system
        self.max_size = max_size
        self.styles: dict[int, Style] = {}

    def get(self, key: int) -> Style:
        style = self.styles.pop(key, None)
        if style is None:
            fg = ((key >> _CODE_BITS) & _CODE_MASK) - 1
            style = pair_style(fg, (key & _CODE_MASK) - 1, self.color_system)
        self.styles[key] = style
        return style

    def trim(self) -> None:
        excess = len(self.styles) - self.max_size
        if excess > 0:
            for key in list(islice(self.styles, excess)):
                self.styles.pop(key, None)


_STYLE_CACHES: dict[str, StyleCache] = {}


def cells_to_strips(keys: np.ndarray, color_system: str) -> list[Strip]:
    """One Strip per row of the (rows, width) cell-key array; runs of equal keys share a Segment."""
    rows, width = keys.shape
    if width == 0:
        return [Strip([], 0) for _ in range(rows)]
    cache = _STYLE_CACHES.setdefault(color_system, StyleCache(color_system))
    change = keys[:, 1:] != keys[:, :-1]
    glyph_shift = 2 * _CODE_BITS
    strips = []
    for r in range(rows):
        starts = [0, *(np.flatnonzero(change[r]) + 1).tolist()]
        ends = [*starts[1:], width]
        row = keys[r].tolist()
        segments = []
        for start, end in zip(starts, ends, strict=True):
            key = row[start]
            segments.append(Segment(GLYPHS[key >> glyph_shift] * (end - start), cache.get(key)))
        strips.append(Strip(segments, width))
    cache.trim()
    return strips


def blank_strips(width: int, height: int) -> list[Strip]:
    """``height`` empty strips of ``width`` cells."""
    return [Strip([Segment(" " * width, Style())], width) for _ in range(max(height, 0))]


@lru_cache(maxsize=256)
def grid_layout(
    n: int, img_h: int, img_w: int, width: int, height: int, gap: int
) -> tuple[int, int, int, int]:
    """(columns, rows, tile_h, tile_w) in pixels for ``n`` images in ``width`` x ``2*height`` pixels.

    Tries every column count and keeps the one that gives the largest scale (ties: fewer empty
    slots). Scales >= 1 are whole numbers so that every source pixel stays the same size; smaller
    scales shrink with a box filter. Returns tile size 0 when not even one pixel per image fits.
    """
    best = (0.0, 0, 1, n, 0, 0)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        avail_w = (width - gap * (cols - 1)) // cols
        avail_h = ((height - gap * (rows - 1)) // rows) * 2
        if avail_w < 1 or avail_h < 1:
            continue
        scale = min(avail_w / img_w, avail_h / img_h)
        if scale >= 1:
            scale = float(math.floor(scale))
        tile_h, tile_w = max(1, math.floor(img_h * scale)), max(1, math.floor(img_w * scale))
        candidate = (scale, -(cols * rows - n), cols, rows, tile_h, tile_w)
        if candidate[:2] > best[:2]:
            best = candidate
    _, _, cols, rows, tile_h, tile_w = best
    return cols, rows, tile_h, tile_w


def legible_tile(img_h: int, img_w: int) -> tuple[int, int]:
    """The smallest tile (h, w) in pixels that an image may be shown at: MIN_TILE_PX on its longer side."""
    longer = max(img_h, img_w, 1)
    if longer <= MIN_TILE_PX:
        return img_h, img_w
    # integer arithmetic: 47 * (12 / 47) floors to 11 in floating point
    return max(1, img_h * MIN_TILE_PX // longer), max(1, img_w * MIN_TILE_PX // longer)


def legible_grid(rows: int, columns: int, img_h: int, img_w: int, width: int, height: int,
                 gap: int = 1) -> tuple[int, int]:
    """(rows, columns) of a rows x columns grid that fit in ``width`` x ``height`` cells legibly (the
    rule of :func:`legible_count`); at least one of each."""
    tile_h, tile_w = legible_tile(img_h, img_w)
    cols_fit = (width + gap) // (tile_w + gap)
    rows_fit = (height + gap) // (math.ceil(tile_h / 2) + gap)
    return max(1, min(rows, rows_fit)), max(1, min(columns, cols_fit))


def legible_count(n: int, img_h: int, img_w: int, width: int, height: int, gap: int = 1) -> int:
    """How many of ``n`` images fit in ``width`` x ``height`` cells, the longer side of none below
    ``MIN_TILE_PX`` pixels.

    Images smaller than that keep their own size. A panel too small for all 64 samples of the fixed
    noise batch shows the first ones legibly rather than every one as a smudge of a few pixels
    (64 digits of 8x8 in a 32x22 panel were 2x2 pixels each). At least one is always shown, shrunk
    further if even one does not fit.
    """
    tile_h, tile_w = legible_tile(img_h, img_w)
    cols = (width + gap) // (tile_w + gap)
    rows = (height + gap) // (math.ceil(tile_h / 2) + gap)
    return max(1, min(n, cols * rows))


def _resize(images: np.ndarray, tile_h: int, tile_w: int) -> np.ndarray:
    """Resize (N, H, W, C) uint8 images: repeat pixels to enlarge, average boxes to shrink."""
    _, h, w, _ = images.shape
    if tile_h >= h and tile_w >= w:
        return images.repeat(tile_h // h, axis=1).repeat(tile_w // w, axis=2)
    row_starts = (np.arange(tile_h) * h) // tile_h
    col_starts = (np.arange(tile_w) * w) // tile_w
    row_counts = np.diff(np.append(row_starts, h))
    col_counts = np.diff(np.append(col_starts, w))
    sums = np.add.reduceat(np.add.reduceat(images.astype(np.float32), row_starts, axis=1), col_starts, axis=2)
    means = sums / (row_counts[:, None, None] * col_counts[None, :, None])
    return np.rint(means).astype(np.uint8)


def image_grid_strips(
    images: np.ndarray, *, width: int, height: int, color_system: str = "truecolor", gap: int = 1
) -> list[Strip]:
    """Lay ``images`` (uint8, (N, H, W, C), C in {1, 3}) out in a grid of ``width`` x ``height`` cells.

    Returns exactly ``height`` strips of ``width`` cells. The grid is centred horizontally and
    top-aligned; ``gap`` blank cells (and rows) separate the images.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W, C) with C in {{1, 3}}, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    n, img_h, img_w, channels = images.shape
    if width <= 0 or height <= 0 or n == 0 or img_h == 0 or img_w == 0:
        return blank_strips(max(width, 0), height)
    cols, _rows, tile_h, tile_w = grid_layout(n, img_h, img_w, width, height, gap)
    if tile_h == 0:
        return blank_strips(width, height)

    tiles = _resize(images, tile_h, tile_w)  # (N, tile_h, tile_w, C)
    codes = grey_to_codes(tiles[..., 0], color_system) if channels == 1 else rgb_to_codes(tiles, color_system)

    canvas = np.full((2 * height, width), -1, dtype=np.int64)
    pitch_w = tile_w + gap
    pitch_h = 2 * (math.ceil(tile_h / 2) + gap)  # tiles start on a cell boundary
    left = max(0, (width - (cols * tile_w + gap * (cols - 1))) // 2)
    for i in range(n):
        top, x = (i // cols) * pitch_h, left + (i % cols) * pitch_w
        if top >= 2 * height or x >= width:
            continue
        piece = codes[i, : 2 * height - top, : width - x]
        canvas[top : top + piece.shape[0], x : x + piece.shape[1]] = piece

    glyph, fg, bg = halfblock_cells(canvas[0::2], canvas[1::2])
    return cells_to_strips(pack_cells(glyph, fg, bg), color_system)


def _fixed_layout(rows: int, cols: int, img_h: int, img_w: int, width: int, height: int,
                  gap: int) -> tuple[int, int]:
    """(tile_h, tile_w) for a rows x cols grid in ``width`` x ``2*height`` pixels (0 when none fits)."""
    avail_w = (width - gap * (cols - 1)) // cols
    avail_h = ((height - gap * (rows - 1)) // rows) * 2
    if avail_w < 1 or avail_h < 1:
        return 0, 0
    scale = min(avail_w / img_w, avail_h / img_h)
    if scale >= 1:
        scale = float(math.floor(scale))
    return max(1, math.floor(img_h * scale)), max(1, math.floor(img_w * scale))


def labelled_grid_strips(
    images: np.ndarray, *, columns: int, row_names: list[str], width: int, height: int,
    color_system: str = "truecolor", gap: int = 1, name_style: Style | None = None,
) -> list[Strip]:
    """``images`` in rows of ``columns`` (row-major, ``len(row_names)`` rows), each row's name written at
    its start: a conditional run's grid, one class per row.

    Returns exactly ``height`` strips of ``width`` cells: the names in a left margin as wide as the
    longest (plus a space), then the grid, top- and left-aligned so that the names sit beside their row.
    """
    images = np.asarray(images)
    rows = len(row_names)
    margin = min(max((len(name) for name in row_names), default=0) + 1, max(width - 1, 0)) if rows else 0
    grid_width = width - margin
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be uint8 (N, H, W, C) with C in {{1, 3}}, got {images.dtype} "
                         f"{images.shape}")
    if rows == 0 or columns <= 0 or grid_width <= 0 or height <= 0 or len(images) == 0:
        return blank_strips(max(width, 0), height)
    _, img_h, img_w, channels = images.shape
    tile_h, tile_w = _fixed_layout(rows, columns, img_h, img_w, grid_width, height, gap)
    if tile_h == 0:
        return blank_strips(width, height)
    tiles = _resize(images, tile_h, tile_w)
    codes = grey_to_codes(tiles[..., 0], color_system) if channels == 1 else rgb_to_codes(tiles, color_system)
    canvas = np.full((2 * height, grid_width), -1, dtype=np.int64)
    pitch_w, pitch_h = tile_w + gap, 2 * (math.ceil(tile_h / 2) + gap)
    for i in range(min(len(images), rows * columns)):
        top, x = (i // columns) * pitch_h, (i % columns) * pitch_w
        if top >= 2 * height or x >= grid_width:
            continue
        piece = codes[i, : 2 * height - top, : grid_width - x]
        canvas[top : top + piece.shape[0], x : x + piece.shape[1]] = piece
    glyph, fg, bg = halfblock_cells(canvas[0::2], canvas[1::2])
    grid = cells_to_strips(pack_cells(glyph, fg, bg), color_system)
    style = name_style or Style(bold=True)
    names = [""] * height
    for r, name in enumerate(row_names):
        line = r * pitch_h // 2
        if line < height:
            names[line] = name[: margin - 1] if margin > 1 else ""
    return [Strip.join([Strip([Segment(name.ljust(margin), style if name else Style())], margin), row])
            for name, row in zip(names, grid, strict=True)]


def image_strips(
    image: np.ndarray, *, width: int, height: int, color_system: str = "truecolor"
) -> list[Strip]:
    """One (H, W, C) or (H, W) uint8 image, as large as fits in ``width`` x ``height`` cells."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    return image_grid_strips(image[None], width=width, height=height, color_system=color_system, gap=0)
