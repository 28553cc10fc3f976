"""A conditional run's grid in the samples panel: one class per row with its name, the rows that fit,
one class alone, the next class, InfoGAN's swept code, and the read-outs in the caption.

Layout figures are derived by hand from the panel's 32 x 22 cells (a 34 x 24 panel less its border);
8x8 digits keep their size: a tile is 8 cells wide and 4 rows high, with a gap of 1.
"""

from __future__ import annotations

import math

import numpy as np
from textual.app import App, ComposeResult

from gantui.protocol import ImageSamples, frozen_array
from gantui.ui.render.condition_view import arrange, caption, condition_view, is_conditional, shown_columns
from gantui.ui.widgets.samples_panel import SamplesPanel
from tests.fakes import make_app, run_async, started


def conditional_samples(*, rows: int = 10, columns: int = 10, sweeps: tuple[str, ...] = (),
                        kind: str = "class", scores: tuple[tuple[str, float], ...] = ()) -> ImageSamples:
    """Image i of page p is flat grey (16·row + 2·column + 100·page) % 256, so every tile is tellable."""
    pages = max(len(sweeps), 1)
    n = pages * rows * columns
    page, rest = np.divmod(np.arange(n), rows * columns)
    row, col = np.divmod(rest, columns)
    grey = ((16 * row + 2 * col + 100 * page) % 256).astype(np.uint8)
    fake = np.broadcast_to(grey[:, None, None, None], (n, 8, 8, 1)).copy()
    real_grey = (255 - 16 * np.repeat(np.arange(rows), columns)).astype(np.uint8)
    real = np.broadcast_to(real_grey[:, None, None, None], (rows * columns, 8, 8, 1)).copy()
    names = tuple(str(r) for r in range(rows)) if kind == "class" else tuple(f"c={r}" for r in range(rows))
    return ImageSamples(step=4000, fake=frozen_array(fake), real=frozen_array(real),
                        labels=frozen_array(row.astype(np.int64)), label_names=names, label_kind=kind,
                        columns=columns, sweeps=sweeps,
                        real_labels=frozen_array(np.repeat(np.arange(rows), columns).astype(np.int64)),
                        scores=scores)


class PanelApp(App):
    CSS = "SamplesPanel { width: 34; height: 24; }"

    def compose(self) -> ComposeResult:
        yield SamplesPanel(id="samples")


def row_text(panel: SamplesPanel, y: int) -> str:
    return panel.render_line(y).text


# ------------------------------------------------------------------------------- pure layout
def test_ten_classes_of_digits_in_a_wide_panel_go_side_by_side_in_two_blocks() -> None:
    # 78 x 28 cells, names 1 character + a space: one block has (28 + 1) // 5 = 5 rows of
    # (76 + 1) // 9 = 8 samples; two blocks of (78 − 2) // 2 − 2 = 36 cells hold 4 samples and all 10 rows.
    one = arrange(10, 10, 8, 8, 78, 28, margin=2, min_columns=9)
    assert (one.blocks, one.rows, one.columns) == (1, 5, 8)
    both = arrange(10, 10, 8, 8, 78, 28, margin=2)
    assert (both.blocks, both.rows, both.columns, both.visible) == (2, 5, 4, 10)
    # All rows fit in one block: no split.
    assert arrange(3, 10, 8, 8, 100, 40, margin=2).blocks == 1


def test_a_sweep_keeps_its_ends_and_its_middle_when_columns_are_dropped() -> None:
    s = conditional_samples(columns=9, sweeps=("c1 from −2 to 2",), kind="code")
    assert shown_columns(s, 5) == [0, 2, 4, 6, 8]  # −2, −1, 0, 1, 2
    assert shown_columns(s, 4) == [0, 4, 8]  # an even count loses the middle: one fewer
    assert shown_columns(s, 1) == [4]
    assert shown_columns(conditional_samples(columns=9), 4) == [0, 1, 2, 3]  # noise columns: the first


def test_the_view_shows_a_window_of_rows_from_the_selected_class_and_says_so() -> None:
    s = conditional_samples()
    view = condition_view(s, one_class=False, selected=8, sweep=0, rows_fit=4, columns_fit=3)
    assert view.rows == [8, 9, 0, 1] and view.names == ["8", "9", "0", "1"]
    assert view.title == "rows 8–1 of 10"
    assert view.fake[:, 0, 0, 0].tolist() == [16 * r + 2 * j for r in (8, 9, 0, 1) for j in range(3)]
    assert view.real.shape == (12, 8, 8, 1) and view.real[0, 0, 0, 0] == 255 - 16 * 8  # real class 8 beside
    alone = condition_view(s, one_class=True, selected=3, sweep=0, rows_fit=4, columns_fit=3)
    assert alone.rows == [3] and alone.title == "class 3" and len(alone.fake) == 10


