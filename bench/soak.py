"""Bounded memory: long runs keep RSS flat, headless and with the dashboard, and so does a dashboard
fed ten million rows.

    python bench/soak.py [--seconds 60] [--rows 10000000]

Part 1 trains ring8 headless on the runner's thread and samples the process RSS every few seconds.
Part 2 trains ring8 with the real app live (rendered headless, probes every 200 iterations so that
every kind of read-out runs often) and samples RSS the same way. Before the good-state copy moved
under ``no_grad`` this part grew by about 0.5 MiB/s.
Part 3 feeds the real app synthetic MetricsBatch events, 10 000 rows each, and prints RSS and the
time of a full plot redraw as the row count grows.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import load_config
from gantui.protocol import METRIC_NAMES, MetricsBatch, Stop, frozen_array


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def headless_soak(seconds: float) -> None:
    cfg = load_config("ring8", ["log.png_every=0", "log.checkpoint_every=0", "log.probe_every=0"])
    session = Session.create(cfg, write=False)
    runner = Runner(session, exit_when_done=False)
    runner.start(lambda event: None)
    print("headless ring8: seconds  steps  RSS MiB")
    start = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - start) < seconds:
        time.sleep(min(5.0, seconds / 6))
        samples.append(rss_mib())
        print(f"{elapsed:8.0f} {runner.trainer.step:>8} {samples[-1]:8.1f}", flush=True)
    runner.send(Stop(save=False))
    runner.join(30)
    half = len(samples) // 2
    print(f"RSS growth over the second half: {samples[-1] - samples[half]:+.1f} MiB")


def dashboard_soak(seconds: float) -> None:
    from gantui.dashboard import build_app

    cfg = load_config("ring8", ["log.png_every=0", "log.checkpoint_every=0", "log.probe_every=200"])
    session = Session.create(cfg, write=False)
    runner = Runner(session, exit_when_done=False)
    app = build_app(session, runner)

    async def watch() -> None:
        async with app.run_test(size=(160, 48)):
            print("dashboard ring8: seconds  steps  RSS MiB")
            start, samples = time.monotonic(), []
            while (elapsed := time.monotonic() - start) < seconds:
                await asyncio.sleep(min(5.0, seconds / 6))
                samples.append(rss_mib())
                print(f"{elapsed:8.0f} {runner.trainer.step:>8} {samples[-1]:8.1f}", flush=True)
            runner.send(Stop(save=False))
            half = len(samples) // 2
            print(f"RSS growth over the second half: {samples[-1] - samples[half]:+.1f} MiB")

    asyncio.run(watch())
    runner.join(30)


class _NullController:
    quit_detaches = False
    can_detach = False

    def detach(self) -> None:
        pass

    def start(self, sink) -> None:
        self.sink = sink

    def send(self, command) -> None:
        pass

    def join(self, timeout: float) -> bool:
        return True


def dashboard_feed(total_rows: int, batch_rows: int = 10_000) -> None:
    from gantui.ui.app import GanApp

    app = GanApp(_NullController(), losses={"nonsaturating": "non-saturating"})
    rng = np.random.default_rng(0)

    async def feed() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            print("dashboard:      rows   RSS MiB  redraw ms")
            step = 0
            report_every = max(1, total_rows // batch_rows // 8)
            for i in range(total_rows // batch_rows):
                values = rng.random((batch_rows, len(METRIC_NAMES)))
                values[:, 0] = np.arange(step, step + batch_rows)
                step += batch_rows
                app.sink(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(values)))
                await pilot.pause()
                if i % report_every == 0 or i == total_rows // batch_rows - 1:
                    t0 = time.perf_counter()
                    app._drawn = None  # force a full redraw of every plot
                    app.refresh_plots()
                    await pilot.pause()
                    ms = (time.perf_counter() - t0) * 1000
                    print(f"{step:>16,} {rss_mib():9.1f} {ms:10.1f}", flush=True)

    asyncio.run(feed())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    headless_soak(args.seconds)
    dashboard_soak(args.seconds)
    dashboard_feed(args.rows)


if __name__ == "__main__":
    main()
