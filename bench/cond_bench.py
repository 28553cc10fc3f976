"""Conditional GANs and InfoGAN on the CPU: how far digits-cgan and digits-infogan get in a few minutes,
and what conditioning costs per iteration.

Drives the engine's Trainer directly (no runner, no dashboard) and measures, every ``--every``
iterations, the read-outs the runner queues: ``label_accuracy`` (cGAN), ``mi_bound``, ``mi_cont`` and
``info_accuracy`` (InfoGAN), with the same judge the runner uses (the dataset's offline classifier,
1 000 images with the same latents each time). Measurement time is not counted in the training clock.

    python bench/cond_bench.py table --seconds 180         # both presets, the read-outs by step
    python bench/cond_bench.py cost --seconds 10           # it/s of digits-mlp, -cgan, -infogan alike

``cost`` runs the three presets' trainers in turn in one process (the unconditional digits-mlp is the
reference: the same MLPs without the label embedding, projection or Q head) and prints the ratios.
The classifier is trained once into ``--cache`` (default: a temporary folder) and reported apart.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from gantui.engine.cond.judge import ConditionJudge
from gantui.engine.data import build_sampler
from gantui.engine.device import configure_threads
from gantui.engine.trainer import Trainer
from gantui.presets import load_config


def build(preset: str, overrides: list[str]) -> Trainer:
    cfg = load_config(preset, ["train.threads=1", *overrides])
    configure_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    device = torch.device(cfg.train.device if cfg.train.device != "auto" else "cpu")
    return Trainer(cfg, sampler=build_sampler(cfg.data, device=device, seed=cfg.train.seed), device=device)


def ready_judge(trainer: Trainer, cache: Path) -> tuple[ConditionJudge, float]:
    """A judge with its classifier loaded or trained (the one-off seconds returned)."""
    judge = ConditionJudge(trainer, every=1, samples=1000, root=cache)
    started = time.perf_counter()
    while judge.classifier is None and not judge.unavailable:
        judge.started = -math.inf  # no time share: the bench prepares it up front
        judge._advance_preparation(lambda level, message: None)
    return judge, time.perf_counter() - started


def table(args) -> None:
    print(f"# {args.seconds:g} s of training per preset on the CPU, one thread; read-outs every {args.every} "
          "iterations (1 000 generated digits each)")
    for preset in ("digits-cgan", "digits-infogan"):
        trainer = build(preset, args.set)
        judge, prep = ready_judge(trainer, args.cache)
        print(f"\n## {preset} (classifier ready in {prep:.1f} s)\n")
        names = ["label_accuracy"] if preset.endswith("cgan") else ["mi_bound", "mi_cont", "info_accuracy"]
        print("| step | seconds | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        clock = 0.0
        while clock < args.seconds:
            start = time.perf_counter()
            for _ in range(args.every):
                trainer.iteration()
            row = trainer.readout()  # the window's means and the held-out bounds
            clock += time.perf_counter() - start
            row.update(judge.measure())
            values = " | ".join(f"{row[n]:.3f}" for n in names)
            print(f"| {trainer.step} | {clock:.0f} | {values} |", flush=True)


def cost(args) -> None:
    print(f"# iterations per second, {args.seconds:g} s each, one thread, in one process")
    rates = {}
    for preset in ("digits-mlp", "digits-cgan", "digits-infogan"):
        trainer = build(preset, args.set)
        for _ in range(20):  # warm-up
            trainer.iteration()
        done, start = 0, time.process_time()
        while time.process_time() - start < args.seconds:
            for _ in range(20):
                trainer.iteration()
            trainer.readout()
            done += 20
        rates[preset] = done / (time.process_time() - start)
    base = rates["digits-mlp"]
    print("| preset | it/s (CPU time) | / digits-mlp |")
    print("|---|---|---|")
    for preset, rate in rates.items():
        print(f"| {preset} | {rate:.0f} | {rate / base:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("table", "cost"))
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], help="a preset override, e.g. train.seed=1")
    args = parser.parse_args()
    if args.cache is None:
        args.cache = Path(tempfile.mkdtemp(prefix="gantui-cond-bench-"))
    (table if args.part == "table" else cost)(args)


if __name__ == "__main__":
    main()
