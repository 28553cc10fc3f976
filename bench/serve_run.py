"""A headless run that serves itself, until the integration lands in gantui/headless.py: for trying
``gantui ls | attach | stop`` by hand and for end-to-end checks.

    python bench/serve_run.py --preset ring8 --steps 0 [--listen 127.0.0.1:7000] [--run-dir DIR]

It trains as ``gantui --headless`` does (the same Session and Runner), prints one line per few
seconds, and stops on Ctrl-C, SIGTERM or ``gantui stop`` with a final checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gantui.engine.losses import LOSSES
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.headless import metrics_line
from gantui.presets import list_presets, load_config
from gantui.protocol import Finished, MetricsBatch, Stop
from gantui.remote.server import RunServer


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="ring8")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--listen", default=None)
    p.add_argument("--run-dir", type=Path, default=None)
    p.add_argument("--set", action="append", default=[])
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    cfg = load_config(args.preset, [f"train.steps={args.steps}", *args.set])
    session = Session.create(cfg, run_dir=args.run_dir)
    runner = Runner(session, exit_when_done=args.steps > 0)
    server = RunServer(runner, run_dir=session.folder.path, preset=args.preset, listen=args.listen,
                       losses={n: loss.description for n, loss in LOSSES.items()},
                       presets=[pr.name for pr in list_presets()])
    server.start()
    where = session.folder.path
    print(f"serving {where} on {server.address}: gantui attach {where}", flush=True)
    events: queue.Queue = queue.Queue()

    def fan_out(event: object) -> None:
        events.put(event)
        server.publish(event)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.send(Stop(save=True)))
    runner.start(fan_out)
    last = 0
    while True:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if isinstance(event, MetricsBatch) and len(event.values) and event.rows()[-1]["step"] >= last + 2000:
            last = event.rows()[-1]["step"]
            print(metrics_line(event.rows()[-1]), flush=True)
        elif isinstance(event, Finished):
            print(f"finished at step {event.step} ({event.reason}); {event.checkpoint}", flush=True)
            break
    runner.join(60.0)
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
