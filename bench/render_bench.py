"""Timings of the dashboard's render helpers (not a test): python bench/render_bench.py [--repeats N].

Prints the median and 90th percentile CPU time per call (process time, so other processes on a
busy machine do not count), with the garbage collector on, as in the app. Each image call gets a
fresh batch, as when a new ImageSamples event arrives, so Style caches help only where colours
repeat (greyscale, palettes). Targets: 64 images into 100x40 cells <= 15 ms; the toy view with
2 500 + 2 500 points <= 20 ms; any history window answered at screen resolution in a few ms at
10 million rows (``--history-only`` runs just that part).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from gantui.protocol import METRIC_NAMES, MetricsBatch, ToySamples
from gantui.ui.history import MetricsHistory
from gantui.ui.render import image_grid_strips, toy_strips
from gantui.ui.render.decimate import bin_columns, ema


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


def bench_history(rng: np.random.Generator, total: int = 10_000_000, batch: int = 10_000) -> None:
    """The multi-resolution history at ``total`` rows of every metric column: memory, ingest, and what
    each zoom window costs to answer at screen resolution (window + binning to 150 columns + EMA)."""
    columns = METRIC_NAMES
    history = MetricsHistory(capacity=1000)
    start = time.process_time()
    for b in range(total // batch):
        values = rng.random((batch, len(columns)))
        values[:, 0] = np.arange(b * batch, (b + 1) * batch)
        history.extend(MetricsBatch(columns=columns, values=values))
    seconds = time.process_time() - start
    print(f"MetricsHistory: {total:,} rows x {len(columns)} columns in batches of {batch:,}: "
          f"{seconds:.1f} s CPU ({1e6 * seconds / total:.2f} us/row); {history.buckets:,} buckets, "
          f"{history.nbytes / 2**20:.1f} MiB")
    small = MetricsHistory(capacity=1000)
    start = time.process_time()
    for step in range(20_000):  # the app's case: a few rows per batch
        small.extend(MetricsBatch(columns=columns, values=np.r_[step, rng.random(len(columns) - 1)][None, :]))
    print(f"  one row per batch: {1e6 * (time.process_time() - start) / 20_000:.0f} us/batch")
    last = total - 1
    print("  window (steps)                 buckets  window+bin+EMA ms (median of 20)")
    for label, lo, hi in (("last 1k", last - 1_000, last), ("last 10k", last - 10_000, last),
                          ("last 100k", last - 100_000, last), ("whole run", 0, last),
                          ("1k, 5k back", last - 6_000, last - 5_000),
                          ("10k, 100k back", last - 110_000, last - 100_000),
                          ("100k at the middle", total // 2, total // 2 + 100_000)):
        w = history.window("loss_g", lo, hi)

        def answer(lo=lo, hi=hi) -> None:
            w = history.window("loss_g", lo, hi)
            b = bin_columns(w.x, w.low, w.high, w.sums, w.counts, lo, hi, 150)
            ema(b.sums, b.counts, 0.9)

        median, _ = timed([answer] * 20)
        print(f"  {label:<28}{len(w.x):>9,}  {median:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--history-only", action="store_true")
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if not args.history_only:
        bench_images(rng, args.repeats)
        bench_toy(rng, args.repeats)
    bench_history(rng, args.rows)


if __name__ == "__main__":
    main()
