"""The GAN Lab view in a terminal: D's decision surface with real and generated points on top.

Background: D(x) on the plane, two half-block pixels per cell, on a diverging map: green where D
says "real" (D near 1), purple where it says "fake" (D near 0), dark grey at D = 1/2 where it cannot
tell. When G matches the data, D* = 1/2 everywhere and the plane turns grey.

A critic's surface (``ToySamples.surface == "score"``) is its raw score v, which has no fixed scale
(a WGAN critic's v drifts to −57 and beyond): σ(v) would paint a uniform square. It is coloured by v
relative to the rest of the surface instead: its 2nd to 98th percentiles span the map, green for the
highest (most real-like) scores, purple for the lowest, and the legend gives the range.

Aspect: a terminal cell is about 1 wide by 2 tall, so a half-block pixel is about square. We give
one data unit the same number of pixels across as down and centre the data's extent in the view;
the spare room on the longer side is left blank (D was not evaluated there). On a terminal whose
cells are not 1:2 circles come out slightly oval.

Cell symbols, in priority order: "◆" real and generated points share the cell, magenta "•" a
generated point, "+" a mode centre with no generated point in its cell (a mode G misses), green
"•" a real point.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.text import Text
from textual.strip import Strip

from gantui.protocol import ToySamples
from gantui.ui.render.colors import rgb_to_codes
from gantui.ui.render.halfblock import blank_strips, cells_to_strips, halfblock_cells, pack_cells

__all__ = [
    "BOTH_POINT_RGB",
    "FAKE_POINT_RGB",
    "MODE_RGB",
    "REAL_POINT_RGB",
    "SURFACE_FAKE_RGB",
    "SURFACE_NEUTRAL_RGB",
    "SURFACE_REAL_RGB",
    "surface_levels",
    "surface_rgb",
    "toy_legend",
    "toy_strips",
]

SURFACE_REAL_RGB = (24, 112, 56)  # D = 1: "looks real"
SURFACE_FAKE_RGB = (104, 40, 136)  # D = 0: "looks fake"
SURFACE_NEUTRAL_RGB = (40, 40, 40)  # D = 1/2: cannot tell
REAL_POINT_RGB = (90, 240, 130)
FAKE_POINT_RGB = (255, 100, 255)
BOTH_POINT_RGB = (255, 255, 255)
MODE_RGB = (255, 215, 0)

# ANSI indices for 16-colour terminals: green / black / magenta bands, bright symbols.
_STANDARD_POINTS = {"real": 10, "fake": 13, "both": 15, "mode": 11}
_LEVELS = 65  # D is quantised to this many levels (odd, so D = 1/2 is one); few colours keep Styles cached
_LEGEND_GAP = 2  # columns between two entries of the legend
_GLYPH_HALF, _GLYPH_DOT, _GLYPH_BOTH, _GLYPH_MODE = 1, 3, 4, 5


def surface_rgb(d: np.ndarray) -> np.ndarray:
    """RGB (float, (..., 3)) of the diverging map for D values in [0, 1]."""
    t = np.clip(2.0 * np.asarray(d, dtype=np.float64) - 1.0, -1.0, 1.0)[..., None]
    neutral = np.array(SURFACE_NEUTRAL_RGB, dtype=np.float64)
    towards = np.where(t >= 0, np.array(SURFACE_REAL_RGB, float), np.array(SURFACE_FAKE_RGB, float))
    return neutral + np.abs(t) * (towards - neutral)


@lru_cache(maxsize=8)
def _surface_lut(color_system: str) -> np.ndarray:
    """Colour code for each of the ``_LEVELS`` levels of D."""
    d = np.arange(_LEVELS) / (_LEVELS - 1)
    if color_system == "standard":
        return np.where(d >= 0.65, 2, np.where(d <= 0.35, 5, 0)).astype(np.int64)  # green, magenta, black
    return rgb_to_codes(np.rint(surface_rgb(d)).astype(np.int32), color_system)


@lru_cache(maxsize=8)
def _point_codes(color_system: str) -> dict[str, int]:
    if color_system == "standard":
        return dict(_STANDARD_POINTS)
    rgbs = {"real": REAL_POINT_RGB, "fake": FAKE_POINT_RGB, "both": BOTH_POINT_RGB, "mode": MODE_RGB}
    return {name: int(rgb_to_codes(np.array(rgb), color_system)) for name, rgb in rgbs.items()}


def _level_codes(d: np.ndarray, color_system: str) -> np.ndarray:
    """Colour codes for D values; NaN (no surface there) gives -1."""
    known = np.isfinite(d)
    level = np.clip(np.rint(np.where(known, d, 0.0) * (_LEVELS - 1)), 0, _LEVELS - 1).astype(np.intp)
    return np.where(known, _surface_lut(color_system)[level], -1)


def surface_levels(samples: ToySamples) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The surface mapped to [0, 1] for the colour map, and for a critic the (low, high) v it spans."""
    surface = np.asarray(samples.d_surface, dtype=np.float64)
    if samples.surface != "score":
        return surface, None
    finite = surface[np.isfinite(surface)]
    if finite.size == 0:
        return surface, None
    lo, hi = (float(v) for v in np.percentile(finite, [2.0, 98.0]))
    if not hi - lo > 1e-12 * max(1.0, abs(lo), abs(hi)):  # flat: no score is higher than another
        return np.where(np.isfinite(surface), 0.5, np.nan), (lo, hi)
    return np.clip((surface - lo) / (hi - lo), 0.0, 1.0), (lo, hi)


