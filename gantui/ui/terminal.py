"""Terminal output settings Textual reads from the environment: frame-rate cap and colour depth.

What Textual 8.2.8 does (read in its source):

- Frame rate: ``textual.constants.MAX_FPS`` = env ``TEXTUAL_FPS`` (default 60), read once when
  ``textual.constants`` is first imported; each screen's update timer runs at ``1 / MAX_FPS``. There
  is no App-level setting, so :func:`cap_frame_rate` puts ``TEXTUAL_FPS`` in the environment (unless
  the user set it) and ``gantui/ui/__init__.py`` calls it before anything imports Textual.
- Colour depth: the app's Rich ``Console`` is built with ``color_system = TEXTUAL_COLOR_SYSTEM``
  (default "auto": Rich looks at ``COLORTERM`` = truecolor/24bit, then ``TERM`` *256color*), and
  every frame is downgraded to ``console._color_system`` when it is written (``Strip.render`` /
  ``Color.downgrade``). SSH does not forward ``COLORTERM``, hence ``--colors``:
  :func:`set_output_color_system` sets that console's colour system, so ``--colors 256`` really
  writes 256-colour escape codes. Rich has no public setter, so this touches ``Console._color_system``.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["MAX_FPS", "cap_frame_rate", "set_output_color_system"]

# Plots redraw at most 5 times a second; 20 frames a second keeps typing and modals snappy while
# bounding the cost of bursts (a toast, a resize) for the trainer thread that shares the interpreter.
MAX_FPS = 20


def cap_frame_rate(environ: MutableMapping[str, str] = os.environ) -> None:
    """Ask Textual for at most :data:`MAX_FPS` frames a second, unless ``TEXTUAL_FPS`` is already set."""
    environ.setdefault("TEXTUAL_FPS", str(MAX_FPS))


def set_output_color_system(console: object, system: str) -> None:
    """Make Textual write ``system`` colours ("truecolor", "256" or "standard")."""
    from rich.console import COLOR_SYSTEMS

    console._color_system = COLOR_SYSTEMS[system]  # type: ignore[attr-defined]
