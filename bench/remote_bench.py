"""Serving a run to viewers: what it costs the trainer and what a viewer gets.

    python bench/remote_bench.py throughput   # it/s of a headless ring8 run with 0, 1 and 3 viewers
    python bench/remote_bench.py attach       # attach to first complete frame with a 1M-row history
    python bench/remote_bench.py latency      # a viewer's command to the runner's answer, round trip

``throughput`` runs the real runner (Session + Runner, the default ring8 preset, no step limit) with
a RunServer in this process and starts viewers as processes of their own (``viewer`` below), either
reading (a RemoteController counting what arrives) or rendering (the real GanApp, headless via
``run_test``). Each phase with viewers sits between two without, and is measured against their
mean (see :func:`throughput`); the server thread's own CPU time is reported too, as the share of
the trainer's that it took. The bytes per second per viewer are what a reading viewer received
after its history.

``attach`` fills a server (fed by a fake runner) with a million rows, then times, in a viewer
process, from the connect to the dashboard having drawn its plots with the whole history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))

from gantui.protocol import METRIC_NAMES, MetricsBatch, SetK, StateChanged, Stop, frozen_array  # noqa: E402
from gantui.remote.client import RemoteController, Target  # noqa: E402


# ---------------------------------------------------------------------------------- the viewer side
def viewer_main(args: argparse.Namespace) -> None:
    target = Target(socket=args.socket)
    if args.mode == "read":
        print(json.dumps(_read(target, args.seconds)), flush=True)
    elif args.mode == "render":
        print(json.dumps(asyncio.run(_render(target, args.seconds))), flush=True)
    elif args.mode == "first-frame":
        print(json.dumps(asyncio.run(_first_frame(target, args.rows))), flush=True)
    elif args.mode == "latency":
        print(json.dumps(_latency(target, args.repeats)), flush=True)


def _read(target: Target, seconds: float) -> dict:
    controller = RemoteController(target)
    count = [0]
    controller.start(lambda e: count.__setitem__(0, count[0] + 1))
    controller.history_done.wait(30.0)
    start_bytes, start = controller.bytes_received, time.monotonic()
    time.sleep(seconds)
    got = controller.bytes_received - start_bytes
    elapsed = time.monotonic() - start
    controller.detach()
    controller.join(5.0)
    return {"bytes_per_s": got / elapsed, "events": count[0], "cpu_s": time.process_time()}


async def _render(target: Target, seconds: float) -> dict:
    from gantui.ui.app import GanApp

    controller = RemoteController(target)
    welcome = controller.connect()
    app = GanApp(controller, losses=welcome.losses, presets=welcome.presets)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(seconds)
        rows = len(app.history)
    return {"bytes_per_s": controller.bytes_received / seconds, "rows": rows, "cpu_s": time.process_time()}


async def _first_frame(target: Target, rows: int) -> dict:
    from gantui.ui.app import GanApp

    start = time.perf_counter()
    controller = RemoteController(target)
    welcome = controller.connect()
    app = GanApp(controller, losses=welcome.losses, presets=welcome.presets)
    async with app.run_test(size=(160, 50)) as pilot:
        while not (controller.history_done.is_set() and len(app.history) >= rows):
            await pilot.pause(0.01)
        received = time.perf_counter() - start
        app.refresh_plots()  # what the refresh timer does next: draw the plots with the whole history
        await pilot.pause()
        drawn = time.perf_counter() - start
        history = len(app.history)
    return {"history_received_s": received, "first_complete_frame_s": drawn, "rows": history,
            "bytes": controller.bytes_received}


def _latency(target: Target, repeats: int) -> dict:
    controller = RemoteController(target)
    state = {"k": None}
    changed = threading.Condition()

    def sink(event: object) -> None:
        if isinstance(event, StateChanged):
            with changed:
                state["k"] = event.state.k
                changed.notify_all()

    controller.start(sink)
    controller.history_done.wait(30.0)
    samples = []
    for i in range(repeats):
        k = 2 + i % 2
        start = time.perf_counter()
        controller.send(SetK(k))
        with changed:
            changed.wait_for(lambda k=k: state["k"] == k, timeout=10.0)
        samples.append(time.perf_counter() - start)
        time.sleep(0.1)
    controller.detach()
    controller.join(5.0)
    return {"median_s": statistics.median(samples), "max_s": max(samples), "n": len(samples)}


def spawn_viewer(socket_path: str, mode: str, **options: object) -> subprocess.Popen:
    cmd = [sys.executable, str(HERE), "viewer", "--socket", socket_path, "--mode", mode]
    for key, value in options.items():
        cmd += [f"--{key}", str(value)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def collect(procs: list[subprocess.Popen]) -> list[dict]:
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=300)
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


# ---------------------------------------------------------------------------------- the run side
def _served_run(preset: str, overrides: list[str]):
    from gantui.engine.runner import Runner
    from gantui.engine.session import Session
    from gantui.presets import load_config
    from gantui.remote.server import RunServer

    cfg = load_config(preset, ["train.steps=0", *overrides])
    session = Session.create(cfg, run_dir=Path(tempfile.mkdtemp(prefix="gantui-bench-")) / "run")
    runner = Runner(session, exit_when_done=False)
    server = RunServer(runner, run_dir=session.folder.path, preset=preset)
    server.start()
    runner.start(server.publish)
    return runner, server


def _thread_cpu(native_id: int) -> float:
    import psutil

    for t in psutil.Process().threads():
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


def _phase(runner, server, trainer_id: int, server_id: int, n: int, args: argparse.Namespace) -> dict:
    """One phase: ``n`` viewers attached, the trainer's rate and CPU measured over ``args.seconds``."""
    procs = [spawn_viewer(server.info.socket, args.mode, seconds=args.seconds + 3) for _ in range(n)]
    time.sleep(2.5 if n else 0.0)  # let them start, attach and take their history
    step0, t0 = runner.trainer.step, time.monotonic()
    cpu0 = _thread_cpu(trainer_id), _thread_cpu(server_id)
    time.sleep(args.seconds)
    step1, t1 = runner.trainer.step, time.monotonic()
    cpu1 = _thread_cpu(trainer_id), _thread_cpu(server_id)
    steps, trainer_cpu = max(step1 - step0, 1), max(cpu1[0] - cpu0[0], 1e-9)
    phase = {"n": n, "rate": (step1 - step0) / (t1 - t0), "cpu_per_it": trainer_cpu / steps,
             "server_share": (cpu1[1] - cpu0[1]) / trainer_cpu, "viewers": []}
    if n:
        phase["viewers"] = collect(procs)
    return phase


