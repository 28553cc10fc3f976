"""A conditional run's sample grid, seen through the panel's choices: which page, which rows, what title.

Pure functions of an :class:`~gantui.protocol.ImageSamples` event and the panel's three settings (one
class only or all; the selected class; the swept continuous code), so the layout is tested without
an App. The trainer lays the grid out (``columns`` images per row, one row per label, InfoGAN's
``sweeps`` as pages); the panel only chooses what to show of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gantui.protocol import ImageSamples
from gantui.text import printable
from gantui.ui.render.halfblock import legible_tile

__all__ = ["Arrangement", "ConditionView", "arrange", "caption", "condition_view", "is_conditional",
           "row_names_width"]

MAX_NAME = 8  # a row's name is cut to this many characters (folder names can be long)
BLOCK_GAP = 2  # cells between blocks of rows placed side by side
MIN_BLOCK_COLUMNS = 3  # rows are put side by side only while each still shows this many samples
MIN_SWEEP_COLUMNS = 5  # ... or, for an InfoGAN sweep, this many values (−2, −1, 0, 1, 2 of nine)


def is_conditional(s: object) -> bool:
    """Whether ``s`` is a conditional grid the panel can lay out by rows (a consistent one)."""
    if not isinstance(s, ImageSamples) or s.columns <= 0 or not s.label_names:
        return False
    pages = max(len(s.sweeps), 1)
    n = len(s.fake)
    return len(s.labels) == n and n > 0 and n % (pages * s.columns) == 0


def row_names_width(s: ImageSamples) -> int:
    """The left margin of a labelled grid: the longest (cut) row name and a space."""
    return max(len(_name(n)) for n in s.label_names) + 1


def grid_rows(s: ImageSamples) -> int:
    return len(s.fake) // max(len(s.sweeps), 1) // s.columns


@dataclass(frozen=True)
class Arrangement:
    """How the rows are placed: ``blocks`` side by side, each of ``rows`` rows of ``columns`` samples."""

    blocks: int
    rows: int
    columns: int

    @property
    def visible(self) -> int:
        return self.blocks * self.rows


def arrange(n_rows: int, columns: int, img_h: int, img_w: int, width: int, height: int, *,
            margin: int, gap: int = 1, min_columns: int = MIN_BLOCK_COLUMNS) -> Arrangement:
    """The fewest blocks of rows, side by side, that show every row legibly (images no smaller than
    :func:`~gantui.ui.render.halfblock.legible_tile`), each block keeping at least MIN_BLOCK_COLUMNS
    samples (``min_columns``); when no split shows every row, the one that shows most rows (then most
    samples).

    Ten classes of 8×8 digits in a 78 × 28 panel: one block fits 5 rows of 8; two blocks of 4 samples
    show all ten classes at once.
    """
    tile_h, tile_w = legible_tile(img_h, img_w)
    rows_fit = max(1, (height + gap) // (math.ceil(tile_h / 2) + gap))
    best: Arrangement | None = None
    for blocks in range(1, n_rows + 1):
        block_width = (width - BLOCK_GAP * (blocks - 1)) // blocks - margin
        cols = min(columns, (block_width + gap) // (tile_w + gap))
        if blocks > 1 and cols < min(columns, min_columns):
            break
        rows = min(rows_fit, math.ceil(n_rows / blocks))
        candidate = Arrangement(blocks, rows, max(cols, 1))
        if best is None or (min(candidate.visible, n_rows), cols) > (min(best.visible, n_rows), best.columns):
            best = candidate
        if candidate.visible >= n_rows:
            break
    assert best is not None
    return best


@dataclass(frozen=True)
class ConditionView:
    """What to draw: the page's images row by row, the names, and the real images beside them."""

    rows: list[int]  # row indices of the page shown, top to bottom
    names: list[str]
    fake: np.ndarray  # (len(rows) · columns, H, W, C), row-major
    real: np.ndarray  # the same layout from the real batch (empty when it has no labels)
    columns: int
    title: str


