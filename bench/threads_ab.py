"""Intra-op threads on the CPU: the plain loop against gantui headless on 1 and on all cores.

Each run is a fresh process and the three alternate, so intermittent load from other work hits them
alike; the table shows every run (the load average beside it) and the best of each. On a two-core
machine shared with other busy processes, two intra-op threads can run twenty times slower than one
(OpenMP's barriers wait for a thread the scheduler has parked), for the plain loop as for gantui.

    python bench/threads_ab.py --cases mnist-mlp --k 1 --runs 5 --seconds 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, pathlib, torch
sys.path.insert(0, "bench")
import bench
from gantui.engine.device import configure_threads
mode, case, k, seconds = sys.argv[1], bench.CASES[sys.argv[2]], int(sys.argv[3]), float(sys.argv[4])
cores = __import__("os").cpu_count() or 1
if mode == "plain":
    torch.set_num_threads(cores)
    rate = bench.plain_loop(bench.config(case, k, "cpu", cores), seconds)
else:
    threads = 1 if mode == "headless-1" else cores
    cfg = bench.config(case, k, "cpu", threads)
    with tempfile.TemporaryDirectory() as tmp:
        session = bench.Session.create(cfg, run_dir=pathlib.Path(tmp) / "run", write=True)
        configure_threads(threads)
        runner = bench.Runner(session, exit_when_done=False)
        runner.start(lambda event: None)
        try:
            rate = bench.runner_rate(runner, seconds)
        finally:
            runner.send(bench.Stop(save=False))
            runner.join(60)
print(json.dumps({"rate": rate}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="mnist-mlp")
    parser.add_argument("--k", default="1")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    modes = ("plain", "headless-1", "headless-all")
    for case in args.cases.split(","):
        for k in args.k.split(","):
            rates: dict[str, list[float]] = {m: [] for m in modes}
            for i in range(args.runs):
                for mode in modes:
                    done = subprocess.run([sys.executable, "-c", CHILD, mode, case, k, str(args.seconds)],
                                          capture_output=True, text=True, env=env, cwd=root, check=False)
                    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                    rates[mode].append(json.loads(lines[-1])["rate"] if lines else float("nan"))
                load = os.getloadavg()[0]
                print(f"{case} k={k} run {i + 1}: " + "  ".join(f"{m} {rates[m][-1]:7.1f}" for m in modes)
                      + f"   load {load:.2f}", flush=True)
            best = {m: max(v) for m, v in rates.items()}
            print(f"{case} k={k} best: " + "  ".join(f"{m} {best[m]:.1f} ({best[m] / best['plain']:.2f}x)"
                                                     for m in modes), flush=True)


if __name__ == "__main__":
    main()
