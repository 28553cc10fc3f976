"""Regenerate docs/dashboard.svg: the real app on the default preset after SECONDS of training.

    python docs/screenshot.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import gantui.ui  # noqa: F401  (caps Textual's frame rate before Textual is imported)
from gantui.dashboard import build_app
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import load_config
from gantui.protocol import Stop


def main(seconds: float) -> None:
    session = Session.create(load_config("ring8", ["ui.colors=truecolor"]), write=False)
    runner = Runner(session, exit_when_done=False)
    app = build_app(session, runner)  # the CLI's own app, with the run's [ui] settings

    async def shoot() -> None:
        async with app.run_test(size=(150, 46)) as pilot:
            await asyncio.sleep(seconds)
            await pilot.press("space")
            await asyncio.sleep(1.0)
            app.refresh_plots()
            await pilot.pause()
            out = Path(__file__).with_name("dashboard.svg")
            app.save_screenshot(filename=out.name, path=str(out.parent))
            runner.send(Stop(save=False))

    asyncio.run(shoot())
    runner.join(30)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 40.0)
