"""Generated samples: an image grid from the fixed noise batch, or 2-D points over D's surface.

Line API: the strips are built once per (samples event, size, real on/off) and cached, so a
repaint for any other reason (a key press, a notification) costs nothing.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from gantui.protocol import ImageSamples, ToySamples
from gantui.ui.render import image_grid_strips, legible_count, toy_legend, toy_strips
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

    def _update_title(self) -> None:
        s = self.samples
        if s is None:
            self.border_title = "samples"
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
        shown, half = self._grid(width, height)
        fake = image_grid_strips(s.fake[:shown], width=half, height=height, color_system=self.color_system)
        if half == width:  # no real batch beside it
            return fake
        real = image_grid_strips(s.real[:shown], width=half, height=height, color_system=self.color_system)
        gap = Strip.blank(_GAP, _PLAIN)
        rows = max(len(fake), len(real))
        fake += [Strip.blank(half, _PLAIN)] * (rows - len(fake))
        real += [Strip.blank(half, _PLAIN)] * (rows - len(real))
        return [Strip.join([f.crop_extend(0, half, _PLAIN), gap, r]) for f, r in zip(fake, real, strict=True)]
