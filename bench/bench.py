"""Iterations per second: a plain PyTorch loop, gantui headless, and gantui with the dashboard live.

One iteration = k D-steps + 1 G-step, the same models, data shape, loss (non-saturating) and k in
all three. The plain loop is what a tutorial script does: a DataLoader over host tensors,
``.to(device)`` per batch and ``.item()`` per step for its log. gantui runs as a user runs it: the
preset's read-out, probe, toy-metric, PNG and checkpoint cadences on, writing a run folder (in a
temporary directory); ``--quiet`` switches the probe, PNGs and checkpoints off as earlier versions of
this script did. The dashboard run is the real Textual app, rendered headless by ``App.run_test``
while the trainer thread trains; its own CPU use is the main (UI) thread's CPU time over the window.

Each mode runs in a fresh process, as a user runs them: in one process the second mode inherited the
first one's OpenMP worker pool, and gantui headless on two threads measured half its speed (146
against 302 it/s on the MNIST MLP). Modes alternate, so drift hits them alike.

    python bench/bench.py                      # CPU: ring8 MLP, tutorial MNIST MLP, DCGAN-64; k = 1, 5
    python bench/bench.py --cases dcgan64 --k 1
    python bench/bench.py --device cuda --repeats 3
    python bench/bench.py --device cuda --compile reduce-overhead   # torch.compile instead of graphs

On the CPU, DCGAN-64 runs at batch 16 (at batch 128 one iteration takes ~8 s on 2 cores); every rate
is whole iterations over the time they took, from one iteration boundary to another.
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
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gantui.engine.data import build_sampler
from gantui.engine.heap import freeze_built_run
from gantui.engine.models import build_models
from gantui.engine.runner import Runner
from gantui.engine.session import Session
from gantui.presets import load_config
from gantui.protocol import Stop


@dataclass(frozen=True)
class Case:
    name: str  # with "{batch}" for the batch size used
    overrides: tuple[str, ...]
    batch: int
    cpu_batch: int | None = None  # a smaller batch on the CPU, where this one would take minutes

    def batch_on(self, device: str) -> int:
        return self.cpu_batch if device == "cpu" and self.cpu_batch else self.batch

    def title(self, device: str) -> str:
        return self.name.format(batch=self.batch_on(device))


CASES = {
    "ring8-mlp": Case("ring8 MLP 2x128 (batch {batch})", (), batch=256),
    "mnist-mlp": Case("tutorial MNIST MLP (batch {batch})",
                      ("data.name=fake", "data.channels=1", "data.image_size=28", "model.g_hidden=[128]",
                       "model.d_hidden=[128]", "model.z_dim=100"), batch=64),
    "dcgan64": Case("DCGAN 64x64 RGB (batch {batch})",
                    ("data.name=fake", "data.channels=3", "data.image_size=64", "model.name=dcgan",
                     "model.z_dim=100", "data.fake_size=2048"), batch=128, cpu_batch=16),
}
QUIET = ("log.probe_every=0", "log.png_every=0", "log.checkpoint_every=0")


def config(case: Case, k: int, device: str, threads: int, *, quiet: bool = False, compile_mode: str = "off"):
    return load_config("ring8", [*case.overrides, *(QUIET if quiet else ()), "loss.name=nonsaturating",
                                 f"train.k={k}", f"train.device={device}", f"train.threads={threads}",
                                 f"train.batch_size={case.batch_on(device)}",
                                 f"train.compile={compile_mode}"])


def session_for(cfg, run_dir: Path | None) -> Session:
    """The run as the CLI builds it, with a run folder when ``run_dir`` is given."""
    return Session.create(cfg, run_dir=run_dir, write=run_dir is not None)


def plain_loop(cfg, seconds: float) -> float:
    """The usual hand-written loop, with the same models and optimiser settings."""
    device = torch.device(cfg.train.device)
    sampler = build_sampler(cfg.data, device=torch.device("cpu"), seed=0)
    data = sampler.sample(4096) if sampler.is_toy else sampler.data.cpu()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data),
                                         batch_size=cfg.train.batch_size,
                                         shuffle=True, drop_last=True)
    G, D = build_models(cfg.model, data_shape=tuple(sampler.shape))
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.train.lr_g, betas=(cfg.train.beta1, cfg.train.beta2))
    opt_d = torch.optim.Adam(D.parameters(), cfg.train.lr_d, betas=(cfg.train.beta1, cfg.train.beta2))
    batches = iter(loader)
    log = []

    def next_batch() -> torch.Tensor:
        nonlocal batches
        try:
            return next(batches)[0]
        except StopIteration:
            batches = iter(loader)
            return next(batches)[0]

    def iteration() -> None:
        b = cfg.train.batch_size
        for _ in range(cfg.train.k):
            real = next_batch().to(device)
            fake = G(torch.randn(b, cfg.model.z_dim, device=device)).detach()
            loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_g = F.softplus(-D(G(torch.randn(b, cfg.model.z_dim, device=device)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        log.append((loss_d.item(), loss_g.item()))

    return timed(iteration, seconds, device)


def timed(iteration, seconds: float, device: torch.device) -> float:
    iteration()  # warm-up: lazy optimiser state, allocator, kernel selection
    sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        iteration()
        n += 1
    sync(device)
    return n / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


POLL = 0.005  # seconds between looks at the step counter (short enough to time 1-s iterations)


def next_boundary(runner: Runner, after: int) -> tuple[int, float]:
    """Wait for the step counter to pass ``after``; (step, time) at the moment it moved."""
    while (step := runner.trainer.step) <= after:
        time.sleep(POLL)
    return step, time.perf_counter()


def runner_rate(runner: Runner, seconds: float, warmup: float = 1.0) -> float:
    """Iterations/s of a running runner: whole iterations between boundaries at least ``seconds`` apart."""
    time.sleep(warmup)
    step0, t0 = next_boundary(runner, runner.trainer.step)  # at least one iteration done: warmed up
    time.sleep(seconds)
    step1, t1 = next_boundary(runner, runner.trainer.step)  # the next one: never step0 itself
    return (step1 - step0) / (t1 - t0)


def headless(cfg, seconds: float, run_dir: Path | None = None) -> float:
    session = session_for(cfg, run_dir)
    runner = Runner(session, exit_when_done=False)
    freeze_built_run()  # as run_headless does
    runner.start(lambda event: None)
    try:
        return runner_rate(runner, seconds)
    finally:
        runner.send(Stop(save=False))
        runner.join(60)


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU time of one thread (Linux)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_dashboard(cfg, seconds: float, run_dir: Path | None = None) -> tuple[float, float]:
    """Iterations/s with the real app live (headless rendering), and the UI thread's CPU share."""
    from gantui.dashboard import LocalController, build_app

    session = session_for(cfg, run_dir)
    runner = Runner(session, exit_when_done=False)
    app = build_app(session, LocalController(runner, can_detach=False))  # as run_dashboard drives it
    freeze_built_run()
    result: dict[str, float] = {}

    async def drive() -> None:
        async with app.run_test(size=(160, 48)):
            ui = threading.get_native_id()
            async def boundary(after: int) -> tuple[int, float]:  # next_boundary, on the app's loop
                while (step := runner.trainer.step) <= after:
                    await asyncio.sleep(POLL)
                return step, time.perf_counter()

            await asyncio.sleep(1.0)
            step0, t0 = await boundary(runner.trainer.step)
            cpu0 = thread_cpu_seconds(ui)
            await asyncio.sleep(seconds)
            step1, t1 = await boundary(runner.trainer.step)
            result["rate"] = (step1 - step0) / (t1 - t0)
            result["ui_cpu"] = (thread_cpu_seconds(ui) - cpu0) / (t1 - t0)
            runner.send(Stop(save=False))

    asyncio.run(drive())
    runner.join(60)
    return result["rate"], result["ui_cpu"]


