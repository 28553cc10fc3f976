"""Marker labels on a plot: group markers that share a column, and place their labels without overlap.

Each marker is a vertical line in its kind's colour with a short label (``7 k 3``, ``12 hinge``): the
number is the one its event-log line starts with, so a line on the plot and a line in the log match at
a glance. Markers in the same screen column merge into one line labelled with their numbers and count
(``7–11 (5)``). Labels go in the canvas's top rows, left of their line when there is no room on its
right, never over another label or the legend; a label with no room at all shrinks to its numbers, and
failing that is left off (the line is still drawn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from gantui.text import printable
from gantui.ui.markers import Marker

__all__ = ["KIND_COLORS", "LABEL_MAX", "MarkerGroup", "Placed", "group_markers", "kind_color", "place_labels"]

LABEL_MAX = 14  # characters of a marker's own label
_GAP = 1  # free columns between two labels on one row

# One colour per kind of marker, shared by the plots and the event log.
KIND_COLORS: dict[str, tuple[int, int, int]] = {
    "loss": (230, 120, 230),
    "k": (90, 200, 230),
    "lr_d": (120, 150, 255),
    "lr_g": (120, 150, 255),
    "freeze": (230, 230, 230),
    "pause": (150, 150, 150),
    "resume": (150, 150, 150),
    "probe": (120, 220, 120),
    "checkpoint": (150, 150, 150),
    "rollback": (255, 90, 90),
    "failure": (255, 60, 60),
    "alert": (255, 170, 40),
}
_OTHER = (230, 210, 90)


def kind_color(kind: str) -> tuple[int, int, int]:
    return KIND_COLORS.get(kind, _OTHER)


class MarkerGroup(NamedTuple):
    """Markers drawn as one line: their step (the first's), canvas column and the markers themselves."""

    step: int
    column: int
    markers: tuple[Marker, ...]

    @property
    def kind(self) -> str:
        kinds = {m.kind for m in self.markers}
        return "alert" if "alert" in kinds else self.markers[0].kind if len(kinds) == 1 else "other"

    def texts(self) -> tuple[str, str]:
        """(full label, short label): ``7 k 3`` / ``7``, or ``7–11 lr_d ×2 (5)`` / ``7–11``."""
        first, last = self.markers[0], self.markers[-1]
        label = printable(first.label)
        if len(label) > LABEL_MAX:
            label = label[: LABEL_MAX - 1] + "…"
        if len(self.markers) == 1:
            return f"{first.number} {label}", str(first.number)
        numbers = f"{first.number}–{last.number}"
        same = all(m.label == first.label for m in self.markers)
        count = f"({len(self.markers)})"
        return (f"{numbers} {label} {count}" if same else f"{numbers} {count}", numbers)


class Placed(NamedTuple):
    """A label's place: the step it is anchored at, its row from the top, alignment and text."""

    step: int
    row: int
    align: str  # "left": starts at the line; "right": ends at it
    text: str
    color: tuple[int, int, int]


def column_of(step: float, lo: float, hi: float, width: int) -> int:
    """The canvas column plotext draws ``step`` in (its own rounding: see plotext's get_matrix_data)."""
    if hi <= lo:
        return 0
    return int((0.5 + (width - 1) * (step - lo) / (hi - lo)) // 1)


def group_markers(markers: Sequence[Marker], lo: float, hi: float, width: int) -> list[MarkerGroup]:
    """Markers inside ``lo..hi`` (ordered by step) grouped by the canvas column they fall in."""
    groups: list[MarkerGroup] = []
    for marker in sorted(markers, key=lambda m: (m.step, m.number)):
        column = column_of(marker.step, lo, hi, width)
        if groups and groups[-1].column == column:
            last = groups[-1]
            groups[-1] = last._replace(markers=(*last.markers, marker))
        else:
            groups.append(MarkerGroup(marker.step, column, (marker,)))
    return groups


def place_labels(groups: Sequence[MarkerGroup], width: int, rows: int,
                 blocked: Sequence[tuple[int, int, int]] = ()) -> list[Placed]:
    """Place each group's label in one of the top ``rows`` rows of a ``width``-column canvas.

    ``blocked`` lists (row, first column, last column) taken already (the legend). Alerts are placed
    first (the doctor's findings), then the newest markers: they are the ones a user just made.
    """
    taken: list[list[tuple[int, int]]] = [[] for _ in range(rows)]
    for row, a, b in blocked:
        if 0 <= row < rows:
            taken[row].append((a, b))

    def free(row: int, a: int, b: int) -> bool:
        return a >= 0 and b < width and all(b + _GAP < x or a - _GAP > y for x, y in taken[row])

    placed: list[Placed] = []
    for group in sorted(groups, key=lambda g: (g.kind != "alert", -g.step)):
        color = kind_color(group.kind)
        done = False
        for text in group.texts():
            for row in range(rows):
                for align, a in (("left", group.column), ("right", group.column - len(text) + 1)):
                    if free(row, a, a + len(text) - 1):
                        taken[row].append((a, a + len(text) - 1))
                        placed.append(Placed(group.step, row, align, text, color))
                        done = True
                        break
                if done:
                    break
            if done:
                break
    return placed
