"""The Textual dashboard. Nothing here imports torch: it sees only ``gantui.protocol`` data.

Importing this package caps Textual's frame rate (see :mod:`gantui.ui.terminal`); it must therefore
be imported before Textual itself, which the CLI does by importing ``gantui.ui.app`` first.
"""

from gantui.ui.terminal import cap_frame_rate

cap_frame_rate()