def _name(text: str) -> str:
    return printable(text)[:MAX_NAME]


def condition_view(s: ImageSamples, *, one_class: bool, selected: int, sweep: int, rows_fit: int,
                   columns_fit: int) -> ConditionView:
    """The rows and columns of the grid to show, given how many fit (see :func:`arrange`)."""
    pages = max(len(s.sweeps), 1)
    per_page = len(s.fake) // pages
    n_rows = grid_rows(s)
    page = sweep % pages
    fake = s.fake[page * per_page:(page + 1) * per_page]
    labels = s.labels[page * per_page:(page + 1) * per_page:s.columns]
    first = selected % n_rows
    if one_class:
        rows = [first]
    elif rows_fit >= n_rows:
        rows = list(range(n_rows))
    else:  # not all fit: a window starting at the selected row (the cycling key scrolls it)
        rows = [(first + i) % n_rows for i in range(max(rows_fit, 1))]
    cols = s.columns if one_class else min(s.columns, max(columns_fit, 1))
    picked = shown_columns(s, cols)
    index = np.array([r * s.columns + j for r in rows for j in picked], dtype=np.int64)
    names = [_name(s.label_names[int(labels[r])]) if int(labels[r]) < len(s.label_names) else "?"
             for r in rows]
    real = _real_rows(s, [int(labels[r]) for r in rows], len(picked))
    title = _title(s, rows, n_rows, names, one_class=one_class, page=page)
    return ConditionView(rows, names, fake[index], real, len(picked), title)


def shown_columns(s: ImageSamples, k: int) -> list[int]:
    """Which ``k`` of the grid's columns to show: the first k noise vectors, or, for an InfoGAN sweep,
    k values spread over it, both ends and the middle kept (an odd count)."""
    if k >= s.columns:
        return list(range(s.columns))
    if not s.sweeps:
        return list(range(k))
    if k % 2 == 0 and s.columns % 2 == 1 and k > 1:
        k -= 1
    if k == 1:
        return [s.columns // 2]
    return sorted({round(i * (s.columns - 1) / (k - 1)) for i in range(k)})


def _real_rows(s: ImageSamples, labels: list[int], cols: int) -> np.ndarray:
    """The real images of each row's class (kind "class" only: InfoGAN's codes have no class)."""
    if s.label_kind != "class" or len(s.real_labels) != len(s.real) or len(s.real) == 0:
        return s.real[:0]
    blank = np.zeros_like(s.real[:1])
    out = []
    for label in labels:
        mine = s.real[s.real_labels == label][:cols]
        out.extend(list(mine) + [blank[0]] * (cols - len(mine)))
    return np.stack(out)


def _title(s: ImageSamples, rows: list[int], n_rows: int, names: list[str], *, one_class: bool,
           page: int) -> str:
    what = "class" if s.label_kind == "class" else "code"
    if one_class:
        shown = f"{what} {names[0]}" if what == "class" else names[0]
    elif len(rows) == n_rows:
        shown = "a class per row" if what == "class" else "a code value per row"
    else:
        shown = f"rows {names[0]}–{names[-1]} of {n_rows}"
    sweep = f" · columns: {s.sweeps[page]}" if s.sweeps else ""
    return f"{shown}{sweep}"


def caption(s: ImageSamples) -> str:
    """The conditional read-outs in one line: label accuracy, I(c; x) ≥ bound of H(c), info accuracy."""
    scores = dict(s.scores)
    parts = []
    if "label_accuracy" in scores:
        parts.append(f"label accuracy {100 * scores['label_accuracy']:.1f} %")
    if "mi_bound" in scores:
        ceiling = scores.get("mi_ceiling", math.nan)
        of = f" of {ceiling:.2f}" if math.isfinite(ceiling) else ""
        parts.append(f"I(c; x) ≥ {scores['mi_bound']:.2f}{of} nats")
    if "info_accuracy" in scores:
        parts.append(f"info accuracy {100 * scores['info_accuracy']:.1f} %")
    return " · ".join(parts)
