"""Colour depth: which of Rich's colour systems to draw with, and how to quantise pixels to it.

Renderers work with integer *colour codes* so that numpy can compare and run-length encode them:
a code is ``r << 16 | g << 8 | b`` under "truecolor", an xterm palette index 0..255 under "256",
an ANSI index 0..15 under "standard", and -1 means "no colour" (the terminal's own background).
We quantise to the palettes ourselves rather than letting Rich down-convert each colour, because
Rich does that per colour on every render while we can do it once per frame, vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from rich.color import Color, ColorTriplet, ColorType
from rich.style import Style

__all__ = [
    "COLOR_SYSTEMS",
    "code_color",
    "grey_to_codes",
    "pair_style",
    "resolve_color_system",
    "rgb_to_codes",
]

COLOR_SYSTEMS = ("truecolor", "256", "standard")

# Terminals that draw 24-bit colour but whose TERM says so only by name. COLORTERM is the usual
# signal, but ssh does not forward it, while TERM does travel.
_TRUECOLOR_TERMS = ("xterm-kitty", "xterm-ghostty", "alacritty", "wezterm", "foot", "contour")

_REQUESTED = {"truecolor": "truecolor", "24bit": "truecolor", "256": "256", "16": "standard",
              "standard": "standard"}


def resolve_color_system(requested: str, environ: Mapping[str, str]) -> str:
    """Map the config's "auto" | "truecolor" | "256" | "16" to Rich's "truecolor" | "256" | "standard".

    "auto" trusts COLORTERM first (truecolor/24bit), then TERM: a name with "direct" or a terminal
    known to draw 24-bit colour gives truecolor; "256color", "screen*" and "tmux*" give 256 (tmux
    and screen draw 256 colours unless told otherwise); anything else gets the 16 ANSI colours,
    which every terminal has.
    """
    requested = requested.strip().lower()
    if requested != "auto":
        try:
            return _REQUESTED[requested]
        except KeyError:
            raise ValueError(f"unknown colour depth {requested!r}: use auto, truecolor, 256 or 16") from None
    if environ.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
        return "truecolor"
    term = environ.get("TERM", "").strip().lower()
    if "direct" in term or term.startswith(_TRUECOLOR_TERMS):
        return "truecolor"
    if "256color" in term or term.startswith(("screen", "tmux")):
        return "256"
    return "standard"


# --- palettes ---------------------------------------------------------------------------------
# xterm's 6x6x6 cube levels and 24-step grey ramp (indices 16..231 and 232..255).
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255], dtype=np.int32)
_CUBE_EDGES = np.array([48, 115, 155, 195, 235], dtype=np.int32)  # a value >= edge moves up a level
_GREY_LEVELS = 8 + 10 * np.arange(24, dtype=np.int32)

# xterm's default 16 ANSI colours (terminal themes differ; this is the common reference).
ANSI16_RGB = np.array([
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205),
    (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255),
    (255, 0, 255), (0, 255, 255), (255, 255, 255),
], dtype=np.int32)
_ANSI_GREYS = np.array([0, 8, 7, 15], dtype=np.int64)  # black, bright_black, white, bright_white


def _xterm256(rgb: np.ndarray) -> np.ndarray:
    """Nearest xterm-256 index (cube or grey ramp, squared RGB distance) for int32 (..., 3) input."""
    level = np.searchsorted(_CUBE_EDGES, rgb, side="right")  # (..., 3) in 0..5
    cube = _CUBE_LEVELS[level]
    cube_d = ((cube - rgb) ** 2).sum(-1)
    grey_i = np.clip((rgb.mean(-1) - 8.0 + 5.0) // 10, 0, 23).astype(np.int32)
    grey_d = ((_GREY_LEVELS[grey_i][..., None] - rgb) ** 2).sum(-1)
    cube_index = 16 + 36 * level[..., 0] + 6 * level[..., 1] + level[..., 2]
    return np.where(grey_d < cube_d, 232 + grey_i, cube_index).astype(np.int64)


def _ansi16(rgb: np.ndarray) -> np.ndarray:
    """Nearest of the 16 ANSI colours (squared RGB distance) for int32 (..., 3) input."""
    d = ((rgb[..., None, :] - ANSI16_RGB) ** 2).sum(-1)
    return d.argmin(-1).astype(np.int64)


def rgb_to_codes(rgb: np.ndarray, color_system: str) -> np.ndarray:
    """Colour codes (int64, shape ``rgb.shape[:-1]``) for uint8/int RGB values in ``color_system``."""
    rgb = np.asarray(rgb).astype(np.int32)
    if color_system == "truecolor":
        return (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    if color_system == "256":
        return _xterm256(rgb)
    if color_system == "standard":
        return _ansi16(rgb)
    raise ValueError(f"unknown colour system {color_system!r}")


@lru_cache(maxsize=8)
def _grey_lut(color_system: str) -> np.ndarray:
    """Code for each grey level 0..255: greys are common enough (MNIST) to deserve a table."""
    grey = np.arange(256, dtype=np.int32)
    if color_system == "standard":
        # Four equal bands over the ANSI greys: nearest-colour would leave bright_white almost unused.
        return _ANSI_GREYS[grey // 64]
    return rgb_to_codes(np.stack([grey, grey, grey], axis=-1), color_system)


def grey_to_codes(grey: np.ndarray, color_system: str) -> np.ndarray:
    """Colour codes for uint8 grey values (any shape)."""
    return _grey_lut(color_system)[grey]


# --- Rich objects -------------------------------------------------------------------------------
# Building a Color or a Style costs about a microsecond, so renderers cache whole cell Styles (see
# halfblock.StyleCache) and truecolor colours are kept in a small dict (greyscale images reuse 256 of
# them). The caches stay small because every cached object is one more for the garbage collector to
# walk (functools.lru_cache at 65 536 entries caused 100+ ms pauses).
_HEX = [f"{i:02x}" for i in range(256)]
_PALETTE = [Color.from_ansi(i) for i in range(256)]
_TRUECOLORS: dict[int, Color] = {}
_TRUECOLORS_MAX = 4096


def _truecolor(code: int) -> Color:
    # Equal to Color.from_rgb(r, g, b), built with tuple.__new__ (both are NamedTuples) because
    # from_rgb is twice as slow and a new RGB image brings thousands of new colours.
    r, g, b = (code >> 16) & 255, (code >> 8) & 255, code & 255
    triplet = tuple.__new__(ColorTriplet, (r, g, b))
    return tuple.__new__(Color, ("#" + _HEX[r] + _HEX[g] + _HEX[b], ColorType.TRUECOLOR, None, triplet))


def code_color(code: int, color_system: str) -> Color | None:
    """The Rich Color for a colour code (None for -1)."""
    if code < 0:
        return None
    if color_system != "truecolor":
        return _PALETTE[code]
    color = _TRUECOLORS.get(code)
    if color is None:
        if len(_TRUECOLORS) >= _TRUECOLORS_MAX:
            _TRUECOLORS.clear()  # simplest bound; refilling costs one frame of misses
        color = _TRUECOLORS[code] = _truecolor(code)
    return color


def pair_style(fg: int, bg: int, color_system: str) -> Style:
    """A Style with foreground ``fg`` and background ``bg`` (codes; -1 leaves that one unset)."""
    return Style.from_color(code_color(fg, color_system), code_color(bg, color_system))
