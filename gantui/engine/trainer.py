"""The GAN trainer: Algorithm 1 of Goodfellow et al. (2014), steerable between iterations.

One iteration is ``k`` D-steps, each on a fresh real minibatch and fresh noise, then one G-step.
Everything a step measures stays on the device: it is added to two accumulators, and a read-out
closes the window (:mod:`gantui.engine.readout`): on CUDA without waiting for the GPU, elsewhere at
once. Never one host-device synchronisation per step.

On CUDA each player's step is captured in a CUDA graph and replayed (:mod:`gantui.engine.graphs`);
everywhere else, and whenever capture is not possible, it runs eagerly. Host-side counters advance
the same way in both modes.

A conditional run (a class label, or InfoGAN's codes) goes through the same steps: ``self.cond``
(:mod:`gantui.engine.cond`) says what each batch is conditioned on, how G and D take it, and what
each player's cost adds to the loss's own terms; for an unconditional run it adds nothing.

What a trainer can be asked without training it (read-outs, display samples, its state tensors)
is :mod:`gantui.engine.trainer_state`. The trainer is plain synchronous code with no thread and no
UI; :mod:`gantui.engine.runner` drives it.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from gantui.config import Config
from gantui.engine.compiling import compiled_players
from gantui.engine.cond import build_condition
from gantui.engine.device import bind_training_thread, wants_channels_last
from gantui.engine.graphs import CudaBackend, IterationGraph, Key, graph_blocker
from gantui.engine.losses import Loss, configure
from gantui.engine.optim import (
    attach_lr,
    group_key,
    keep_implementation_flags,
    keep_live_lr,
    lr_tensor,
    make_optimizer,
    set_lr,
)
from gantui.engine.penalties import dragan_penalty, gradient_penalty
from gantui.engine.quality.ema import EMA
from gantui.engine.readout import D_SLOTS, G_SLOTS, Readouts
from gantui.engine.trainer_state import TrainerState

if TYPE_CHECKING:
    from gantui.engine.distributed.team import Team

__all__ = ["D_SLOTS", "EVAL_BATCH", "G_SLOTS", "Knobs", "Trainer"]

EVAL_BATCH = 512  # held-out batch for the divergence read-out, at most (see Trainer.eval_batch)
EVAL_BATCHES = 4  # ... and at most this many training batches: the read-out's cost follows the model's


@dataclass
class Knobs:
    """What the user can change between iterations."""

    k: int
    loss: str
    lr_d: float
    lr_g: float
    frozen_d: bool = False
    frozen_g: bool = False


class Trainer(TrainerState):
    """Owns G, D, their optimisers, the loss and the step counters of one run."""

    def __init__(self, cfg: Config, *, sampler, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.sampler = sampler
        self.batch_size: int = cfg.train.batch_size
        # A DCGAN at batch 16 on a CPU spent a fifth of its time on a 512-sample read-out every window.
        self.eval_batch = min(EVAL_BATCH, EVAL_BATCHES * self.batch_size)
        self.z_dim: int = cfg.model.z_dim
        self.gp_weight: float = cfg.loss.gp_weight
        self.clip: float = cfg.loss.clip
        self.cond = build_condition(cfg.cond, sampler=sampler, device=device)
        self.G, self.D = self.cond.build_models(cfg.model, data_shape=tuple(sampler.shape))
        self.G.to(device)
        self.D.to(device)
        if wants_channels_last(cfg.model.name, device):
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
            if hasattr(sampler, "use_channels_last"):  # a no-op when build_sampler stored it so
                sampler.use_channels_last()
        # The moving average of G's weights that StyleGAN and BigGAN evaluate (train.g_ema > 0): updated
        # after every G-step by one fused lerp, outside any captured graph.
        self.ema: EMA | None = EMA(self.G, cfg.train.g_ema) if cfg.train.g_ema > 0 else None
        # bf16 autocast on CUDA only; D's outputs, losses and metrics stay float32.
        self.amp = cfg.train.amp == "bf16" and device.type == "cuda"
        self.compile_mode: str = getattr(cfg.train, "compile", "off")
        self._g_net, self._d_net, self._step_begin = compiled_players(
            self.G, self.D, mode=self.compile_mode, device=device)
        blocked = graph_blocker(enabled=cfg.train.cuda_graph, device=device, sampler=sampler,
                                compile_mode=self.compile_mode)
        self._capturable = blocked is None
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        self.knobs = Knobs(k=cfg.train.k, loss=cfg.loss.name, lr_d=cfg.train.lr_d, lr_g=cfg.train.lr_g,
                           frozen_d=cfg.train.freeze_d, frozen_g=cfg.train.freeze_g)
        self.loss: Loss = self._configure_loss(cfg.loss.name)
        # The learning rates the optimisers read on the device (see gantui.engine.optim).
        self.lr_tensors = {"d": lr_tensor(cfg.train.lr_d, device), "g": lr_tensor(cfg.train.lr_g, device)}
        self.opt_d = self._optimizer(self.d_params, "d")
        self.opt_g = self._optimizer(self.g_params, "g")
        # The noise stream of training; sample grids always use the same fixed batch.
        self.noise = torch.Generator(device=device)
        self.noise.manual_seed(cfg.train.seed + 1)
        self.fixed_noise = torch.randn(64, self.z_dim, device=device, generator=self.noise)
        self.step = 0  # completed iterations
        self.d_steps = 0
        self.g_steps = 0
        self._acc_d = torch.zeros(len(D_SLOTS), device=device)
        self._acc_g = torch.zeros(len(G_SLOTS), device=device)
        self._n_d = 0
        self._n_g = 0
        self._zero = torch.zeros((), device=device)
        self._readouts = Readouts(device)
        self._thread: int | None = None  # the thread the training budget was given to
        # Data parallelism (gantui.engine.distributed) sets this; a single process leaves it None.
        self.ranks: Team | None = None
        self.graph = IterationGraph(
            blocked=blocked, backend=CudaBackend(device) if blocked is None else None,
            optimizers=lambda: (self.opt_d, self.opt_g),
            release_d=lambda: self._release_grads(self.d_params),
            release_g=lambda: self._release_grads(self.g_params))

    # ----------------------------------------------------------------------------------- set-up
    def _configure_loss(self, name: str) -> Loss:
        loss = configure(name, lsgan_coding=self.cfg.loss.lsgan_coding, fgan_g=self.cfg.loss.fgan_g)
        return self.cond.describe(loss)

    def _optimizer(self, params: list[nn.Parameter], player: str) -> torch.optim.Optimizer:
        t = self.cfg.train
        live, lr = self.lr_tensors[player], self._lr(player)
        opt = make_optimizer(t.optimizer, params, lr=lr, betas=(t.beta1, t.beta2), device=self.device,
                             capturable=self._capturable)
        live.fill_(lr)
        attach_lr(opt, live)
        # A loaded state replaces the optimiser's state tensors, which a captured graph still points at,
        # and its parameter groups, whose lr must stay the live tensor.
        opt.register_load_state_dict_pre_hook(keep_implementation_flags)
        opt.register_load_state_dict_post_hook(lambda o: keep_live_lr(o, live))
        opt.register_load_state_dict_post_hook(lambda _opt: self.invalidate_graph())
        return opt

    def _lr(self, player: str) -> float:
        return self.knobs.lr_d if player == "d" else self.knobs.lr_g

    @staticmethod
    def _release_grads(params: list[nn.Parameter]) -> None:
        for p in params:
            p.grad = None

    # ---------------------------------------------------------------------------- CUDA graph
    @property
    def graph_status(self) -> str:
        """One line for the log: whether steps are CUDA-graph replays, and why not."""
        return self.graph.status

    def invalidate_graph(self) -> None:
        """Re-capture before the next replay (call after replacing any tensor a step uses)."""
        self.graph.invalidate()

    def _d_key(self) -> Key:
        """Everything the D-step's Python reads once and a capture bakes in (see graphs.py)."""
        values, tensors = group_key(self.opt_d)
        penalty, clip = self.loss.penalty, self.loss.clip_weights
        return ((self.batch_size, self.amp, penalty, self.gp_weight if penalty else None,
                 self.clip if clip else None, values),
                (self.loss, self.G, self.D, self.sampler, getattr(self.sampler, "data", None), self.opt_d,
                 self.opt_d.state, self._acc_d, self._zero, self.noise, *tensors))

    def _g_key(self) -> Key:
        values, tensors = group_key(self.opt_g)
        real = self.loss.needs_real_in_g
        return ((self.batch_size, self.amp, real, values),
                (self.loss, self.G, self.D, self.sampler if real else None, self.opt_g, self.opt_g.state,
                 self._acc_g, self.noise, *tensors))

    def _mixed(self) -> contextlib.AbstractContextManager:
        # No autocast weight cache: cached casts and graph replays do not mix (pytorch#84289).
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def _critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D for the gradient penalties: the plain module (they differentiate it twice), judging the
        interpolates with the real batch's labels ``y`` in a conditional run."""
        with self._mixed():
            return self.cond.score(self.D, x, y).float()

    # ------------------------------------------------------------------------------- steering
    def set_k(self, k: int) -> None:
        if not 1 <= k <= 100:
            raise ValueError(f"k = {k}: expected 1 to 100")
        self.knobs.k = k

    def set_loss(self, name: str, *, reset_optimizers: bool = False) -> None:
        """Switch the objective. D keeps returning raw v; the new loss interprets it."""
        self.loss = self._configure_loss(name)
        self.knobs.loss = name
        if reset_optimizers:
            self.opt_d = self._optimizer(self.d_params, "d")
            self.opt_g = self._optimizer(self.g_params, "g")

    def set_lr(self, player: str, lr: float) -> None:
        """A new learning rate from the next step on: a ``fill_`` of the live tensor where the optimiser
        reads one (no re-capture), else a new Python float (that player's step is re-captured)."""
        if not (math.isfinite(lr) and 0.0 <= lr <= 10.0):
            raise ValueError(f"learning rate {lr!r}: expected a number from 0 to 10")
        if player == "d":
            self.knobs.lr_d = lr
            set_lr(self.opt_d, lr)
        else:
            self.knobs.lr_g = lr
            set_lr(self.opt_g, lr)

    def freeze(self, player: str, frozen: bool) -> None:
        if player == "d":
            self.knobs.frozen_d = frozen
        else:
            self.knobs.frozen_g = frozen

    # ---------------------------------------------------------------------------- the game
    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device, generator=self.noise)

    def _on_training_thread(self) -> None:
        """Once per thread that trains: its intra-op budget (see device.configure_threads), and on
        CUDA its current device (torch.cuda.graph synchronises and empties the cache of that one)."""
        ident = threading.get_ident()
        if ident != self._thread:
            self._thread = ident
            bind_training_thread()
            if self.device.type == "cuda" and self.device.index is not None:
                torch.cuda.set_device(self.device)

    def _latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's input for n fakes: noise z and the condition c (None for an unconditional run)."""
        return self._noise(n), self.cond.condition(n, self.noise)

    def d_step(self) -> None:
        """One discriminator update on a fresh real minibatch and fresh noise."""
        self._on_training_thread()
        self.graph.d.run(self._d_update, self._d_key)
        self._n_d += 1
        self.d_steps += 1

    def g_step(self) -> None:
        """One generator update. Only G's gradients are computed: D's weights get none."""
        self._on_training_thread()
        self.graph.g.run(self._g_update, self._g_key)
        self._n_g += 1
        self.g_steps += 1
        if self.ema is not None:
            self.ema.update()

    def _d_update(self) -> None:
        """A D-step's device work, with no host-side bookkeeping (so a graph can capture it)."""
        self._step_begin()
        real, y_real = self.cond.real(self.sampler, self.batch_size)
        z, c = self._latent(self.batch_size)
        with self._mixed():
            with torch.no_grad():
                fake = self.cond.fake(self._g_net, z, c)
            v_real, aux_real = self.cond.judge(self._d_net, real, y_real)
            v_fake, aux_fake = self.cond.judge(self._d_net, fake, c)
        loss_d = self.loss.d_loss(v_real, v_fake)
        total, gp = loss_d, self._zero
        if self.loss.penalty == "wgan-gp":  # interpolates are judged with the real batch's labels
            gp, _ = gradient_penalty(lambda x: self._critic(x, y_real), real, fake, generator=self.noise)
            total = loss_d + self.gp_weight * gp
        elif self.loss.penalty == "dragan":
            std = None if self.ranks is None else self.ranks.batch_std(real)
            gp, _ = dragan_penalty(lambda x: self._critic(x, y_real), real, generator=self.noise, std=std)
            total = loss_d + self.gp_weight * gp
        extra = self.cond.d_term(aux_real, y_real, aux_fake, c)
        if extra is not None:
            total = total + extra
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        if self.ranks is not None:
            self.ranks.gradients(self.d_params)  # every rank steps with the global batch's gradient
        with torch.no_grad():
            grad_norm = torch.linalg.vector_norm(
                torch.stack(torch._foreach_norm([p.grad for p in self.d_params if p.grad is not None])))
        self.opt_d.step()
        if self.loss.clip_weights:
            with torch.no_grad():
                torch._foreach_clamp_min_(self.d_params, -self.clip)
                torch._foreach_clamp_max_(self.d_params, self.clip)
        with torch.no_grad():  # one stack for both batches: [σ(v_r), σ(v_f), v_r, v_f] means in 4 kernels
            v = torch.stack([v_real, v_fake])
            means = torch.cat([v.sigmoid(), v]).mean(dim=1)
            self._acc_d.add_(torch.cat([means, torch.stack([loss_d, gp, grad_norm])]))

    def _g_update(self) -> None:
        """A G-step's device work, with no host-side bookkeeping."""
        self._step_begin()
        z, c = self._latent(self.batch_size)
        with self._mixed():
            v_fake, aux_fake = self.cond.judge(self._d_net, self.cond.fake(self._g_net, z, c), c)
            v_real = None
            if self.loss.needs_real_in_g:
                with torch.no_grad():
                    real, y_real = self.cond.real(self.sampler, self.batch_size)
                    v_real = self.cond.score(self._d_net, real, y_real).float()
        loss_g = self.loss.g_loss(v_fake, v_real)
        extra = self.cond.g_term(aux_fake, c)
        # backward(inputs=...): G's gradients only, laid out like G's parameters (channels-last
        # included), as AccumulateGrad guarantees and CUDA's fused Adam checks.
        self.opt_g.zero_grad(set_to_none=True)
        (loss_g if extra is None else loss_g + extra).backward(inputs=self.g_params)
        if self.ranks is not None:
            self.ranks.gradients(self.g_params)
        with torch.no_grad():
            grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(
                [p.grad for p in self.g_params if p.grad is not None])))
        self.opt_g.step()
        with torch.no_grad():
            self._acc_g.add_(torch.stack([loss_g, grad_norm]))

    def iteration(self) -> None:
        """Algorithm 1: k D-steps, then one G-step (a frozen player's steps are skipped).

        The counters advance on the host after the device work, identically whether that work ran
        eagerly or as graph replays.
        """
        self._on_training_thread()
        k = self.knobs
        n_d = 0 if k.frozen_d else k.k
        if n_d:
            run = self.graph.d.run
            key = self._d_key() if self.graph.enabled else None  # once per iteration, not per step
            for _ in range(n_d):
                run(self._d_update, lambda: key)
        if not k.frozen_g:
            self.graph.g.run(self._g_update, self._g_key)
        n_g = 0 if k.frozen_g else 1
        self._n_d += n_d
        self.d_steps += n_d
        self._n_g += n_g
        self.g_steps += n_g
        self.step += 1
        if self.ema is not None and n_g:
            self.ema.update()
