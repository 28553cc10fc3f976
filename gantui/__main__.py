"""``python -m gantui`` is the ``gantui`` command."""

import sys

from gantui.cli import main

sys.exit(main())
