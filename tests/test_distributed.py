"""Data-parallel training on real rank processes (gloo on the CPU), as CI runs them.

One pair of ranks runs most scenarios one after another (each process imports torch once); the
faults need ranks of their own. Every process has a wall-clock limit and every collective a 20 s
timeout (tests/ddp_helpers.py): a hang fails the test.

Tolerance of the matches: 1e-6 in every parameter. A world-size-2 run and the single process with the
global batch differ only in the order of float32 sums (a mean of two half-batch means, against one
mean); measured: 3e-8 for the MLP, 2e-7 with WGAN-GP. Training on one rank's half batch alone (no
averaging) moves the same parameters by more than 1e-3, which the tests check too.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from gantui.cli import main
from gantui.engine.checkpoint import load
from tests.ddp_helpers import job, max_difference, reference_trainer, run_ranks
from tests.engine_helpers import smoke_config

TOLERANCE = 1e-6
MATCH = ["train.optimizer=sgd", "train.lr_d=0.05", "train.lr_g=0.05", "train.batch_size=32",
         "log.checkpoint_every=15", "log.png_every=0", "log.probe_every=0"]
STEPS = 30
DCGAN = ["data.name=fake", "data.image_size=32", "data.channels=1", "data.fake_size=64", "model.name=dcgan",
         "model.width=4", "model.z_dim=8", "train.batch_size=8", "log.every=3", "log.png_every=0",
         "log.checkpoint_every=0", "train.lr_d=0.01", "train.lr_g=0.01"]


def _argv(run_dir: Path, sets: list[str], *, steps: int, preset: str = "smoke") -> list[str]:
    out = ["--headless", "--preset", preset, "--steps", str(steps), "--run-dir", str(run_dir)]
    for s in sets:
        out += ["--set", s]
    return out


POISON = ["log.checkpoint_every=0", "log.png_every=0", "log.probe_every=0"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """One pair of ranks through the scenarios, one after another (the ones that end a rank last)."""
    tmp = tmp_path_factory.mktemp("ddp")
    dump = str(tmp / "rank{rank}-{name}.pt")
    jobs = {
        "mlp": job(_argv(tmp / "mlp", MATCH, steps=STEPS)),
        "wgan-gp": job(_argv(tmp / "wgan-gp", [*MATCH, "loss.name=wgan-gp"], steps=STEPS)),
        "dragan": job(_argv(tmp / "dragan", [*MATCH, "loss.name=dragan"], steps=STEPS)),
        "resumed": job(["--headless", "--resume", str(tmp / "mlp" / "checkpoints" / "periodic-0000015.pt"),
                        "--run-dir", str(tmp / "mlp-resumed")]),
        "bn": job(_argv(tmp / "bn", DCGAN, steps=6), dump=dump.replace("{name}", "bn")),
        "bn-shared": job(_argv(tmp / "bn-shared", [*DCGAN, "train.sync_bn=true"], steps=6)),
        "commands": job(_argv(tmp / "commands", ["log.probe_steps=20", "log.checkpoint_every=50"],
                              steps=100_000),
                        dump=dump.replace("{name}", "commands"), script="commands",
                        script_out=str(tmp / "commands.json")),
        "cgan": job(_argv(tmp / "cgan", [*POISON, "log.every=3", "cond.eval_every=0"], steps=6,
                          preset="digits-cgan"), dump=dump.replace("{name}", "cgan")),
        "nan": job(_argv(tmp / "nan", POISON, steps=60), poison_at=25, dump=dump.replace("{name}", "nan")),
        "follower-raises": job(_argv(tmp / "follower-raises", POISON, steps=100_000), poison_at=40,
                               poison="raise"),
        "rank0-raises": job(_argv(tmp / "rank0-raises", POISON, steps=100_000), poison_at=40, poison="raise",
                            poison_rank=0),
    }
    run = run_ranks(list(jobs.values()), tmp, timeout=150.0)
    assert run.results[0] is not None and run.results[1] is not None, run.stderr
    run.names = list(jobs)
    return run, tmp


def _status(run, name: str) -> tuple[int | None, int | None]:
    index = run.names.index(name)
    return run.status(0, index), run.status(1, index)


def _final(folder: Path, step: int) -> dict:
    return load(folder / "checkpoints" / f"final-{step:07d}.pt")


def _train_reference(sets: list[str], monkeypatch, *, world: int = 2, steps: int = STEPS):
    t = reference_trainer(smoke_config(*sets), world, monkeypatch)
    for _ in range(steps):
        t.iteration()
    return t


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp", "dragan"])
def test_two_ranks_match_one_process_with_the_global_batch(pair, loss, monkeypatch) -> None:
    run, tmp = pair
    assert _status(run, "mlp" if loss == "nonsaturating" else loss) == (0, 0)
    folder = tmp / ("mlp" if loss == "nonsaturating" else loss)
    saved = _final(folder, STEPS)
    sets = [*MATCH, f"loss.name={loss}"]
    ref = _train_reference(sets, monkeypatch)
    assert max_difference(saved["G"], ref.G.state_dict()) < TOLERANCE
    assert max_difference(saved["D"], ref.D.state_dict()) < TOLERANCE
    alone = reference_trainer(smoke_config(*sets, "train.batch_size=16"), 1, monkeypatch)
    for _ in range(STEPS):
        alone.iteration()
    assert max_difference(saved["D"], alone.D.state_dict()) > 1e-3  # the tolerance can fail


def test_a_two_rank_checkpoint_continues_exactly_on_two_ranks(pair) -> None:
    run, tmp = pair
    assert _status(run, "resumed") == (0, 0)
    uninterrupted, resumed = _final(tmp / "mlp", STEPS), _final(tmp / "mlp-resumed", STEPS)
    assert resumed["ranks"]["world"] == 2 and len(resumed["ranks"]["streams"]["noise"]) == 2
    for player in ("G", "D", "opt_d", "opt_g"):
        a, b = uninterrupted[player], resumed[player]
        flat_a, flat_b = list(_tensors(a)), list(_tensors(b))
        assert len(flat_a) == len(flat_b)
        assert all(torch.equal(x, y) for x, y in zip(flat_a, flat_b, strict=True))


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _tensors(obj[key])
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)


def test_a_batchnorm_dcgan_trains_and_the_ranks_agree(pair) -> None:
    run, tmp = pair
    assert _status(run, "bn") == (0, 0)
    saved = _final(tmp / "bn", 6)
    follower = torch.load(tmp / "rank1-bn.pt", weights_only=True)
    for player in ("G", "D"):
        assert any("running_var" in key for key in saved[player])
        for key, value in saved[player].items():
            assert torch.equal(value, follower[player][key]), key  # buffers too: averaged at read-outs
            assert not value.is_floating_point() or bool(value.isfinite().all())
    rows = [json.loads(line) for line in (tmp / "bn" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]


def test_a_conditional_gan_trains_on_two_ranks_and_they_agree(pair) -> None:
    """Rank 0 sends its state with the run's configuration: a follower checks the cond.kind it holds."""
    run, tmp = pair
    assert _status(run, "cgan") == (0, 0), run.stderr[1][-2000:]
    saved = _final(tmp / "cgan", 6)
    follower = torch.load(tmp / "rank1-cgan.pt", weights_only=True)
    for player in ("G", "D"):
        assert any("embed" in key for key in saved[player])  # the label embeddings trained too
        assert all(torch.equal(v, follower[player][k]) for k, v in saved[player].items())


