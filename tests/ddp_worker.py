"""One rank of a data-parallel test run: ``python -m tests.ddp_worker JOBS.json`` (see tests/ddp_helpers.py).

Each job is one ``gantui`` command line run by this rank through ``gantui.cli.main``, with what the
test needs around it: a port of its own, the followers' final players dumped to a file (followers
write nothing themselves), rank 0's run scripted with commands, or a NaN injected into one rank's
real data. Each job's exit status and seconds are written to ``RESULTS/rank-R.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _dump_followers(path: str):
    import torch

    from gantui.engine.distributed.follower import Follower

    follow = Follower.follow

    def follow_and_dump(self) -> int:
        status = follow(self)
        t = self.trainer
        torch.save({"G": t.G.state_dict(), "D": t.D.state_dict(), "step": t.step,
                    "knobs": vars(t.knobs).copy()}, path.format(rank=self.rank))
        return status

    Follower.follow = follow_and_dump
    return lambda: setattr(Follower, "follow", follow)


def _poison(call: int, *, how: str):
    """At this rank's ``call``-th draw of real data, the data turns NaN (a blow-up on one rank) or the
    draw raises (a rank that fails inside a step)."""
    from gantui.engine.data.samplers import ToySampler

    sample = ToySampler.sample
    calls = [0]

    def poisoned(self, n: int):
        calls[0] += 1
        out = sample(self, n)
        if calls[0] == call and how == "raise":
            raise RuntimeError("injected failure in the real data")
        return out * float("nan") if calls[0] == call else out

    ToySampler.sample = poisoned
    return lambda: setattr(ToySampler, "sample", sample)


def _script(name: str, out: str):
    import gantui.headless
    from tests import ddp_scripts

    run_headless = gantui.headless.run_headless
    gantui.headless.run_headless = lambda session, console=None: getattr(ddp_scripts, name)(session, out)
    return lambda: setattr(gantui.headless, "run_headless", run_headless)


def main() -> int:
    jobs = json.loads(Path(sys.argv[1]).read_text())
    rank = int(os.environ["RANK"])
    results = []
    from gantui.cli import main as gantui_main

    for job in jobs:
        os.environ["MASTER_PORT"] = str(job["port"])
        undo = []
        if job.get("dump") and rank > 0:
            undo.append(_dump_followers(job["dump"]))
        if job.get("poison_at") and rank == job.get("poison_rank", 1):
            undo.append(_poison(job["poison_at"], how=job.get("poison", "nan")))
        if job.get("script") and rank == 0:
            undo.append(_script(job["script"], job["script_out"]))
        start = time.monotonic()
        results.append([gantui_main(job["argv"]), time.monotonic() - start])
        for restore in undo:
            restore()
    Path(os.environ["GANTUI_TEST_RESULTS"], f"rank-{rank}.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
