"""Generated samples: an image grid from the fixed noise batch, or 2-D points over D's surface.

Line API: the strips are built once per (samples event, size, real on/off) and cached, so a
repaint for any other reason (a key press, a notification) costs nothing.

A conditional run's grid has one class (InfoGAN: one categorical code value) per row, its name at
the row's start; :meth:`SamplesPanel.toggle_one_class` shows the selected class alone,
:meth:`SamplesPanel.next_class` selects the next one (and scrolls the rows when not all fit), and
:meth:`SamplesPanel.next_sweep` picks which continuous code InfoGAN's columns sweep. The caption
under the grid gives the run's conditional read-outs (label accuracy, the MI bound).
"""

from __future__ import annotations

import math

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from gantui.protocol import ImageSamples, ToySamples
from gantui.ui.render import image_grid_strips, labelled_grid_strips, legible_count, toy_legend, toy_strips
from gantui.ui.render.condition_view import (
    BLOCK_GAP,
    MIN_BLOCK_COLUMNS,
    MIN_SWEEP_COLUMNS,
    Arrangement,
    ConditionView,
    arrange,
    caption,
    condition_view,
    grid_rows,
    is_conditional,
    row_names_width,
)
from gantui.ui.render.toy import surface_levels

__all__ = ["SamplesPanel"]

_GAP = 2  # columns between the generated and the real grid
_PLAIN = Style()  # explicit, never None: Textual's NO_COLOR filter reads every segment's style
_FULL_LEGEND_HEIGHT = 14  # rows below which a 2-D plot keeps only the legend's first line


