"""The settings as the trainer applied them, and the 2-D read-outs (modes, high quality, JSDs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from gantui.protocol import RunState

__all__ = ["ControlsPanel", "ToyReadout"]


@dataclass(frozen=True)
class ToyReadout:
    """The latest 2-D metrics; NaN where the trainer has not measured one yet. ``hq`` is a fraction."""

    modes: float = math.nan
    n_modes: int = 0
    hq: float = math.nan
    jsd_true: float = math.nan
    jsd_probe: float = math.nan


def _num(v: float, fmt: str) -> str:
    return format(v, fmt) if math.isfinite(v) else "–"


def _lr(lr: float, frozen: bool) -> Text:
    return Text("frozen", style="bold red") if frozen else Text(f"{lr:.3g}")


class ControlsPanel(Static):
    """Redrawn only when the reported state or a 2-D read-out changed.

    Its height is set from the rows it shows rather than ``auto``: an auto-height widget is rendered
    again to be measured at every layout pass of the screen, and the dashboard has many.
    """

    DEFAULT_CSS = """
    ControlsPanel { height: auto; padding: 0 1; border: round $primary-darken-2; border-title-color: $text; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "controls"
        self._shown: tuple[RunState | None, ToyReadout | None] | None = None
        self._height = 0

    def show(self, state: RunState | None, toy: ToyReadout | None = None) -> None:
        """Show ``state`` (and ``toy`` on 2-D data); a no-op when nothing changed."""
        if state is not None and not state.is_toy:
            toy = None
        if self._shown == (state, toy):
            return
        self._shown = (state, toy)
        if state is None:
            self._show(Text("waiting for the trainer…", style="dim"), rows=1)
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True, min_width=5)
        table.add_column(no_wrap=True, overflow="ellipsis")
        table.add_row("k", Text(str(state.k)))
        table.add_row("loss", Text(state.loss, style="bold"))
        table.add_row("", Text(state.loss_description, style="dim"))
        lrs = Text.assemble("D ", _lr(state.lr_d, state.frozen_d), "  G ", _lr(state.lr_g, state.frozen_g))
        table.add_row("lr", lrs)
        if toy is not None:
            modes = _num(toy.modes, ".0f") + (f"/{toy.n_modes}" if toy.n_modes else "")
            table.add_row("modes", Text(f"{modes}   hq {_num(toy.hq * 100, '.1f')} %"))
            jsd = f"true {_num(toy.jsd_true, '.4f')}  probe {_num(toy.jsd_probe, '.4f')}"
            table.add_row("JSD", Text(jsd))
        self._show(table, rows=table.row_count)

    def _show(self, content: Text | Table, *, rows: int) -> None:
        height = rows + 2  # the round border's top and bottom lines
        if height != self._height:
            self._height = height
            self.styles.height = height  # a layout pass only when the row count changes
            self.update(content)
        else:
            self.update(content, layout=False)