def test_shared_batchnorm_matches_one_process_with_the_global_batch(pair, monkeypatch) -> None:
    run, tmp = pair
    assert _status(run, "bn-shared") == (0, 0)
    saved = _final(tmp / "bn-shared", 6)
    ref = reference_trainer(smoke_config(*DCGAN, "train.steps=6"), 2, monkeypatch)
    for _ in range(6):
        ref.iteration()
    for player, module in (("G", ref.G), ("D", ref.D)):
        assert max_difference(saved[player], module.state_dict()) < 1e-5
    plain = _final(tmp / "bn", 6)  # BatchNorm of each rank's half batch: another run
    assert max_difference(saved["D"], plain["D"]) > 1e-4


def test_every_command_applies_at_the_same_step_on_both_ranks(pair) -> None:
    run, tmp = pair
    assert _status(run, "commands") == (0, 0), run.stderr[1][-2000:]
    script = json.loads((tmp / "commands.json").read_text())
    follower = run.log(1)
    knob_kinds = {"k", "lr_d", "lr_g", "loss", "freeze"}
    rank0 = sorted((e["step"], e["detail"]) for e in script["applied"] if e["kind"] in knob_kinds)
    rank1 = sorted((int(m[1]), m[2]) for line in follower
                   if (m := re.fullmatch(r"step (\d+): ((?:k|lr_d|lr_g|loss) .*|[DG] (?:un)?frozen)", line)))
    assert len(rank0) >= 7 and rank0 == rank1
    singles = sorted((s["step"], s["reason"].removeprefix("one ")) for s in script["single_steps"]
                     if s["reason"] != "one iteration")
    followed = sorted((int(m[1]), m[2]) for line in follower
                      if (m := re.fullmatch(r"step (\d+): one ([DG]-step)", line)))
    assert singles == followed
    rollback = next(e for e in script["applied"] if e["kind"] == "rollback")
    moved = re.search(r"from step (\d+) to (\d+)", rollback["detail"].replace(",", ""))
    before, after = map(int, moved.groups())
    assert f"step {after}: state from rank 0 (was at step {before}), its saved random streams" in follower
    assert any(line.endswith(": checkpoint (random streams sent)") for line in follower)
    final = load(sorted((tmp / "commands" / "checkpoints").glob("final-*.pt"))[-1])
    dumped = torch.load(tmp / "rank1-commands.pt", weights_only=True)
    assert dumped["knobs"] == script["knobs"] == final["knobs"]
    assert dumped["step"] == final["step"]
    for player in ("G", "D"):
        assert all(torch.equal(v, dumped[player][k]) for k, v in final[player].items())


