"""The samples panel: how many images of the fixed noise batch a grid shows, and what its title says.

The layout tests run the panel alone in a small App of a fixed size, so every figure is derived by
hand from its 32 x 22 cells (34 x 24 less the round border); the last test drives the dashboard's key.
"""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App, ComposeResult

from gantui.ui.render import legible_count
from gantui.ui.widgets.samples_panel import SamplesPanel
from tests.fakes import image_samples, make_app, run_async, started, toy_samples


@pytest.mark.parametrize(("n", "side", "width", "height", "expected"), [
    # 8x8 digits keep their size (8 cells x 4 rows a tile): (32+1)//(8+1) = 3 columns,
    # (22+1)//(4+1) = 4 rows: 12 of 64.
    (64, 8, 32, 22, 12),
    # 28x28 MNIST shrinks to 12 px (12 cells x 6 rows): (32+1)//13 = 2 columns, (22+1)//7 = 3 rows.
    (64, 28, 32, 22, 6),
    # Room for 11 x 8 = 88 digits: all 64 are shown.
    (64, 8, 100, 40, 64),
    # Not room for even one at 12 px: one is still shown (shrunk to fit).
    (64, 28, 3, 1, 1),
    # 47 px shrinks to exactly 12 (not 11, as 47 * (12 / 47) floors to in floating point):
    # (35+1)//13 = 2 columns, (6+1)//7 = 1 row; at 11 px it would be (35+1)//12 = 3 columns.
    (64, 47, 35, 6, 2),
])
def test_legible_count(n: int, side: int, width: int, height: int, expected: int) -> None:
    assert legible_count(n, side, side, width, height) == expected


class PanelApp(App):
    CSS = "SamplesPanel { width: 34; height: 24; }"

    def compose(self) -> ComposeResult:
        yield SamplesPanel(id="samples")


def row_text(panel: SamplesPanel, y: int) -> str:
    return panel.render_line(y).text


@run_async
async def test_a_panel_shows_the_samples_that_fit_at_full_size_and_says_how_many():
    """64 digits in 32 x 22 cells used to be 64 smudges of 2 x 2 pixels; now 12 legible ones."""
    app = PanelApp()
    async with app.run_test(size=(40, 30)) as pilot:
        panel = app.query_one(SamplesPanel)
        panel.show(image_samples(n=64, side=8))
        await pilot.pause()
        assert panel.size == (32, 22)
        assert panel.border_title == "generated 12/64 · step 4,000"
        # 3 tiles of 8 cells and 2 gaps (26 cells), centred in 32: 3 blank cells either side.
        assert row_text(panel, 0) == "   " + " ".join(["▀" * 8] * 3) + "   "
        assert [row_text(panel, y).strip() != "" for y in range(22)] == \
            ([True] * 4 + [False]) * 4 + [False] * 2  # 4 rows of tiles, 4 cells high, gap 1

        panel.toggle_real()  # side by side: 15 cells each, one column of 4 pairs
        await pilot.pause()
        assert panel.border_title == "generated │ real 4/64 · step 4,000"

        panel.toggle_real()
        panel.show(image_samples(n=9, side=8))  # room for all 9 (3 x 3 tiles): no count
        await pilot.pause()
        assert panel.border_title == "generated · step 4,000"
        assert np.count_nonzero([row_text(panel, y).strip() for y in range(22)]) == 3 * 4  # 3 rows of tiles


@run_async
async def test_real_samples_toggle_and_new_samples_replace_old():
    app, controller = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, controller, is_toy=False)
        panel = app.query_one(SamplesPanel)
        controller.push(image_samples())
        await pilot.pause()
        assert panel.real_shown is False  # image grids show the real batch on request
        await pilot.press("r")
        assert panel.real_shown is True
        controller.push(toy_samples(step=5000))
        await pilot.pause()
        assert panel.samples.step == 5000
        assert controller.sent == []  # r is a display toggle, not a command
