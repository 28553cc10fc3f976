"""What keeping the ranks in step costs: rank 0's per-step message and the window's reduction.

Starts ``--world`` rank processes on this machine (gloo on the CPU, or NCCL with ``--device cuda``)
and measures, on the same trainer, one after another:

- ``ddp``: data-parallel training with the averaged gradients, and every ``log.every`` iterations a
  read-out of each rank's own metrics (no message, no reduction): what a DDP loop that logs does;
- ``+ message``: rank 0 announces every step and the others follow it (the real follower loop);
- ``+ message + window``: and the read-out is reduced over the ranks (the real data-parallel run);
- ``torch DDP``: a plain PyTorch loop with each player in its own DistributedDataParallel wrapper
  (``broadcast_buffers=False``), the same models, batch and loss, for scale;
- ``1 process``: one process with the whole batch (no collectives at all).

It also times the two pieces alone: one message (a 16-number broadcast) and one window reduction.

    python bench/ddp_bench.py                     # ring8 MLP, 2 CPU ranks, 3 repeats of 3 s
    python bench/ddp_bench.py --case dcgan32 --seconds 5
    python bench/ddp_bench.py --device cuda --world 1    # the single-GPU NCCL check (see ddp_gpu_check.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = {
    "ring8": ["train.batch_size=256"],
    "mnist-mlp": ["data.name=fake", "data.channels=1", "data.image_size=28", "model.g_hidden=[128]",
                  "model.d_hidden=[128]", "model.z_dim=100", "train.batch_size=64"],
    "dcgan64": ["data.name=fake", "data.channels=3", "data.image_size=64", "model.name=dcgan",
                "model.z_dim=100", "data.fake_size=2048", "train.batch_size=128", "data.on_device=yes"],
    "dcgan32": ["data.name=fake", "data.channels=1", "data.image_size=32", "model.name=dcgan",
                "model.width=16", "model.z_dim=32", "data.fake_size=512", "train.batch_size=32"],
}


def _config(args):
    from gantui.presets import load_config

    preset = "ring8" if args.case == "ring8" else "smoke"
    return load_config(preset, [f"train.device={args.device}", "train.threads=0", *CASES[args.case]])


def _timed(body, seconds: float, *, sync) -> float:
    """Iterations per second of ``body`` over about ``seconds`` (whole iterations, after a warm-up)."""
    for _ in range(5):
        body()
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            body()
        n += 10
    sync()
    return n / (time.perf_counter() - start)


def _agree(ranks, value: float) -> float:
    """Rank 0's measurement of a lock-step loop, with every rank through the same number of calls."""
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0, group=ranks.control)
    return float(t)


def _fixed(body, n: int, *, sync) -> float:
    for _ in range(5):
        body()
    sync()
    start = time.perf_counter()
    for _ in range(n):
        body()
    sync()
    return n / (time.perf_counter() - start)


def rank_main(args) -> None:
    import torch
    import torch.distributed as dist

    from gantui.engine.distributed.control import Channel, Message, Op
    from gantui.engine.distributed.follower import Follower
    from gantui.engine.distributed.group import join, launched
    from gantui.engine.distributed.leader import Leader
    from gantui.engine.distributed.seeds import check_batch, give_streams
    from gantui.engine.distributed.team import Team, wrap_steps
    from gantui.engine.session import Session

    place = launched()
    ranks = join(place)
    cfg = _config(args)
    device = torch.device(args.device if args.device != "cuda" else f"cuda:{place.local_rank}")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def fresh():
        session = Session.create(cfg, write=False)
        t = session.trainer
        t.batch_size = check_batch(cfg.train.batch_size, ranks.world)
        t.graph.disable("off: bench")
        if device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks.world))
        give_streams(t, seed=0, rank=place.rank, world=ranks.world)
        return t

    # The loop's length is rank 0's, agreed first: lock-step loops must run the same number of calls.
    probe = fresh()  # rank 0 alone, without collectives (the others wait in the broadcast)
    rate = _agree(ranks, _timed(probe.iteration, 1.0, sync=sync) / ranks.world if place.leads else 0.0)
    n = max(50, int(rate * args.seconds))
    every = cfg.log.every
    results: dict[str, list[float]] = {k: [] for k in ("ddp", "+ message", "+ message + window", "torch DDP")}
    for _ in range(args.repeats):
        for name, window in (("ddp", False), ("+ message", False), ("+ message + window", True)):
            t = fresh()
            team_class = (Leader if place.leads else Follower) if name != "ddp" else Team
            team = team_class(ranks, t) if team_class is not Follower else Follower(ranks, t, seq=1)
            if not window:
                team.window = lambda acc_d, acc_g: None  # each rank reads out its own metrics
            t.ranks = team
            calls = [0]

            def step(t=t, calls=calls) -> None:
                t.iteration()
                calls[0] += 1
                if calls[0] % every == 0:
                    t.readout()

            if name == "ddp":
                results[name].append(_fixed(step, n, sync=sync))
                continue
            wrap_steps(t, team)
            if place.leads:
                team.seq = 1  # as after a START
                results[name].append(_fixed(step, n, sync=sync))
                team.close()
            else:
                team.follow()
                results[name].append(0.0)
        results["torch DDP"].append(_torch_ddp(cfg, ranks, device, n, sync))
    # The two pieces alone.
    channel = Channel(ranks.control)
    message = Message(op=Op.IDLE)
    m = 2000
    start = time.perf_counter()
    for _ in range(m):
        if place.leads:
            channel.send(message)
        else:
            channel.receive()
    if place.leads:
        channel.flush()
    per_message = (time.perf_counter() - start) / m
    t = fresh()
    t.ranks = Team(ranks, t)
    t.iteration()
    start = time.perf_counter()
    for _ in range(200):
        t.ranks.window(t._acc_d, t._acc_g)
    sync()
    per_window = (time.perf_counter() - start) / 200
    if place.leads:
        single = statistics.median(_single(cfg, device, n, sync, every=every) for _ in range(args.repeats))
        graphs = (statistics.median(_single(cfg, device, n, sync, every=every, graphs=True)
                                    for _ in range(args.repeats)) if device.type == "cuda" else None)
        out = {k: statistics.median(v) for k, v in results.items()}
        out.update(message_us=per_message * 1e6, window_us=per_window * 1e6, every=every, single=single,
                   graphs=graphs,
                   world=ranks.world, backend=ranks.backend, n=n)
        print("RESULT " + json.dumps(out), flush=True)
    dist.barrier(group=ranks.control)
    ranks.leave()