class SamplesPanel(Widget, can_focus=True):
    """Shows the latest samples event; ``show_real`` adds real data (images beside, toys overlaid)."""

    DEFAULT_CSS = """
    SamplesPanel { border: round $primary-darken-2; height: 1fr; }
    SamplesPanel:focus { border: round $accent; }
    """

    def __init__(self, *, color_system: str = "truecolor", **kwargs) -> None:
        super().__init__(**kwargs)
        self.color_system = color_system
        self.samples: ImageSamples | ToySamples | None = None
        self._real: bool | None = None  # None: the default for the kind of data (see real_shown)
        self._strips: list[Strip] = []
        self._key: tuple[object, ...] | None = None
        self.one_class = False  # a conditional grid: the selected class alone
        self.selected = 0  # the selected class (row) of a conditional grid
        self.sweep = 0  # InfoGAN: which continuous code the columns sweep (a page of the grid)
        self.border_title = "samples"

    def show(self, samples: ImageSamples | ToySamples) -> None:
        """Take a new samples event; the strips are rebuilt on the next paint."""
        self.samples = samples
        self._update_title()
        self.refresh()

    @property
    def real_shown(self) -> bool:
        """Toys show real points unless turned off; image grids show the real batch only on request."""
        if self._real is None:
            return isinstance(self.samples, ToySamples)
        return self._real

    def toggle_real(self) -> bool:
        """Real samples on/off; returns the new setting."""
        self._real = not self.real_shown
        self._update_title()
        self.refresh()
        return self._real

    def toggle_one_class(self) -> bool:
        """A conditional grid: the selected class alone, or every class; returns the new setting."""
        self.one_class = not self.one_class
        self._changed()
        return self.one_class

    def next_class(self) -> int:
        """Select the next class (row) of a conditional grid; returns its row index."""
        s = self.samples
        rows = len(s.label_names) if is_conditional(s) else 1  # type: ignore[union-attr]
        self.selected = (self.selected + 1) % max(rows, 1)
        self._changed()
        return self.selected

    def next_sweep(self) -> int:
        """InfoGAN: sweep the next continuous code along the columns; returns its index."""
        s = self.samples
        pages = len(s.sweeps) if isinstance(s, ImageSamples) else 0
        self.sweep = (self.sweep + 1) % max(pages, 1)
        self._changed()
        return self.sweep

    def _changed(self) -> None:
        self._key = None
        self._update_title()
        self.refresh()

    def _update_title(self) -> None:
        s = self.samples
        self.border_subtitle = caption(s) if isinstance(s, ImageSamples) else ""
        if s is None:
            self.border_title = "samples"
        elif is_conditional(s):
            what = "generated │ real" if self.real_shown else "generated"
            view = self._condition_view(*self.size)
            shown = f" · {view.title}" if view is not None else ""
            self.border_title = f"{what}{shown} · step {s.step:,}"
        elif isinstance(s, ImageSamples):
            what = "generated │ real" if self.real_shown else "generated"
            shown, n = self._grid(*self.size)[0], len(s.fake)
            count = f" {shown}/{n}" if 0 < shown < n else ""  # before the step, which the header shows anyway
            self.border_title = f"{what}{count} · step {s.step:,}"
        else:
            what = "critic's score v" if s.surface == "score" else "D(x)"
            self.border_title = f"2-D samples over {what} · step {s.step:,}"

    def on_resize(self) -> None:
        self._update_title()  # how many images fit depends on the size

    def _grid(self, width: int, height: int) -> tuple[int, int]:
        """(images shown, width of one grid) for the image samples in ``width`` x ``height`` cells."""
        s = self.samples
        if not isinstance(s, ImageSamples) or width < 4 or height < 2:
            return 0, width
        half = (width - _GAP) // 2 if self.real_shown and s.real.size > 0 else width
        n, img_h, img_w, _ = s.fake.shape
        return legible_count(n, img_h, img_w, half, height), half

    def _halves(self, width: int) -> int:
        s = self.samples
        shown = self.real_shown and isinstance(s, ImageSamples) and s.real.size > 0
        return (width - _GAP) // 2 if shown else width

    def _arrangement(self, width: int, height: int) -> Arrangement | None:
        s = self.samples
        if not is_conditional(s) or width < 4 or height < 2:
            return None
        assert isinstance(s, ImageSamples)
        _, img_h, img_w, _ = s.fake.shape
        least = MIN_SWEEP_COLUMNS if s.sweeps else MIN_BLOCK_COLUMNS
        return arrange(grid_rows(s), s.columns, img_h, img_w, self._halves(width), height,
                       margin=row_names_width(s), min_columns=least)

    def _condition_view(self, width: int, height: int) -> ConditionView | None:
        """What of a conditional grid fits in ``width`` x ``height`` cells (None when nothing does)."""
        layout = self._arrangement(width, height)
        if layout is None:
            return None
        assert isinstance(self.samples, ImageSamples)
        return condition_view(self.samples, one_class=self.one_class, selected=self.selected,
                              sweep=self.sweep, rows_fit=layout.visible, columns_fit=layout.columns)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (id(self.samples), self.real_shown, width, height)
        if key != self._key:
            self._strips = self._build(width, height)
            self._key = key
        if y < len(self._strips):
            return self._strips[y].crop_extend(0, width, _PLAIN)
        return Strip.blank(width, _PLAIN)

    def _build(self, width: int, height: int) -> list[Strip]:
        s = self.samples
        if s is None or width < 4 or height < 2:
            return [Strip([Segment("waiting for samples…", Style(dim=True))])] if s is None else []
        if isinstance(s, ToySamples):
            console = self.app.console
            legend = [Strip(line.render(console)) for line in toy_legend(width, surface_levels(s)[1])]
            if height < _FULL_LEGEND_HEIGHT:  # compact: the plot matters more than the key to it
                legend = legend[:1]
            body = toy_strips(s, width=width, height=max(height - len(legend), 1),
                              color_system=self.color_system, show_real=self.real_shown)
            return [*body, *legend]
        if is_conditional(s):
            fake, real_strips = self._build_condition(width, height)
            if real_strips is None:
                return fake
            return self._beside(fake, real_strips, self._halves(width))
        shown, half = self._grid(width, height)
        fake = image_grid_strips(s.fake[:shown], width=half, height=height, color_system=self.color_system)
        if half == width:  # no real batch beside it
            return fake
        real = image_grid_strips(s.real[:shown], width=half, height=height, color_system=self.color_system)
        return self._beside(fake, real, half)

    def _build_condition(self, width: int, height: int) -> tuple[list[Strip], list[Strip] | None]:
        """(generated, real or None) strips of a conditional grid: names at the rows' start, or the
        selected class alone as large as fits."""
        s = self.samples
        assert isinstance(s, ImageSamples)
        view = self._condition_view(width, height)
        half = self._halves(width)
        if view is None:
            return [], None
        colours = self.color_system
        if self.one_class:  # one row's images, laid out freely and as large as they fit
            _, img_h, img_w, _ = view.fake.shape
            n = legible_count(len(view.fake), img_h, img_w, half, height)
            fake = image_grid_strips(view.fake[:n], width=half, height=height, color_system=colours)
            if half == width:
                return fake, None
            real = view.real if len(view.real) else s.real[:n]
            return fake, image_grid_strips(real[:n], width=half, height=height, color_system=colours)
        layout = self._arrangement(width, height)
        assert layout is not None
        fake = self._blocks(view.fake, view.names, view.columns, layout, half, height)
        if half == width:
            return fake, None
        if len(view.real):  # the same classes' real images, in the same rows
            real = self._blocks(view.real, [""] * len(view.rows), view.columns, layout, half, height)
        else:
            _, img_h, img_w, _ = s.real.shape
            n = legible_count(len(s.real), img_h, img_w, half, height)
            real = image_grid_strips(s.real[:n], width=half, height=height, color_system=colours)
        return fake, real

    def _blocks(self, images, names: list[str], columns: int, layout: Arrangement, width: int,
                height: int) -> list[Strip]:
        """The rows in ``layout.blocks`` labelled grids side by side, ``layout.rows`` rows each."""
        per = layout.rows
        block_width = (width - BLOCK_GAP * (layout.blocks - 1)) // layout.blocks
        blocks = []
        for b in range(math.ceil(len(names) / per)):
            rows = names[b * per:(b + 1) * per]
            block = images[b * per * columns:(b * per + len(rows)) * columns]
            blocks.append(labelled_grid_strips(block, columns=columns, row_names=rows, width=block_width,
                                               height=height, color_system=self.color_system))
        if len(blocks) == 1:
            return blocks[0]
        gap = Strip.blank(BLOCK_GAP, _PLAIN)
        lines = []
        for y in range(height):
            parts = [blocks[0][y]]
            for block in blocks[1:]:
                parts += [gap, block[y]]
            lines.append(Strip.join(parts))
        return lines

    def _beside(self, fake: list[Strip], real: list[Strip], half: int) -> list[Strip]:
        gap = Strip.blank(_GAP, _PLAIN)
        rows = max(len(fake), len(real))
        fake += [Strip.blank(half, _PLAIN)] * (rows - len(fake))
        real += [Strip.blank(half, _PLAIN)] * (rows - len(real))
        return [Strip.join([f.crop_extend(0, half, _PLAIN), gap, r]) for f, r in zip(fake, real, strict=True)]
