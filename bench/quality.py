"""Image-quality evaluation: what it costs, what it holds in memory, and whether it tracks learning.

Drives the engine's Trainer directly on a preset (digits-mlp by default, offline), the way the runner
will once the evaluator is wired in: an iteration, then (while an evaluation is running) one
``Evaluation.advance()``, an EMA update after each G-step, a read-out every ``log.every`` iterations.

    python bench/quality.py memory          # bytes of the feature networks and cached real statistics
    python bench/quality.py cost            # one evaluation of eval.samples (10 000) images, and its parts
    python bench/quality.py share --seconds 120   # evaluation's share of a training run (adaptive cadence)
    python bench/quality.py table --steps 6000    # the metrics by step as digits-mlp learns (G and EMA)

Every part uses a fresh temporary cache unless ``--cache DIR`` is given, so the one-off costs
(training the classifier, the real statistics) are measured and reported apart from an evaluation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from gantui.engine.data import build_sampler
from gantui.engine.device import configure_threads
from gantui.engine.quality.ema import EMA
from gantui.engine.quality.evaluator import (
    EVAL_SAMPLES,
    EVAL_SEED_OFFSET,
    EvalCadence,
    Evaluation,
    SnapshotGenerator,
)
from gantui.engine.quality.realstats import dataset_identity, real_images_from_sampler
from gantui.engine.quality.setup import QualitySetup, megabytes
from gantui.engine.trainer import Trainer
from gantui.presets import load_config

COLUMNS = ("fd_classifier", "fid", "kid", "precision", "recall", "density", "coverage", "classes_covered",
           "class_kl")


def build(args):
    cfg = load_config(args.preset, [f"train.device={args.device}", *args.set])
    device = torch.device(args.device)
    threads = configure_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    sampler = build_sampler(cfg.data, device=device, seed=cfg.train.seed)
    trainer = Trainer(cfg, sampler=sampler, device=device)
    real = real_images_from_sampler(sampler, dataset_identity(cfg.data, sampler.shape))
    setup = QualitySetup(cfg.data, sampler.shape, real, device=device, root=args.cache,
                         features=args.features)
    return cfg, trainer, setup, threads


def prepare(setup: QualitySetup) -> float:
    started = time.perf_counter()
    steps = setup.iter_ready()
    while True:
        try:
            next(steps)
        except StopIteration:
            break
    for note in setup.prepared.notes:
        print("  " + note)
    return time.perf_counter() - started


def snapshot(trainer: Trainer, model, cfg) -> SnapshotGenerator:
    return SnapshotGenerator(model, z_dim=trainer.z_dim, device=trainer.device,
                             seed=cfg.train.seed + EVAL_SEED_OFFSET, batch_size=trainer.batch_size)


def part_memory(args) -> None:
    cfg, trainer, setup, _ = build(args)
    print(f"preparing ({args.preset}, {args.device}):")
    seconds = prepare(setup)
    print(f"  preparation took {seconds:.1f} s")
    ev = Evaluation(snapshot(trainer, trainer.G, cfg), setup, step=0, samples=args.samples)
    ev.run()  # computes √Σ and the k-NN radii, which the real statistics then keep
    for target in setup.prepared.targets:
        print(f"  {target.space.distance_name}: feature network {megabytes(target.space.nbytes())}, "
              f"real statistics in memory {megabytes(target.real.nbytes())} "
              f"(file {megabytes(setup.cache.path(target.real.key).stat().st_size)})")
    print(f"  G {megabytes(sum(p.numel() * p.element_size() for p in trainer.G.parameters()))}; "
          f"an EMA copy holds as much again, a snapshot for an evaluation as much again")


def part_cost(args) -> None:
    cfg, trainer, setup, threads = build(args)
    print(f"one-off preparation ({args.preset}, {args.device}, {threads} threads):")
    print(f"  took {prepare(setup):.1f} s")
    times = []
    for _ in range(args.repeats):
        ev = Evaluation(snapshot(trainer, trainer.G, cfg), setup, step=0, samples=args.samples)
        started, cpu = time.perf_counter(), time.process_time()
        advances = 0
        while not ev.finished:
            ev.advance()
            advances += 1
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        times.append(wall)
        print(f"  evaluation of {args.samples} images: {wall:.2f} s wall, {cpu:.2f} s CPU, "
              f"{advances} advances (longest metrics part {setup.tail_seconds:.2f} s)")
    print(f"  median {sorted(times)[len(times) // 2]:.2f} s")


def train_loop(trainer: Trainer, cfg, seconds: float, *, cadence: EvalCadence | None, setup,
               ema: EMA | None) -> dict[str, float]:
    """Train for ``seconds`` of wall time, as the runner will: iteration, EMA update, read-out, a chunk."""
    start, cpu_start = time.perf_counter(), time.process_time()
    spent = {"eval_wall": 0.0, "eval_cpu": 0.0, "ema_cpu": 0.0, "evaluations": 0}
    current: Evaluation | None = None
    started_step = 0
    while time.perf_counter() - start < seconds:
        trainer.iteration()
        if ema is not None:
            t0 = time.process_time()
            ema.update()
            spent["ema_cpu"] += time.process_time() - t0
        if trainer.step % cfg.log.every == 0:
            trainer.readout()
        if cadence is None:
            continue
        if current is None and cadence.due(trainer.step, time.perf_counter() - start):
            model = ema.model if ema is not None else trainer.G
            current = Evaluation(snapshot(trainer, model, cfg), setup, step=trainer.step,
                                 generator="ema" if ema else "g", samples=EVAL_SAMPLES,
                                 streams=trainer.random_streams)
            started_step = trainer.step
        if current is not None:
            t0, c0 = time.perf_counter(), time.process_time()
            current.advance()
            spent["eval_wall"] += time.perf_counter() - t0
            spent["eval_cpu"] += time.process_time() - c0
            if current.finished:
                result = current.result()
                cadence.finished(step=started_step, seconds=result.seconds)
                spent["evaluations"] += 1
                print(f"    step {result.step}: {result.seconds:.2f} s, "
                      f"fd_classifier {result.values.get('fd_classifier', float('nan')):.2f}")
                current = None
    spent.update(steps=trainer.step, wall=time.perf_counter() - start, cpu=time.process_time() - cpu_start)
    return spent


def part_share(args) -> None:
    cfg, trainer, setup, threads = build(args)
    print(f"share of training time ({args.preset}, {args.device}, {threads} threads, eval.every = "
          f"{args.every}, budget 5 %, {args.seconds:.0f} s per run):")
    print(f"  one-off preparation {prepare(setup):.1f} s (not counted: cached after the first run)")
    plain = train_loop(trainer, cfg, args.seconds, cadence=None, setup=setup, ema=None)
    cfg2, trainer2, _, _ = build(args)
    ema = EMA(trainer2.G, args.ema) if args.ema else None
    run = train_loop(trainer2, cfg2, args.seconds, cadence=EvalCadence(args.every), setup=setup, ema=ema)
    plain_rate, rate = plain["steps"] / plain["wall"], run["steps"] / run["wall"]
    plain_cpu_rate, cpu_rate = plain["steps"] / plain["cpu"], run["steps"] / run["cpu"]
    print(f"  plain: {plain_rate:.1f} it/s ({plain_cpu_rate:.1f} per CPU second); with evaluations"
          f"{' and EMA' if ema else ''}: {rate:.1f} it/s ({cpu_rate:.1f} per CPU second)")
    wall_share, cpu_share = 100 * run["eval_wall"] / run["wall"], 100 * run["eval_cpu"] / run["cpu"]
    print(f"  {run['evaluations']:.0f} evaluations: {run['eval_wall']:.1f} s of {run['wall']:.1f} s wall "
          f"({wall_share:.1f} %), {run['eval_cpu']:.1f} s of {run['cpu']:.1f} s CPU ({cpu_share:.1f} %)")
    if ema is not None:
        ema_share = 100 * run["ema_cpu"] / run["cpu"]
        print(f"  EMA updates: {run['ema_cpu']:.2f} s CPU ({ema_share:.1f} % of the run, "
              f"{1e6 * run['ema_cpu'] / run['steps']:.0f} µs per G-step)")


def part_table(args) -> None:
    cfg, trainer, setup, threads = build(args)
    print(f"learning curve ({args.preset}, {args.device}, {threads} threads, {args.samples} samples):")
    print(f"  preparation {prepare(setup):.1f} s")
    ema = EMA(trainer.G, args.ema)
    checkpoints = sorted(set(int(s) for s in args.at.split(",")) | {args.steps})
    header = ["step", "G"] + [c for c in COLUMNS if c != "fid"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for target in checkpoints:
        while trainer.step < target:
            trainer.iteration()
            ema.update()
            if trainer.step % cfg.log.every == 0:
                trainer.readout()
        for name, model in (("g", trainer.G), ("ema", ema.model)):
            r = Evaluation(snapshot(trainer, model, cfg), setup, step=trainer.step, generator=name,
                           samples=args.samples).run()
            cells = [str(trainer.step), name] + [
                f"{r.values[c]:.0f}" if c == "classes_covered" else f"{r.values[c]:.3g}"
                for c in header[2:]]
            print("| " + " | ".join(cells) + " |")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("memory", "cost", "share", "table"))
    parser.add_argument("--preset", default="digits-mlp")
    parser.add_argument("--set", action="append", default=[], help="preset override (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--features", default="auto")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache root (default: a fresh temporary one)")
    parser.add_argument("--samples", type=int, default=EVAL_SAMPLES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=int, default=1000, help="eval.every for the share part")
    parser.add_argument("--ema", type=float, default=0.999, help="EMA decay (share: 0 = no EMA)")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--at", default="0,100,250,500,1000,2000,4000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gantui-quality-bench-") as tmp:
        if args.cache is None:
            args.cache = Path(tmp)
        {"memory": part_memory, "cost": part_cost, "share": part_share, "table": part_table}[args.part](args)


if __name__ == "__main__":
    main()
