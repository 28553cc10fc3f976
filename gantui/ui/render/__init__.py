"""Pure drawing helpers for the dashboard: numpy in, Rich/Textual strips out, no widgets.

Kept apart from the widgets so that they can be tested and timed without an App.
"""

from gantui.ui.render.colors import resolve_color_system
from gantui.ui.render.decimate import decimate, envelope_series
from gantui.ui.render.halfblock import (
    image_grid_strips,
    image_strips,
    labelled_grid_strips,
    legible_count,
    legible_grid,
)
from gantui.ui.render.toy import toy_legend, toy_strips

__all__ = [
    "decimate", "envelope_series", "image_grid_strips", "image_strips", "labelled_grid_strips",
    "legible_count", "legible_grid",
    "resolve_color_system",
    "toy_legend", "toy_strips",
]
