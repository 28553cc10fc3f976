"""Starting a data-parallel run: rank 0 builds the run as one process would, the others copy it.

Rank 0 reads the preset or the checkpoint, opens the run folder and builds its session; then it sends
the resolved configuration and its state to the other ranks (``START``), which build theirs from it.
So only rank 0 ever reads a checkpoint or writes a file, every rank starts from rank 0's exact state
(as StyleGAN3 broadcasts its weights once), and a mistake rank 0 finds is one line from rank 0 while
the others leave with its exit status (``ABORT``), instead of waiting for a rank that never comes.
"""

from __future__ import annotations

import os

import torch

from gantui.config import Config, ConfigError, resolve
from gantui.engine import checkpoint as ckpt
from gantui.engine.distributed.control import Channel, Message, Op, Streams, pack, unpack
from gantui.engine.distributed.follower import Follower, OutOfStep
from gantui.engine.distributed.group import Ranks
from gantui.engine.distributed.leader import Leader, streams_table
from gantui.engine.distributed.seeds import check_batch, give_streams, take_streams
from gantui.engine.distributed.sync import share_batchnorm
from gantui.engine.distributed.team import wrap_steps

__all__ = ["GRAPH_STATUS", "abort", "check_config", "describe", "follow_start", "lead_start"]

GRAPH_STATUS = ("off: data-parallel ranks synchronise inside every step (collectives are not captured "
                "in CUDA graphs)")


def check_config(config: Config, world: int) -> None:
    """ConfigError (one line) for what a run of ``world`` ranks cannot take."""
    try:
        check_batch(config.train.batch_size, world)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    device = config.train.device
    if device.startswith("cuda:"):
        raise ConfigError(f"train.device = '{device}': each data-parallel rank trains on its own GPU "
                          "(cuda:LOCAL_RANK): use --device cuda or auto")
    if device == "mps":
        raise ConfigError("train.device = 'mps': data-parallel training needs CUDA or the CPU")


def _prepare(trainer, config: Config, ranks: Ranks) -> None:
    """What every rank changes in its freshly built trainer: its share of the batch, shared
    BatchNorm if asked, no CUDA graphs, and (on the CPU) its share of the cores."""
    trainer.batch_size = check_batch(config.train.batch_size, ranks.world)
    if config.train.sync_bn:
        share_batchnorm(trainer.G)
        share_batchnorm(trainer.D)
    trainer.graph.disable(GRAPH_STATUS)
    if trainer.device.type == "cpu" and config.train.threads == 0 and ranks.world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks.world))


def describe(ranks: Ranks, trainer, config: Config) -> str:
    where = f"{trainer.device.type.upper()} {'GPUs' if trainer.device.type == 'cuda' else 'processes'}"
    shared = "; BatchNorm statistics of the global batch" if config.train.sync_bn else ""
    return (f"data parallel: {ranks.world} ranks ({where}, {ranks.backend}), global batch "
            f"{config.train.batch_size} = {ranks.world} × {trainer.batch_size}{shared}; CUDA graphs off")


def lead_start(session, ranks: Ranks, *, resumed=None) -> Leader:
    """Rank 0: make ``session`` data-parallel and send it to the other ranks."""
    cfg, t = session.config, session.trainer
    _prepare(t, cfg, ranks)
    table = None
    if resumed is None:
        give_streams(t, seed=cfg.train.seed, rank=0, world=ranks.world)
    else:  # rank 0's own streams came back with the checkpoint
        table = streams_table(resumed.state, ranks.world)
    leader = Leader(ranks, t, sync_bn=cfg.train.sync_bn)
    state = ckpt.capture(t, config=cfg.as_dict(), history=[])
    payload = pack({"config": cfg.as_dict(), "preset": cfg.preset, "state": state, "streams": table})
    leader.announce(Op.START, payload, mode=int(Streams.TABLE if table else Streams.DERIVE))
    leader.announced = False
    t.ranks = leader
    wrap_steps(t, leader)
    session.notes.append(describe(ranks, t, cfg))
    return leader


def abort(ranks: Ranks, status: int) -> None:
    """Rank 0 could not start the run: the others leave with ``status``."""
    channel = Channel(ranks.control)
    channel.send(Message(op=Op.ABORT, seq=1, mode=status))
    channel.flush()


def follow_start(ranks: Ranks) -> Follower | int:
    """Ranks > 0: build this rank's trainer from rank 0's START, or return rank 0's exit status."""
    from gantui.engine.session import Session

    message, payload = Channel(ranks.control).receive()
    if message.op is Op.ABORT:
        return message.mode
    if message.op is not Op.START:
        raise OutOfStep(f"rank {ranks.rank}: expected the start of the run, got {message.op.name}")
    sent = unpack(payload)
    config = resolve(sent["config"], source="rank 0's configuration", preset=str(sent["preset"]))
    session = Session.create(config, write=False)
    t = session.trainer
    _prepare(t, config, ranks)
    ckpt.restore(t, sent["state"], path="rank 0's state")
    table = sent.get("streams")
    if not (message.mode == Streams.TABLE and table
            and take_streams(t, {name: per_rank[ranks.rank] for name, per_rank in table.items()})):
        give_streams(t, seed=config.train.seed, rank=ranks.rank, world=ranks.world, step=t.step)
    follower = Follower(ranks, t, sync_bn=config.train.sync_bn, seed=config.train.seed, seq=message.seq)
    t.ranks = follower
    wrap_steps(t, follower)
    return follower
