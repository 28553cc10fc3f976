"""Helpers for the data-parallel tests: real rank processes on the CPU (gloo), bounded in time.

Every process runs with a wall-clock limit, and every collective with ``GANTUI_DIST_TIMEOUT_S``, so a
hung rank fails its test instead of hanging CI. :func:`reference_trainer` is the single process that
a data-parallel run must match: one trainer with the whole global batch, drawing it as the ranks do
(rank r's share from rank r's streams, concatenated in rank order).
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gantui.config import Config
from gantui.engine import trainer as trainer_module
from gantui.engine.distributed.seeds import derive_seed
from gantui.engine.penalties import _penalty_at
from gantui.engine.session import Session

ROOT = Path(__file__).resolve().parent.parent
COLLECTIVE_TIMEOUT_S = 20
RANK_LINE = "gantui: rank "


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int, results: Path, extra: dict[str, str] | None = None) -> dict:
    env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
               GANTUI_DIST_TIMEOUT_S=str(COLLECTIVE_TIMEOUT_S),
               GANTUI_RANK_LOG="info", GANTUI_TEST_RESULTS=str(results), PYTHONPATH=str(ROOT),
               OMP_NUM_THREADS="1", COLUMNS="200")
    env.pop("PYTHONSTARTUP", None)
    env.update(extra or {})
    return env


@dataclass
class RankRun:
    results: list[list[list[float]] | None]  # per rank: each job's [exit status, seconds] (None: it died)
    returncodes: list[int]
    stdout: list[str]
    stderr: list[str]

    def status(self, rank: int, index: int) -> int | None:
        return None if self.results[rank] is None else int(self.results[rank][index][0])

    def seconds(self, rank: int, index: int) -> float:
        return self.results[rank][index][1]

    def log(self, rank: int) -> list[str]:
        """What rank ``rank`` logged it applied: ``step N: what`` lines."""
        prefix = f"{RANK_LINE}{rank}: "
        return [line[len(prefix):] for line in self.stderr[rank].splitlines() if line.startswith(prefix)]


def run_ranks(jobs: list[dict], tmp: Path, *, world: int = 2, timeout: float = 120.0) -> RankRun:
    """Run ``jobs`` (see tests/ddp_worker.py) on ``world`` rank processes; fail past ``timeout``."""
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "jobs.json"
    spec.write_text(json.dumps(jobs))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.ddp_worker", str(spec)], cwd=ROOT,
                              env=rank_env(r, world, jobs[0]["port"], tmp), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(world)]
    deadline = time.monotonic() + timeout
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic())))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    results = []
    for r in range(world):
        path = tmp / f"rank-{r}.json"
        results.append(json.loads(path.read_text()) if path.exists() else None)
    return RankRun(results=results, returncodes=[p.returncode for p in procs],
                   stdout=[o for o, _ in outs], stderr=[e for _, e in outs])


def job(argv: list[str], **extra) -> dict:
    return {"argv": argv, "port": free_port(), **extra}


def reference_trainer(cfg: Config, world: int, monkeypatch):
    """A single-process trainer with the global batch, drawn from the ``world`` ranks' own streams:
    rank r's share of every real batch, noise batch and penalty draw from rank r's generators."""
    session = Session.create(cfg, write=False)
    t = session.trainer
    seed, share = cfg.train.seed, cfg.train.batch_size // world
    noise = [torch.Generator().manual_seed(derive_seed(seed, "noise", rank=r, world=world))
             for r in range(world)]
    data = []
    for r in range(world):
        sampler = copy.copy(t.sampler)
        sampler.generator = torch.Generator().manual_seed(derive_seed(seed, "data", rank=r, world=world))
        data.append(sampler)
    t._noise = lambda n: torch.cat([torch.randn(n // world, t.z_dim, generator=g) for g in noise])
    t.sampler.sample = lambda n: torch.cat([s.sample(n // world) for s in data])

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.cat([torch.rand((share, *shape), generator=g) for g in noise])

    def gradient_penalty(critic, real, fake, *, generator=None):
        eps = draw((1,) * (real.dim() - 1))
        return _penalty_at(critic, eps * real.detach() + (1 - eps) * fake.detach())

    def dragan_penalty(critic, real, *, generator=None, std=None):
        real = real.detach()
        u = torch.cat([torch.rand((share, *real.shape[1:]), generator=g) for g in noise])
        alpha = draw((1,) * (real.dim() - 1))
        perturbed = real + 0.5 * real.std() * u
        return _penalty_at(critic, real + alpha * (perturbed - real))

    monkeypatch.setattr(trainer_module, "gradient_penalty", gradient_penalty)
    monkeypatch.setattr(trainer_module, "dragan_penalty", dragan_penalty)
    return t


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