def throughput(args: argparse.Namespace) -> None:
    """Phases with viewers, each bracketed by phases with none: 0, 1, 0, 3, 0, 1, 0, 3, 0, ...

    A shared machine's load drifts over seconds, by more than the few per cent asked about; the
    ratio of a viewer phase to the mean of the two viewer-less phases either side of it cancels a
    drift that is linear over the bracket, and the median over rounds drops the phases another
    process disturbed.
    """
    runner, server = _served_run(args.preset, args.set)
    time.sleep(args.warmup)
    trainer_id = runner._thread.native_id  # type: ignore[union-attr]
    server_id = server._thread.native_id  # type: ignore[union-attr]
    order = [0]
    for _ in range(args.rounds):
        order += [1, 0, 3, 0]
    try:
        phases = [_phase(runner, server, trainer_id, server_id, n, args) for n in order]
    finally:
        runner.send(Stop(save=False))
        runner.join(30.0)
        server.close()
    ratios: dict[int, list[float]] = {1: [], 3: []}
    for i in range(1, len(phases) - 1, 2):
        bracket = (phases[i - 1]["rate"] + phases[i + 1]["rate"]) / 2
        ratios[phases[i]["n"]].append(phases[i]["rate"] / bracket)
    print(f"{args.preset} headless, viewers {args.mode}ing, {args.rounds} rounds of {args.seconds:.0f} s "
          f"phases, each viewer phase against the viewer-less phases either side (medians):")
    for n in (0, 1, 3):
        mine = [p for p in phases if p["n"] == n]
        rate = statistics.median(p["rate"] for p in mine)
        line = (f"  {n} viewers: {rate:8.1f} it/s   trainer "
                f"{1000 * statistics.median(p['cpu_per_it'] for p in mine):.2f} ms CPU/it   server thread "
                f"{100 * statistics.median(p['server_share'] for p in mine):.2f} % of the trainer's CPU")
        if n:
            cpu = [v["cpu_s"] / (args.seconds + 3) for p in mine for v in p["viewers"]]
            line += (f"   each viewer process {100 * statistics.median(cpu):.0f} % of a core   "
                     f"{statistics.median(ratios[n]):.3f}x of none (paired: "
                     f"{', '.join(f'{r:.2f}' for r in ratios[n])})")
        shown = ", ".join(f"{p['rate']:.0f}" for p in mine)
        print(line + f"   (phases: {shown})")
    rates = [v["bytes_per_s"] for p in phases for v in p["viewers"]]
    if rates:
        print(f"  bytes per second per viewer after its history: median {statistics.median(rates):,.0f} B/s")