def one(args: argparse.Namespace) -> dict:
    """Measure one mode in this (fresh) process."""
    case, k, cores = CASES[args.cases], int(args.k), os.cpu_count() or 1
    if args.one == "plain":
        torch.set_num_threads(cores)  # torch's default: every core
        return {"rate": plain_loop(config(case, k, args.device, cores), args.seconds)}
    cfg = config(case, k, args.device, 0, quiet=args.quiet, compile_mode=args.compile)
    with tempfile.TemporaryDirectory(prefix="gantui-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        if args.one == "headless":
            return {"rate": headless(cfg, args.seconds, run_dir)}
        rate, ui_cpu = with_dashboard(cfg, args.seconds, run_dir)
        return {"rate": rate, "ui_cpu": ui_cpu}


def measure(args: argparse.Namespace, mode: str, case: str, k: int) -> dict:
    """Run one mode, in a fresh interpreter unless ``--fresh no`` (or auto on CUDA), and read its result."""
    if args.fresh == "no" or (args.fresh == "auto" and args.device != "cpu"):
        return one(argparse.Namespace(**{**vars(args), "one": mode, "cases": case, "k": str(k)}))
    command = [sys.executable, __file__, "--one", mode, "--cases", case, "--k", str(k),
               "--device", args.device, "--seconds", str(args.seconds), "--compile", args.compile,
               *(["--quiet"] if args.quiet else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds * 20 + 300,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{mode} {case} k={k}: exit {done.returncode}: {tail[0]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=6.0, help="measurement window per run")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--k", default="1,5")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the three modes this many times in turn and print medians (noisy machines)")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="summary of the repeats; best: the least disturbed run of each mode, for a "
                             "machine shared with other work (two intra-op threads on two busy cores can "
                             "run 20x slower)")
    parser.add_argument("--quiet", action="store_true", help="probe, PNGs and checkpoints off")
    parser.add_argument("--compile", default="off", help="train.compile for the gantui runs (CUDA)")
    parser.add_argument("--fresh", choices=("auto", "yes", "no"), default="auto",
                        help="each mode in its own process (auto: on the CPU, where the OpenMP pools of "
                             "one mode slow the next; on CUDA one process saves the start-up time)")
    parser.add_argument("--one", choices=("plain", "headless", "dashboard"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args)), flush=True)
        return
    cores = os.cpu_count() or 1
    print(f"gantui bench: torch {torch.__version__}, device {args.device}, {cores} cores, "
          f"{args.seconds:g} s per run, {args.stat} of {args.repeats}, "
          f"{'quiet' if args.quiet else 'cadences on, run folder written'}, compile {args.compile}, "
          f"fresh process per mode: {args.fresh}")
    header = f"{'model':<32}{'k':>3}{'plain it/s':>12}{'headless':>10}{'dashboard':>11}" \
             f"{'head/plain':>12}{'dash/head':>11}{'UI CPU':>8}"
    print(header)
    print("-" * len(header))
    for key in args.cases.split(","):
        case = CASES[key]
        for k in (int(x) for x in args.k.split(",")):
            runs = []
            for _ in range(args.repeats):
                plain = measure(args, "plain", key, k)["rate"]
                head = measure(args, "headless", key, k)["rate"]
                dash = measure(args, "dashboard", key, k)
                runs.append((plain, head, dash["rate"], dash["ui_cpu"]))
            summary = statistics.median if args.stat == "median" else max
            plain, head, dash = (summary(column) for column in list(zip(*runs, strict=True))[:3])
            ui_cpu = statistics.median(r[3] for r in runs)
            print(f"{case.title(args.device):<32}{k:>3}{plain:>12.1f}{head:>10.1f}{dash:>11.1f}"
                  f"{head / plain:>11.2f}x{dash / head:>10.2f}x{ui_cpu:>7.0%}", flush=True)


if __name__ == "__main__":
    main()
