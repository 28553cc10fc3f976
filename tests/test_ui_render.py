"""Render helpers: colour depth, decimation, half-block images and the toy view, checked cell by cell."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.strip import Strip

from gantui.protocol import ToySamples, frozen_array
from gantui.ui.render import (
    decimate,
    envelope_series,
    image_grid_strips,
    image_strips,
    resolve_color_system,
    toy_legend,
    toy_strips,
)
from gantui.ui.render.colors import grey_to_codes, rgb_to_codes
from gantui.ui.render.halfblock import grid_layout
from gantui.ui.render.toy import (
    BOTH_POINT_RGB,
    FAKE_POINT_RGB,
    MODE_RGB,
    REAL_POINT_RGB,
    SURFACE_FAKE_RGB,
    SURFACE_NEUTRAL_RGB,
    SURFACE_REAL_RGB,
)


def cells(strip: Strip) -> list[tuple[str, Style | None]]:
    """(character, style) for every cell of a strip."""
    return [(ch, seg.style) for seg in strip for ch in seg.text]


def rgb(color) -> tuple[int, int, int] | None:
    return None if color is None else tuple(color.triplet)


def assert_shape(strips: list[Strip], width: int, height: int) -> None:
    assert len(strips) == height
    for strip in strips:
        assert strip.cell_length == width
        assert sum(cell_len(seg.text) for seg in strip) == width  # the declared length is true


# --- colour depth -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("requested", "environ", "expected"),
    [
        ("auto", {"COLORTERM": "truecolor", "TERM": "xterm-256color"}, "truecolor"),
        ("auto", {"COLORTERM": "24bit"}, "truecolor"),
        ("auto", {"TERM": "xterm-256color", "SSH_CONNECTION": "1 2 3 4"}, "256"),  # ssh drops COLORTERM
        ("auto", {"TERM": "screen"}, "256"),
        ("auto", {"TERM": "tmux-256color"}, "256"),
        ("auto", {"TERM": "xterm-kitty"}, "truecolor"),
        ("auto", {"TERM": "xterm-direct"}, "truecolor"),
        ("auto", {"TERM": "xterm"}, "standard"),
        ("auto", {"TERM": "linux"}, "standard"),
        ("auto", {}, "standard"),
        ("truecolor", {}, "truecolor"),
        ("256", {"COLORTERM": "truecolor"}, "256"),  # an explicit choice wins over the environment
        ("16", {"COLORTERM": "truecolor"}, "standard"),
    ],
)
def test_resolve_color_system(requested: str, environ: dict[str, str], expected: str) -> None:
    assert resolve_color_system(requested, environ) == expected


def test_resolve_color_system_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="colour depth"):
        resolve_color_system("8", {})


def test_xterm256_quantisation() -> None:
    # Cube index = 16 + 36 r + 6 g + b over levels (0, 95, 135, 175, 215, 255); greys 232 + i are 8 + 10 i.
    pixels = np.array([(255, 0, 0), (0, 0, 0), (95, 135, 175), (128, 128, 128), (100, 101, 99)])
    # (128,128,128): cube level 135 is 7 away per channel, grey 232+12 = (128,128,128) is exact.
    # (100,101,99): cube (95,95,95) is 25+36+16 = 77 away; grey 232+9 = 98 is 4+9+1 = 14 away.
    assert rgb_to_codes(pixels, "256").tolist() == [196, 16, 67, 244, 241]


def test_ansi16_quantisation() -> None:
    # Nearest of xterm's 16 (e.g. bright red is (255,0,0), red is (205,0,0)); greys go to the 4 ANSI greys.
    pixels = np.array([(250, 10, 10), (200, 10, 0), (0, 0, 230)])
    assert rgb_to_codes(pixels, "standard").tolist() == [9, 1, 4]
    assert grey_to_codes(np.array([0, 100, 150, 255], np.uint8), "standard").tolist() == [0, 8, 7, 15]


# --- decimation ---------------------------------------------------------------------------------
def test_decimate_returns_short_inputs_unchanged() -> None:
    x, low, high = np.arange(5.0), np.zeros(5), np.ones(5)
    out = decimate(x, low, high, 10)
    assert out[0] is x and out[1] is low and out[2] is high


def test_decimate_bins_by_x_and_keeps_extremes() -> None:
    # x = 0..99 into 10 columns: bin k holds x in [9.9 k, 9.9 (k+1)), i.e. 0-9, 10-19, ..., 90-99.
    x = np.arange(100.0)
    low, high = x.copy(), x.copy()
    high[37] = 1e6  # a spike in bin 3
    dx, dlow, dhigh = decimate(x, low, high, 10)
    assert dx.tolist() == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]  # each bin's last x
    assert dlow.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert dhigh[3] == 1e6 and dhigh[4] == 49


def test_decimate_uneven_steps_and_nan() -> None:
    # Bins split the x *range*: [0, 500) and [500, 1000]; the four early points share bin 0.
    x = np.array([0.0, 1.0, 2.0, 3.0, 1000.0])
    low = np.array([5.0, math.nan, 1.0, 2.0, 7.0])
    high = np.array([5.0, math.nan, 9.0, math.nan, 7.0])
    dx, dlow, dhigh = decimate(x, low, high, 2)
    assert dx.tolist() == [3, 1000]
    assert dlow.tolist() == [1, 7] and dhigh.tolist() == [9, 7]


def test_envelope_series_visits_low_and_high_of_every_x() -> None:
    # Odd points go high-then-low; equal low/high appear once.
    xs, ys = envelope_series(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 4.0]), np.array([1.0, 2.0, 4.0]))
    assert xs == [1, 1, 2, 2, 3]
    assert ys == [0, 1, 2, 0, 4]


# --- half-block images --------------------------------------------------------------------------
RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def test_one_cell_shows_upper_and_lower_pixel() -> None:
    image = np.array([[RED], [BLUE]], dtype=np.uint8)[None]  # (1, 2, 1, 3): two pixels stacked
    strips = image_grid_strips(image, width=1, height=1, gap=0)
    assert_shape(strips, 1, 1)
    [(char, style)] = cells(strips[0])
    assert char == "▀" and rgb(style.color) == RED and rgb(style.bgcolor) == BLUE


def test_small_image_is_enlarged_by_whole_pixels() -> None:
    # A 2x2 image into 4 cells x 2 rows (4x4 pixels) doubles: each source pixel is 2 cells by 1 row.
    a, b, c, d = RED, BLUE, GREEN, WHITE
    image = np.array([[a, b], [c, d]], dtype=np.uint8)
    strips = image_strips(image, width=4, height=2)
    assert_shape(strips, 4, 2)
    for row, (left, right) in enumerate([(a, b), (c, d)]):
        got = [(rgb(s.color), rgb(s.bgcolor)) for _, s in cells(strips[row])]
        assert got == [(left, left), (left, left), (right, right), (right, right)]


def test_shrinking_averages_boxes() -> None:
    # A 2x2 grey image into 1 cell (1x2 pixels): scale min(1/2, 2/2) = 1/2 gives one pixel, the
    # mean (0 + 100 + 200 + 255) / 4 = 138.75 -> 139, in the upper half; the lower half stays empty.
    image = np.array([[[0], [100]], [[200], [255]]], dtype=np.uint8)[None]
    [(char, style)] = cells(image_grid_strips(image, width=1, height=1)[0])
    assert char == "▀" and rgb(style.color) == (139, 139, 139) and style.bgcolor is None


def test_grid_layout_picks_the_largest_scale() -> None:
    # 4 images of 10x10 in 21 cells x 10 rows (20 pixel rows), gap 1:
    # 1 column: 4 rows of (10-3)//4 = 1 row (2 px) -> scale 0.2; 2 columns: 10 px wide, 2 rows of
    # 4 rows (8 px) -> 0.8; 3 columns: 6 px -> 0.6; 4 columns: 4 px -> 0.4. Best: 2x2 of 8x8 pixels.
    assert grid_layout(4, 10, 10, 21, 10, 1) == (2, 2, 8, 8)


def test_grid_places_images_left_to_right_with_gaps() -> None:
    # Three solid 2x2 images into 8 cells x 1 row: 3 columns of 2 cells + 2 gaps = 8 cells exactly.
    images = frozen_array(np.stack([np.full((2, 2, 3), colour, np.uint8) for colour in (RED, GREEN, BLUE)]))
    row = cells(image_grid_strips(images, width=8, height=1)[0])  # read-only input, as events carry
    colours = [rgb(style.color) if char != " " else None for char, style in row]
    assert colours == [RED, RED, None, GREEN, GREEN, None, BLUE, BLUE]


def test_grid_pads_to_height_and_survives_tiny_areas() -> None:
    images = np.zeros((64, 28, 28, 1), np.uint8)
    assert_shape(image_grid_strips(images, width=100, height=40), 100, 40)
    assert_shape(image_grid_strips(images, width=3, height=1), 3, 1)
    assert_shape(image_grid_strips(images[:0], width=5, height=2), 5, 2)


def test_palette_modes_pick_palette_colours() -> None:
    white = np.full((1, 2, 1, 1), 255, np.uint8)
    [(_, style)] = cells(image_grid_strips(white, width=1, height=1, color_system="standard")[0])
    assert style.color.number == 15 and style.bgcolor.number == 15  # bright_white
    red = np.full((1, 2, 1, 3), RED, np.uint8)
    [(_, style)] = cells(image_grid_strips(red, width=1, height=1, color_system="256")[0])
    assert style.color.number == 196


def test_rejects_bad_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        image_grid_strips(np.zeros((1, 4, 4, 1), np.float32), width=4, height=2)
    with pytest.raises(ValueError, match="C in"):
        image_grid_strips(np.zeros((1, 4, 4, 2), np.uint8), width=4, height=2)


def median_cpu_ms(render, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        render()
        times.append(time.process_time() - start)
    return 1000 * float(np.median(times))


def test_image_grid_is_fast() -> None:
    # Targets (bench/render_bench.py reports the figures): 15 ms. This guard allows 4x for busy CI.
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    colour = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    assert median_cpu_ms(lambda: image_grid_strips(grey, width=100, height=40)) < 60
    assert median_cpu_ms(lambda: image_grid_strips(colour, width=100, height=40)) < 60


# --- toy view -----------------------------------------------------------------------------------
def toy(real=(), fake=(), modes=(), surface=None, extent=(-2.0, 2.0, -2.0, 2.0)) -> ToySamples:
    def points(p):
        return np.asarray(p, dtype=np.float32).reshape(-1, 2)

    if surface is None:
        surface = np.full((16, 16), 0.5, np.float32)
    return ToySamples(step=0, real=frozen_array(points(real)), fake=frozen_array(points(fake)),
                      d_surface=frozen_array(np.asarray(surface, np.float32)), extent=extent,
                      modes=frozen_array(points(modes)))


def test_point_lands_in_the_expected_cell() -> None:
    # Extent 4 x 4 into 40 cells x 20 rows (40 x 40 pixels): 10 pixels per unit both ways, left
    # edge x = -2, top edge y = 2. (0.05, 1.05): column floor(2.05 * 10) = 20, row floor(0.95 * 10 / 2) = 4.
    # (-1.95, -1.95): column floor(0.05 * 10) = 0, row floor(3.95 * 5) = 19.
    strips = toy_strips(toy(fake=[(0.05, 1.05)], real=[(-1.95, -1.95)]), width=40, height=20)
    assert_shape(strips, 40, 20)
    char, style = cells(strips[4])[20]
    assert char == "•" and rgb(style.color) == FAKE_POINT_RGB
    char, style = cells(strips[19])[0]
    assert char == "•" and rgb(style.color) == REAL_POINT_RGB
    marked = [(r, c) for r, s in enumerate(strips) for c, (ch, _) in enumerate(cells(s)) if ch == "•"]
    assert sorted(marked) == [(4, 20), (19, 0)]


def test_symbols_for_overlap_modes_and_hidden_points() -> None:
    # Same 10 px/unit geometry: (0.05, 1.05) is cell (4, 20); (1.05, 0.05) is cell (9, 30);
    # (-0.95, 0.05) is cell (9, 10).
    samples = toy(real=[(0.05, 1.05), (1.05, 0.05)], fake=[(0.05, 1.05), (-0.95, 0.05)],
                  modes=[(1.05, 0.05), (-0.95, 0.05)])
    grid = [cells(s) for s in toy_strips(samples, width=40, height=20)]
    assert grid[4][20][0] == "◆" and rgb(grid[4][20][1].color) == BOTH_POINT_RGB
    assert grid[9][30][0] == "+" and rgb(grid[9][30][1].color) == MODE_RGB  # a mode G misses
    assert grid[9][10][0] == "•" and rgb(grid[9][10][1].color) == FAKE_POINT_RGB  # covered mode
    hidden = [cells(s) for s in toy_strips(samples, width=40, height=20, show_fake=False)]
    assert hidden[4][20][0] == "•" and rgb(hidden[4][20][1].color) == REAL_POINT_RGB
    assert hidden[9][10][0] == "+"


@pytest.mark.parametrize(("d", "expected"), [(1.0, SURFACE_REAL_RGB), (0.0, SURFACE_FAKE_RGB),
                                             (0.5, SURFACE_NEUTRAL_RGB)])
def test_uniform_surface_colours_every_cell(d: float, expected: tuple[int, int, int]) -> None:
    strips = toy_strips(toy(surface=np.full((8, 8), d)), width=30, height=15)
    for strip in strips:
        for char, style in cells(strip):
            assert char == "▀" and rgb(style.color) == expected and rgb(style.bgcolor) == expected


def test_surface_row_zero_is_the_top_and_standard_colours() -> None:
    surface = np.zeros((10, 10))
    surface[:5] = 1.0  # top half "looks real"
    strips = toy_strips(toy(surface=surface), width=20, height=10, color_system="standard")
    top, bottom = cells(strips[0])[5][1], cells(strips[-1])[5][1]
    assert top.color.number == 2 and top.bgcolor.number == 2  # green
    assert bottom.color.number == 5  # magenta


def test_aspect_is_kept_with_blank_margins() -> None:
    # Extent 4 wide x 2 tall into 40 cells x 20 rows: 10 px/unit (width-limited), so y in [-1, 1]
    # covers 20 pixel rows = cell rows 5..14, centred; the rows above and below stay blank.
    strips = toy_strips(toy(extent=(-2.0, 2.0, -1.0, 1.0)), width=40, height=20)
    drawn = [r for r, s in enumerate(strips) if any(ch != " " for ch, _ in cells(s))]
    assert drawn == list(range(5, 15))


def test_toy_legend_names_both_players() -> None:
    text = " ".join(line.plain for line in toy_legend(200))
    assert "real" in text and "generated" in text and "mode" in text


@pytest.mark.parametrize(("width", "lines"), [(200, 1), (68, 2), (40, 3)])
def test_toy_legend_wraps_between_entries_never_inside_one(width: int, lines: int) -> None:
    """At 68 columns (a 140-column terminal's panel) a word wrap used to strand "fake" on its own line."""
    legend = toy_legend(width)
    assert len(legend) == lines
    assert all(line.cell_len <= width for line in legend)
    assert legend[0].plain.startswith("• real")  # a short panel keeps the first line: the point symbols
    assert " D≈1 real  D=½  D≈0 fake " in [line.plain for line in legend][-1]  # the surface's bar, whole


def test_toy_view_is_fast() -> None:
    # Target 20 ms for 2 500 + 2 500 points in 100 x 40 (bench/render_bench.py); the guard allows 4x.
    rng = np.random.default_rng(0)
    grid = np.linspace(-3, 3, 64)
    surface = 1 / (1 + np.exp(-(grid[None, :] + grid[:, None])))
    samples = toy(real=rng.normal(size=(2500, 2)), fake=rng.normal(size=(2500, 2)), surface=surface,
                  extent=(-3.0, 3.0, -3.0, 3.0))
    assert median_cpu_ms(lambda: toy_strips(samples, width=100, height=40)) < 80