def test_caption_says_label_accuracy_and_the_mi_bound_against_its_ceiling() -> None:
    s = conditional_samples(scores=(("info_accuracy", 0.743), ("mi_bound", 1.912),
                                    ("mi_ceiling", math.log(10))))
    assert caption(s) == "I(c; x) ≥ 1.91 of 2.30 nats · info accuracy 74.3 %"
    assert caption(conditional_samples(scores=(("label_accuracy", 0.9194),))) == "label accuracy 91.9 %"
    assert caption(conditional_samples()) == ""


def test_an_inconsistent_grid_is_drawn_as_a_plain_one() -> None:
    s = conditional_samples()
    bad = ImageSamples(step=1, fake=s.fake, real=s.real, labels=s.labels[:5], label_names=s.label_names,
                       label_kind="class", columns=10)
    assert is_conditional(s) and not is_conditional(bad)


# ------------------------------------------------------------------------------- the panel
@run_async
async def test_the_panel_writes_each_class_name_at_its_row_and_cycles_classes():
    app = PanelApp()
    async with app.run_test(size=(40, 30)) as pilot:
        panel = app.query_one(SamplesPanel)
        panel.show(conditional_samples())
        await pilot.pause()
        # 32 cells less the 2-cell margin: (30 + 1) // 9 = 3 samples a row; (22 + 1) // 5 = 4 rows.
        assert panel.border_title == "generated · rows 0–3 of 10 · step 4,000"
        assert [row_text(panel, 5 * r)[:2] for r in range(4)] == ["0 ", "1 ", "2 ", "3 "]
        assert row_text(panel, 0) == "0 " + " ".join(["▀" * 8] * 3) + "    "  # 2 + 26 of 32 cells
        assert row_text(panel, 1).startswith("  ▀")  # a name is written on its row's first line only
        panel.next_class()
        await pilot.pause()
        assert panel.border_title == "generated · rows 1–4 of 10 · step 4,000"
        assert row_text(panel, 0)[:2] == "1 "
        panel.toggle_one_class()
        await pilot.pause()
        assert panel.border_title == "generated · class 1 · step 4,000"
        assert "1 " not in row_text(panel, 0)[:2]  # the one class is named in the title, not beside it
        assert panel.border_subtitle == ""


@run_async
async def test_infogan_s_pages_sweep_another_code_on_request():
    app = PanelApp()
    async with app.run_test(size=(40, 30)) as pilot:
        panel = app.query_one(SamplesPanel)
        panel.show(conditional_samples(columns=9, sweeps=("c1 from −2 to 2", "c2 from −2 to 2"), kind="code",
                                       scores=(("mi_bound", 2.2), ("mi_ceiling", math.log(10)))))
        await pilot.pause()
        # "c=0" names: a 4-cell margin leaves 28 cells: (28 + 1) // 9 = 3 samples of the sweep (−2, 0, 2).
        assert panel.border_title == "generated · rows c=0–c=3 of 10 · columns: c1 from −2 to 2 · step 4,000"
        assert panel.border_subtitle == "I(c; x) ≥ 2.20 of 2.30 nats"
        first = panel.render_line(0)
        panel.next_sweep()
        await pilot.pause()
        assert "columns: c2 from −2 to 2" in panel.border_title
        assert panel.render_line(0).text == first.text and list(panel.render_line(0)) != list(first)  # page 2
        panel.next_sweep()
        assert "columns: c1" in panel.border_title  # two codes: back to the first


@run_async
async def test_the_dashboard_keys_drive_the_panel_and_send_nothing():
    app, controller = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, controller, is_toy=False)
        controller.push(conditional_samples(sweeps=("c1 from −2 to 2", "c2 from −2 to 2"), columns=9,
                                            kind="code"))
        await pilot.pause()
        panel = app.query_one(SamplesPanel)
        await pilot.press("c")
        assert panel.one_class is True
        await pilot.press("v", "v")
        assert panel.selected == 2
        await pilot.press("w")
        assert panel.sweep == 1
        await pilot.pause()
        assert "c=2" in panel.border_title and "c2 from" in panel.border_title
        assert controller.sent == []  # display choices, not commands