def test_a_blow_up_on_one_rank_is_handled_on_every_rank(pair) -> None:
    run, tmp = pair
    assert _status(run, "nan") == (3, 0)  # rank 0: "training failed", the last good state saved
    saved = load(sorted((tmp / "nan" / "checkpoints").glob("last-good-*.pt"))[-1])
    dumped = torch.load(tmp / "rank1-nan.pt", weights_only=True)
    assert dumped["step"] == saved["step"] < 60
    for player in ("G", "D"):
        assert all(torch.equal(v, dumped[player][k]) for k, v in saved[player].items())
    assert any(re.fullmatch(r"step \d+: state from rank 0 \(was at step \d+\), its own random streams", line)
               for line in run.log(1))
    events = [json.loads(line) for line in (tmp / "nan" / "events.jsonl").read_text().splitlines()]
    failure = next(e for e in events if e["kind"] == "failure")
    assert "became non-finite" in failure["detail"] and failure["step"] == saved["step"]


def test_a_two_rank_checkpoint_resumes_in_one_process(pair, tmp_path, cli_env, monkeypatch) -> None:
    _run, tmp = pair
    folder = tmp_path / "one"
    shutil.copytree(tmp / "mlp", folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", cli_env["XDG_CONFIG_HOME"])
    assert main(["--headless", "--resume", str(folder), "--steps", "40"]) == 0
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    change = next(e for e in events if e["kind"] == "config" and "ranks" in e["detail"])
    assert change["step"] == STEPS
    assert change["detail"].startswith("2 ranks → one process (set on resume): the global batch stays 32, "
                                       "16 → 32 samples per rank")
    assert load(folder / "checkpoints" / "final-0000040.pt")["step"] == 40


@pytest.mark.parametrize("who", ["follower", "rank0"])
def test_a_rank_that_raises_inside_a_step_stops_every_rank_with_a_checkpoint(pair, who) -> None:
    run, tmp = pair
    name = f"{who}-raises"
    index = run.names.index(name)
    assert _status(run, name) == (3, 3)  # both: training failed
    assert max(run.seconds(0, index), run.seconds(1, index)) < 20.0  # no rank waits for a timeout
    saved = sorted((tmp / name / "checkpoints").glob("last-good-*.pt"))
    assert saved and load(saved[-1])["step"] > 0
    if who == "follower":
        assert "RuntimeError: injected failure in the real data" in run.stderr[1]
        assert "rank 1 of 2 stopped answering" in run.stdout[0]
    else:
        assert "injected failure in the real data" in run.stdout[0]
        assert "rank 0 of 2 stopped answering" in run.stderr[1]
