"""The plain-data protocol between the trainer and whatever watches it.

Commands go from a controller (the dashboard, the headless CLI, a test) to the runner's queue;
events come back through one sink callable. Both are frozen dataclasses of numbers, strings and
read-only numpy arrays, with no torch or Textual in them, so that the same messages could later
cross a process or a network boundary.
"""

from gantui.protocol.commands import *  # noqa: F403
from gantui.protocol.commands import __all__ as _commands
from gantui.protocol.events import *  # noqa: F403
from gantui.protocol.events import __all__ as _events

__all__ = [*_commands, *_events]