def attach(args: argparse.Namespace) -> None:
    from gantui.remote.server import RunServer

    class NoRunner:
        def send(self, command: object, *, origin: str = "") -> None:
            pass

    runtime = Path(tempfile.mkdtemp(prefix="gb", dir="/tmp"))
    server = RunServer(NoRunner(), runtime=runtime, preset="ring8")
    server.start()
    rng = np.random.default_rng(0)
    used = [METRIC_NAMES.index(n) for n in ("t", "k", "d_real", "d_fake", "loss_d", "loss_g", "jsd_bound",
                                            "grad_norm_d", "grad_norm_g", "steps_per_sec")]
    chunk = 20_000
    t0 = time.perf_counter()
    for start in range(0, args.rows, chunk):
        n = min(chunk, args.rows - start)
        values = np.full((n, len(METRIC_NAMES)), np.nan)
        values[:, 0] = 20.0 * np.arange(start + 1, start + n + 1)
        values[:, used] = rng.random((n, len(used)))
        server.publish(MetricsBatch(columns=METRIC_NAMES, values=frozen_array(values)))
        server.sync()
    print(f"server filled with {server.store.count:,} rows in {time.perf_counter() - t0:.1f} s "
          f"({server.store.count * 160 / 2**20:.0f} MiB row store)")
    try:
        results = [collect([spawn_viewer(server.info.socket, "first-frame", rows=args.rows)])[0]
                   for _ in range(args.repeats)]
    finally:
        server.close()
    for r in results:
        print(f"  history of {r['rows']:,} rows ({r['bytes'] / 2**20:.0f} MiB) received in "
              f"{r['history_received_s']:.2f} s; first complete frame at {r['first_complete_frame_s']:.2f} s")
    print(f"attach to first complete frame, median of {len(results)}: "
          f"{statistics.median(r['first_complete_frame_s'] for r in results):.2f} s")


def latency(args: argparse.Namespace) -> None:
    runner, server = _served_run(args.preset, args.set)
    time.sleep(2.0)
    try:
        result = collect([spawn_viewer(server.info.socket, "latency", repeats=args.repeats)])[0]
    finally:
        runner.send(Stop(save=False))
        runner.join(30.0)
        server.close()
    print(f"viewer command -> runner applied -> viewer sees StateChanged: median "
          f"{1000 * result['median_s']:.1f} ms, max {1000 * result['max_s']:.1f} ms over {result['n']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--mode", choices=("read", "render"), default="read")
    t.add_argument("--seconds", type=float, default=5.0)
    t.add_argument("--rounds", type=int, default=5)
    t.add_argument("--warmup", type=float, default=3.0)
    a = sub.add_parser("attach")
    a.add_argument("--rows", type=int, default=1_000_000)
    a.add_argument("--repeats", type=int, default=3)
    lat = sub.add_parser("latency")
    lat.add_argument("--repeats", type=int, default=20)
    for q in (t, lat):
        q.add_argument("--preset", default="ring8")
        q.add_argument("--set", action="append", default=["train.threads=1"])
    v = sub.add_parser("viewer")
    v.add_argument("--socket", required=True)
    v.add_argument("--mode", required=True)
    v.add_argument("--seconds", type=float, default=10.0)
    v.add_argument("--rows", type=int, default=0)
    v.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    {"throughput": throughput, "attach": attach, "latency": latency, "viewer": viewer_main}[args.what](args)


if __name__ == "__main__":
    os.environ.pop("COLUMNS", None)
    main()
