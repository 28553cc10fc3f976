"""The settings as the trainer applied them, and the 2-D read-outs (modes, high quality, JSDs).

Read-outs come at different cadences (the true JSD every ``log.toy_metrics_every`` iterations, the
probe every ``log.probe_every`` or on request): a number measured before the newest metric row says
the step it was measured at, so a probe from step 12 000 beside a true JSD from 12 500 reads as two
measurements of two states, not as a lower bound above the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from gantui.protocol import RunState
from gantui.text import printable

__all__ = ["ControlsPanel", "Measured", "ToyReadout"]


@dataclass(frozen=True)
class Measured:
    """A read-out and the step it was measured at (NaN: not measured yet)."""

    value: float = math.nan
    step: float = math.nan


@dataclass(frozen=True)
class ToyReadout:
    """The latest 2-D metrics and the newest row's step. ``hq`` is a fraction."""

    current: float = math.nan
    n_modes: int = 0
    modes: Measured = field(default_factory=Measured)
    hq: Measured = field(default_factory=Measured)
    jsd_true: Measured = field(default_factory=Measured)
    jsd_probe: Measured = field(default_factory=Measured)


def _num(v: float, fmt: str) -> str:
    return format(v, fmt) if math.isfinite(v) else "–"


def _lr(lr: float, frozen: bool) -> Text:
    return Text("frozen", style="bold red") if frozen else Text(f"{lr:.3g}")


def _measured(m: Measured, fmt: str, current: float, *, scale: float = 1.0, unit: str = "") -> Text:
    """The value, and ``@step`` when it was measured before the newest row."""
    text = Text(_num(m.value * scale, fmt) + (unit if math.isfinite(m.value) else ""))
    if math.isfinite(m.value) and math.isfinite(m.step) and m.step != current:
        text.append(f" @{m.step:,.0f}", style="dim")
    return text


def _shown_key(toy: ToyReadout | None) -> tuple[object, ...] | None:
    """What the panel draws of ``toy``: each value, its step, and whether that step is the newest."""
    if toy is None:
        return None
    def number(v: float) -> float | None:  # NaN != NaN: a key holding one would never match itself
        return v if math.isfinite(v) else None

    return (toy.n_modes, *((number(m.value), number(m.step), m.step == toy.current)
                           for m in (toy.modes, toy.hq, toy.jsd_true, toy.jsd_probe)))


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
        self._shown: tuple[object, ...] | None = None
        self._height = 0

    def show(self, state: RunState | None, toy: ToyReadout | None = None) -> None:
        """Show ``state`` (and ``toy`` on 2-D data); a no-op when nothing changed."""
        if state is not None and not state.is_toy:
            toy = None
        key = (state, _shown_key(toy))  # the newest step moves with every row: only what is drawn counts
        if self._shown == key:
            return
        self._shown = key
        if state is None:
            self._show(Text("waiting for the trainer…", style="dim"), rows=1)
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True, min_width=5)
        table.add_column(no_wrap=True, overflow="ellipsis")
        table.add_row("k", Text(str(state.k)))
        table.add_row("loss", Text(printable(state.loss), style="bold"))
        table.add_row("", Text(printable(state.loss_description), style="dim"))
        lrs = Text.assemble("D ", _lr(state.lr_d, state.frozen_d), "  G ", _lr(state.lr_g, state.frozen_g))
        table.add_row("lr", lrs)
        if toy is not None:
            of = f"/{toy.n_modes}" if toy.n_modes else ""
            table.add_row("modes", Text.assemble(_measured(toy.modes, ".0f", toy.current, unit=of), "   hq ",
                                                 _measured(toy.hq, ".1f", toy.current, scale=100, unit=" %")))
            table.add_row("JSD", Text.assemble("true ", _measured(toy.jsd_true, ".4f", toy.current),
                                               "  probe ", _measured(toy.jsd_probe, ".4f", toy.current)))
        self._show(table, rows=table.row_count)

    def _show(self, content: Text | Table, *, rows: int) -> None:
        height = rows + 2  # the round border's top and bottom lines
        if height != self._height:
            self._height = height
            self.styles.height = height  # a layout pass only when the row count changes
            self.update(content)
        else:
            self.update(content, layout=False)
