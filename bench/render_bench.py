"""Timings of the dashboard's render helpers (not a test): python bench/render_bench.py [--repeats N].

Prints the median and 90th percentile CPU time per call (process time, so other processes on a
busy machine do not count), with the garbage collector on, as in the app. Each image call gets a
fresh batch, as when a new ImageSamples event arrives, so Style caches help only where colours
repeat (greyscale, palettes). Targets: 64 images into 100x40 cells <= 15 ms; the toy view with
2 500 + 2 500 points <= 20 ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from gantui.protocol import MetricsBatch, ToySamples
from gantui.ui.history import MetricsHistory
from gantui.ui.render import decimate, envelope_series, image_grid_strips, toy_strips


def timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    """(median, p90) CPU milliseconds over ``calls``."""
    times = []
    for call in calls:
        start = time.process_time()
        call()
        times.append(1000 * (time.process_time() - start))
    return float(np.median(times)), float(np.percentile(times, 90))


def smooth_images(rng: np.random.Generator, n: int, size: int, channels: int) -> np.ndarray:
    """Blurry blobs: closer to real samples than noise (neighbouring pixels alike)."""
    coarse = rng.integers(0, 256, (n, size // 4, size // 4, channels)).astype(np.float32)
    big = coarse.repeat(4, axis=1).repeat(4, axis=2)
    big = (big + np.roll(big, 2, axis=1) + np.roll(big, 2, axis=2)) / 3
    return big.astype(np.uint8)


def bench_images(rng: np.random.Generator, repeats: int) -> None:
    print("image_grid_strips: 64 images into 100x40 cells (CPU ms, median / p90)")
    for label, size, channels in (("28x28 grey", 28, 1), ("32x32 RGB", 32, 3)):
        for kind in ("noise", "smooth"):
            for system in ("truecolor", "256", "standard"):
                batches = [
                    rng.integers(0, 256, (64, size, size, channels), dtype=np.uint8) if kind == "noise"
                    else smooth_images(rng, 64, size, channels)
                    for _ in range(repeats)
                ]
                calls = [lambda b=b, s=system: image_grid_strips(b, width=100, height=40, color_system=s)
                         for b in batches]
                median, p90 = timed(calls)
                print(f"  {label:10} {kind:6} {system:9}  {median:6.2f} / {p90:6.2f}")


def bench_toy(rng: np.random.Generator, repeats: int) -> None:
    grid = np.linspace(-3, 3, 128)
    surface = (1 / (1 + np.exp(-(grid[None, :] + grid[:, None])))).astype(np.float32)
    print("toy_strips: 2 500 real + 2 500 generated points over a 128x128 surface into 100x40 (CPU ms)")
    for system in ("truecolor", "256", "standard"):
        calls = []
        for _ in range(repeats):
            samples = ToySamples(step=0, real=rng.normal(size=(2500, 2)).astype(np.float32),
                                 fake=rng.normal(size=(2500, 2)).astype(np.float32), d_surface=surface,
                                 extent=(-3.0, 3.0, -3.0, 3.0), modes=np.zeros((0, 2), np.float32))
            calls.append(lambda s=samples, c=system: toy_strips(s, width=100, height=40, color_system=c))
        median, p90 = timed(calls)
        print(f"  {system:9}  {median:6.2f} / {p90:6.2f}")


def bench_history(rng: np.random.Generator) -> None:
    rows, batches = 1000, 10_000
    values = np.empty((rows, 4))
    values[:, 1:3] = rng.random((rows, 2))
    values[:, 3] = np.nan
    history = MetricsHistory(capacity=2000)
    start = time.process_time()
    for b in range(batches):
        values[:, 0] = np.arange(b * rows, (b + 1) * rows)
        history.extend(MetricsBatch(columns=("step", "loss_d", "loss_g", "jsd_probe"), values=values.copy()))
    seconds = time.process_time() - start
    print(f"MetricsHistory: {rows * batches:,} rows in batches of {rows}: {seconds:.2f} s CPU "
          f"({history.buckets} buckets of {history.span} rows)")
    step, low, high = history.series("loss_g")
    median, _ = timed([lambda: envelope_series(*decimate(step, low, high, 100))] * 20)
    print(f"series + decimate to 100 columns + envelope: {median:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bench_images(rng, args.repeats)
    bench_toy(rng, args.repeats)
    bench_history(rng)


if __name__ == "__main__":
    main()
