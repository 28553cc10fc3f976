"""What steering costs the CUDA fast path, counted on the CPU with a stand-in backend.

For each kind of change (a learning-rate key pressed five times, k, freeze, a loss switch, SGD's lr)
it counts what the next iterations do besides replaying: captures (each one costs a device sync, an
allocator flush and the instantiation of a graph on CUDA), the steps recorded by those captures (a
proxy for the graph's size) and the eager warm-up steps. It works with this tree's graphs.py and with
the one before one-graph-per-step (two APIs), so the two can be compared:

    python bench/steer_cost.py                                  # this tree
    git archive bdc2205 | tar -x -C /tmp/base && PYTHONPATH=/tmp/base python bench/steer_cost.py
"""

from __future__ import annotations

import inspect
import json

import torch

from gantui.engine import graphs
from gantui.engine.data import build_sampler
from gantui.engine.trainer import Trainer
from gantui.presets import load_config

WARMUP = getattr(graphs, "WARMUP_STEPS", getattr(graphs, "WARMUP_ITERATIONS", 3))


class Counting:
    """A backend that runs everything eagerly and counts D- and G-steps by what they were for."""

    def __init__(self, t: Trainer) -> None:
        self.t, self.mode = t, "replay"
        self.counts = {"captures": 0, "captured_steps": 0, "warmup_steps": 0}
        for name, _kind in (("_d_update", "D"), ("_g_update", "G")):
            original = getattr(t, name)

            def counted(original=original):
                if self.mode == "warmup":
                    self.counts["warmup_steps"] += 1
                elif self.mode == "capture":
                    self.counts["captured_steps"] += 1
                original()

            setattr(t, name, counted)

    def warm_up(self, body, check_sync=False):
        self.mode = "warmup"
        try:
            body()
        finally:
            self.mode = "replay"

    def capture(self, body, generators=()):
        self.counts["captures"] += 1
        self.mode = "capture"
        try:
            body()  # "recording": counted as the capture's steps
        finally:
            self.mode = "replay"
        t = self.t
        saved = [x.detach().clone() for x in t.live_tensors()]  # undo: a capture runs no kernels
        with torch.no_grad():
            for x, s in zip(t.live_tensors(), saved, strict=True):
                x.copy_(s)
        return _Replay(body)


class _Replay:
    def __init__(self, body) -> None:
        self.body = body

    def replay(self) -> None:
        self.body()


def trainer(*overrides: str) -> tuple[Trainer, Counting]:
    cfg = load_config("smoke", ["train.threads=1", *overrides])
    device = torch.device("cpu")
    t = Trainer(cfg, sampler=build_sampler(cfg.data, device=device, seed=0), device=device)
    backend = Counting(t)
    params = inspect.signature(graphs.IterationGraph).parameters
    kwargs = {"blocked": None, "backend": backend}
    if "generators" in params:
        kwargs["generators"] = []
    t.graph = graphs.IterationGraph(**kwargs)
    return t, backend


CHANGES = [
    ("lr_d x0.5 five times (Adam)", (), lambda t: [t.set_lr("d", t.knobs.lr_d * 0.5) for _ in range(5)]),
    ("lr_d five times, an iteration between (Adam)", (), "lr-spaced"),
    ("k 1 -> 5", (), lambda t: t.set_k(5)),
    ("freeze G", (), lambda t: t.freeze("g", True)),
    ("loss -> wgan-gp", (), lambda t: t.set_loss("wgan-gp")),
    ("lr_d (SGD)", ("train.optimizer=sgd",), lambda t: t.set_lr("d", 5e-4)),
]


def main() -> None:
    print(json.dumps({"graphs": graphs.__file__, "warmup": WARMUP}))
    for label, overrides, change in CHANGES:
        t, backend = trainer(*overrides)
        for _ in range(WARMUP + 2):
            t.iteration()
        before = dict(backend.counts)
        if change == "lr-spaced":
            for _ in range(5):
                t.set_lr("d", t.knobs.lr_d * 0.5)
                t.iteration()
        else:
            change(t)
        for _ in range(WARMUP + 2):
            t.iteration()
        print(json.dumps({"change": label, **{k: backend.counts[k] - before[k] for k in before}}))


if __name__ == "__main__":
    main()