def _torch_ddp(cfg, ranks, device, n: int, sync) -> float:
    """A plain loop: each player in its own DistributedDataParallel (broadcast_buffers=False)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from gantui.engine.data import build_sampler
    from gantui.engine.models import build_models

    torch.manual_seed(0)
    sampler = build_sampler(cfg.data, device=device, seed=0)
    G, D = build_models(cfg.model, data_shape=tuple(sampler.shape))
    G, D = G.to(device), D.to(device)
    ids = [device.index] if device.type == "cuda" else None
    G, D = DDP(G, device_ids=ids, broadcast_buffers=False), DDP(D, device_ids=ids, broadcast_buffers=False)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    b, z = cfg.train.batch_size // ranks.world, cfg.model.z_dim

    def step() -> None:
        real = sampler.sample(b)
        with torch.no_grad():
            fake = G(torch.randn(b, z, device=device))
        v_real, v_fake = D(real), D(fake)
        loss_d = F.softplus(-v_real).mean() + F.softplus(v_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(G(torch.randn(b, z, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()  # D's gradients too (DDP reduces every parameter that took part)
        opt_g.step()

    return _fixed(step, n, sync=sync)


def _single(cfg, device, n: int, sync, *, every: int, graphs: bool = False) -> float:
    """One plain process with the whole batch: iterations and a read-out every ``every``, as ``ddp``."""
    from gantui.engine.session import Session

    t = Session.create(cfg, write=False).trainer
    if not graphs:
        t.graph.disable("off: bench")
    calls = [0]

    def step() -> None:
        t.iteration()
        calls[0] += 1
        if calls[0] % every == 0:
            t.readout()

    return _fixed(step, n, sync=sync)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=sorted(CASES), default="ring8")
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rank", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rank:
        rank_main(args)
        return 0
    port = _free_port()
    argv = [sys.executable, __file__, "--rank", "--case", args.case, "--device", args.device, "--seconds",
            str(args.seconds), "--repeats", str(args.repeats)]
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, RANK=str(r), WORLD_SIZE=str(args.world), LOCAL_RANK=str(r),
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), PYTHONPATH=str(ROOT),
                                       GANTUI_DIST_TIMEOUT_S="120"))
             for r in range(args.world)]
    outs = [proc.communicate(timeout=900)[0] for proc in procs]
    line = next((x for x in outs[0].splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(outs[0], file=sys.stderr)
        return 1
    r = json.loads(line[len("RESULT "):])
    base = r["ddp"]
    print(f"{args.case}, {r['world']} ranks ({r['backend']}), {r['n']} iterations per measure, "
          f"medians of {args.repeats}; read-out every {r['every']} iterations")
    print(f"{'loop':<22} {'it/s':>8} {'/ ddp':>7}")
    for name in ("ddp", "+ message", "+ message + window", "torch DDP"):
        print(f"{name:<22} {r[name]:8.1f} {r[name] / base:6.3f}x")
    print(f"{'1 process, whole batch':<22} {r['single']:8.1f} {r['single'] / base:6.3f}x")
    if r.get("graphs"):
        print(f"{'1 process, CUDA graphs':<22} {r['graphs']:8.1f} {r['graphs'] / base:6.3f}x")
    full = r["+ message + window"]
    print(f"the data-parallel run / 1 process: {full / r['single']:.3f} (world {r['world']}; the single-GPU "
          "check asks >= 0.97 at world 1)")
    print(f"rank 0's time per message, sent back to back (16 float64, gloo): {r['message_us']:.0f} µs; "
          f"one window reduction: {r['window_us']:.0f} µs "
          f"(per iteration: {r['window_us'] / r['every']:.0f} µs); "
          f"one ddp iteration: {1e6 / base:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