def _cell_mask(points: np.ndarray, x0: float, y1: float, scale: float, width: int, height: int) -> np.ndarray:
    """(height, width) bool: which cells hold at least one of ``points`` (n, 2)."""
    mask = np.zeros((height, width), dtype=bool)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return mask
    col = np.floor((points[:, 0] - x0) * scale)
    row = np.floor((y1 - points[:, 1]) * scale / 2.0)  # two pixels per cell row
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    mask[row[inside].astype(np.intp), col[inside].astype(np.intp)] = True
    return mask


def toy_strips(
    samples: ToySamples,
    *,
    width: int,
    height: int,
    color_system: str = "truecolor",
    show_real: bool = True,
    show_fake: bool = True,
) -> list[Strip]:
    """Exactly ``height`` strips of ``width`` cells showing ``samples`` (see the module docstring)."""
    if width <= 0 or height <= 0:
        return blank_strips(max(width, 0), height)
    xmin, xmax, ymin, ymax = (float(v) for v in samples.extent)
    x_range, y_range = max(xmax - xmin, 1e-12), max(ymax - ymin, 1e-12)
    scale = min(width / x_range, 2 * height / y_range)  # pixels per data unit, both axes
    x0 = (xmin + xmax) / 2 - width / scale / 2  # view's left edge
    y1 = (ymin + ymax) / 2 + 2 * height / scale / 2  # view's top edge

    # D at the centre of every pixel from the nearest grid point; NaN outside the evaluated extent.
    surface, _v_range = surface_levels(samples)
    d = np.full((2 * height, width), np.nan)
    if surface.ndim == 2 and surface.size:
        s_rows, s_cols = surface.shape
        px = x0 + (np.arange(width) + 0.5) / scale
        py = y1 - (np.arange(2 * height) + 0.5) / scale
        # The grid holds D at linspace(xmin, xmax, cols) x linspace(ymax, ymin, rows) (engine/observe.py).
        sj = np.rint((px - xmin) / x_range * (s_cols - 1)).astype(np.intp)
        si = np.rint((ymax - py) / y_range * (s_rows - 1)).astype(np.intp)
        ok_j, ok_i = (px >= xmin) & (px <= xmax), (py >= ymin) & (py <= ymax)
        d[np.ix_(ok_i, ok_j)] = surface[np.ix_(si[ok_i], sj[ok_j])]
    pixel_codes = _level_codes(d, color_system)
    glyph, fg, bg = halfblock_cells(pixel_codes[0::2], pixel_codes[1::2])

    # Symbols sit on the cell's mean D (either pixel alone where the other is off the surface).
    upper, lower = d[0::2], d[1::2]
    cell_d = np.where(np.isnan(upper), lower, np.where(np.isnan(lower), upper, (upper + lower) / 2))
    cell_bg = _level_codes(cell_d, color_system)
    codes = _point_codes(color_system)
    no_points = np.zeros((height, width), dtype=bool)
    real = _cell_mask(samples.real, x0, y1, scale, width, height) if show_real else no_points
    fake = _cell_mask(samples.fake, x0, y1, scale, width, height) if show_fake else no_points
    modes = _cell_mask(samples.modes, x0, y1, scale, width, height)
    # Lowest priority first: each later layer overwrites the earlier ones.
    for mask, glyph_id, code in (
        (real, _GLYPH_DOT, codes["real"]),
        (modes & ~fake, _GLYPH_MODE, codes["mode"]),
        (fake, _GLYPH_DOT, codes["fake"]),
        (real & fake, _GLYPH_BOTH, codes["both"]),
    ):
        glyph = np.where(mask, glyph_id, glyph)
        fg = np.where(mask, code, fg)
        bg = np.where(mask, cell_bg, bg)
    return cells_to_strips(pack_cells(glyph, fg, bg), color_system)


def toy_legend(width: int, v_range: tuple[float, float] | None = None) -> list[Text]:
    """The key to the view, in lines of at most ``width`` cells that never split an entry.

    A terminal's word wrap would cut a swatch such as "D≈0 fake" in two; packing whole entries keeps
    each readable, and the first line (what a short panel keeps) holds the point symbols. With
    ``v_range`` (a critic's score surface) the swatches say what high and low scores mean, and the
    range of v they span; the D≈1 / ½ / D≈0 key is for probabilities only.
    """

    def hex_of(rgb: tuple[int, int, int]) -> str:
        return "#{:02x}{:02x}{:02x}".format(*rgb)

    entries = [Text.assemble((symbol, f"bold {hex_of(rgb)}"), label) for symbol, rgb, label in (
        ("• ", REAL_POINT_RGB, "real"),
        ("• ", FAKE_POINT_RGB, "generated"),
        ("◆ ", BOTH_POINT_RGB, "both"),
        ("+ ", MODE_RGB, "mode G misses"),
    )]
    if v_range is None:
        entries.append(Text.assemble(  # D's surface, as one bar from real to fake
            (" D≈1 real ", f"on {hex_of(SURFACE_REAL_RGB)}"),
            (" D=½ ", f"on {hex_of(SURFACE_NEUTRAL_RGB)}"),
            (" D≈0 fake ", f"on {hex_of(SURFACE_FAKE_RGB)}")))
    else:
        lo, hi = v_range
        entries.append(Text.assemble((" v high: real-like ", f"on {hex_of(SURFACE_REAL_RGB)}"),
                                     (" v low: fake-like ", f"on {hex_of(SURFACE_FAKE_RGB)}")))
        entries.append(Text(f"v {lo:.3g} … {hi:.3g}", style="dim"))
    lines = [Text()]
    for entry in entries:
        if lines[-1].cell_len and lines[-1].cell_len + _LEGEND_GAP + entry.cell_len > width:
            lines.append(Text())
        if lines[-1].cell_len:
            lines[-1].append(" " * _LEGEND_GAP)
        lines[-1].append_text(entry)
    return lines
