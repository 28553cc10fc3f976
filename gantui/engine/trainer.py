"""The GAN trainer: Algorithm 1 of Goodfellow et al. (2014), steerable between iterations.

One iteration is ``k`` D-steps, each on a fresh real minibatch and fresh noise, then one G-step.
Everything a step measures stays on the device: it is added to two accumulators, and
:meth:`Trainer.readout` turns them into Python floats once per logging window — one host-device
synchronisation per window, never one per step.

On CUDA the device work of a whole iteration is captured in one CUDA graph and replayed
(:mod:`gantui.engine.graphs`); everywhere else, and whenever capture is not possible, it runs eagerly.
Host-side counters advance the same way in both modes.

A conditional run (a class label, or InfoGAN's codes) goes through the same steps: ``self.cond``
(:mod:`gantui.engine.cond`) says what each batch is conditioned on, how G and D take it, and what
each player's cost adds to the loss's own terms; for an unconditional run it adds nothing.

The trainer is plain synchronous code with no thread and no UI; :mod:`gantui.engine.runner` drives it.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from gantui.config import Config
from gantui.engine.cond import build_condition
from gantui.engine.graphs import (
    CudaBackend,
    IterationGraph,
    graph_blocker,
    keep_implementation_flags,
    make_optimizer,
)
from gantui.engine.losses import Loss, configure
from gantui.engine.penalties import dragan_penalty, gradient_penalty
from gantui.engine.rng import frozen_buffers, isolated_rng

# Per-D-step slots of the device accumulator, and per-G-step slots.
D_SLOTS = ("d_real", "d_fake", "v_real", "v_fake", "loss_d", "gp", "grad_norm_d")
G_SLOTS = ("loss_g", "grad_norm_g")
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


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


class Trainer:
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
        if device.type == "cuda" and cfg.model.name == "dcgan":  # NHWC suits cuDNN's tensor-core kernels
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # bf16 autocast on CUDA only; D's outputs, losses and metrics stay float32.
        self.amp = cfg.train.amp == "bf16" and device.type == "cuda"
        blocked = graph_blocker(enabled=cfg.train.cuda_graph, device=device, sampler=sampler)
        self._capturable = blocked is None
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        self.knobs = Knobs(k=cfg.train.k, loss=cfg.loss.name, lr_d=cfg.train.lr_d, lr_g=cfg.train.lr_g,
                           frozen_d=cfg.train.freeze_d, frozen_g=cfg.train.freeze_g)
        self.loss: Loss = self._configure_loss(cfg.loss.name)
        self.opt_d = self._optimizer(self.d_params, cfg.train.lr_d)
        self.opt_g = self._optimizer(self.g_params, cfg.train.lr_g)
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
        self.graph = IterationGraph(
            generators=self.random_streams if blocked is None else [], blocked=blocked,
            backend=CudaBackend(device) if blocked is None else None,
            optimizers=lambda: (self.opt_d, self.opt_g))

    # ----------------------------------------------------------------------------------- set-up
    def _configure_loss(self, name: str) -> Loss:
        loss = configure(name, lsgan_coding=self.cfg.loss.lsgan_coding, fgan_g=self.cfg.loss.fgan_g)
        return self.cond.describe(loss)

    def _optimizer(self, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        t = self.cfg.train
        opt = make_optimizer(t.optimizer, params, lr=lr, betas=(t.beta1, t.beta2), device=self.device,
                             capturable=self._capturable)
        # A loaded state replaces the optimiser's state tensors, which a captured graph still points at.
        opt.register_load_state_dict_pre_hook(keep_implementation_flags)
        opt.register_load_state_dict_post_hook(lambda _opt: self.invalidate_graph())
        return opt

    # ---------------------------------------------------------------------------- CUDA graph
    @property
    def graph_status(self) -> str:
        """One line for the log: whether iterations are CUDA-graph replays, and why not."""
        return self.graph.status

    def invalidate_graph(self) -> None:
        """Re-capture before the next replay (call after replacing any tensor the iteration uses)."""
        self.graph.invalidate()

    def _mixed(self) -> contextlib.AbstractContextManager:
        # No autocast weight cache: cached casts and graph replays do not mix (pytorch#84289).
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def _critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
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
            self.opt_d = self._optimizer(self.d_params, self.knobs.lr_d)
            self.opt_g = self._optimizer(self.g_params, self.knobs.lr_g)

    def set_lr(self, player: str, lr: float) -> None:
        if not (math.isfinite(lr) and 0.0 <= lr <= 10.0):
            raise ValueError(f"learning rate {lr!r}: expected a number from 0 to 10")
        if player == "d":
            self.knobs.lr_d = lr
            _set_lr(self.opt_d, lr)
        else:
            self.knobs.lr_g = lr
            _set_lr(self.opt_g, lr)

    def freeze(self, player: str, frozen: bool) -> None:
        if player == "d":
            self.knobs.frozen_d = frozen
        else:
            self.knobs.frozen_g = frozen

    # ---------------------------------------------------------------------------- the game
    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device, generator=self.noise)

    def _latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's input for n fakes: noise z and the condition c (None for an unconditional run)."""
        return self._noise(n), self.cond.condition(n, self.noise)

    def d_step(self) -> None:
        """One discriminator update on a fresh real minibatch and fresh noise."""
        self._d_update()
        self._n_d += 1
        self.d_steps += 1

    def g_step(self) -> None:
        """One generator update. Only G's gradients are computed: D's weights get none."""
        self._g_update()
        self._n_g += 1
        self.g_steps += 1

    def _d_update(self) -> None:
        """A D-step's device work, with no host-side bookkeeping (so a graph can capture it)."""
        real, y_real = self.cond.real(self.sampler, self.batch_size)
        z, c = self._latent(self.batch_size)
        with self._mixed():
            with torch.no_grad():
                fake = self.cond.fake(self.G, z, c)
            v_real, aux_real = self.cond.judge(self.D, real, y_real)
            v_fake, aux_fake = self.cond.judge(self.D, fake, c)
        loss_d = self.loss.d_loss(v_real, v_fake)
        total, gp = loss_d, self._zero
        if self.loss.penalty == "wgan-gp":  # interpolates are judged with the real batch's labels
            gp, _ = gradient_penalty(lambda x: self._critic(x, y_real), real, fake, generator=self.noise)
            total = loss_d + self.gp_weight * gp
        elif self.loss.penalty == "dragan":
            gp, _ = dragan_penalty(lambda x: self._critic(x, y_real), real, generator=self.noise)
            total = loss_d + self.gp_weight * gp
        extra = self.cond.d_term(aux_real, y_real, aux_fake, c)
        if extra is not None:
            total = total + extra
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.linalg.vector_norm(
            torch.stack(torch._foreach_norm([p.grad for p in self.d_params if p.grad is not None])))
        self.opt_d.step()
        if self.loss.clip_weights:
            with torch.no_grad():
                torch._foreach_clamp_min_(self.d_params, -self.clip)
                torch._foreach_clamp_max_(self.d_params, self.clip)
        with torch.no_grad():
            self._acc_d.add_(torch.stack([
                torch.sigmoid(v_real).mean(), torch.sigmoid(v_fake).mean(), v_real.mean(), v_fake.mean(),
                loss_d, gp, grad_norm,
            ]).detach())

    def _g_update(self) -> None:
        """A G-step's device work, with no host-side bookkeeping."""
        z, c = self._latent(self.batch_size)
        with self._mixed():
            v_fake, aux_fake = self.cond.judge(self.D, self.cond.fake(self.G, z, c), c)
            v_real = None
            if self.loss.needs_real_in_g:
                with torch.no_grad():
                    real, y_real = self.cond.real(self.sampler, self.batch_size)
                    v_real = self.cond.score(self.D, real, y_real).float()
        loss_g = self.loss.g_loss(v_fake, v_real)
        extra = self.cond.g_term(aux_fake, c)
        grads = torch.autograd.grad(loss_g if extra is None else loss_g + extra, self.g_params)
        for p, g in zip(self.g_params, grads, strict=True):
            p.grad = g
        self.opt_g.step()
        with torch.no_grad():
            grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(grads))))
            self._acc_g.add_(torch.stack([loss_g.detach(), grad_norm]))

    def _device_iteration(self) -> None:
        """What one iteration does on the device: the body a CUDA graph captures."""
        if not self.knobs.frozen_d:
            for _ in range(self.knobs.k):
                self._d_update()
        if not self.knobs.frozen_g:
            self._g_update()

    def iteration(self) -> None:
        """Algorithm 1: k D-steps, then one G-step (a frozen player's steps are skipped).

        The counters advance on the host after the device work, identically whether that work ran
        eagerly or as a graph replay.
        """
        k = self.knobs
        n_d = 0 if k.frozen_d else k.k
        n_g = 0 if k.frozen_g else 1
        if n_d or n_g:
            self.graph.run(self._device_iteration,
                           settings=(k.k, k.loss, k.lr_d, k.lr_g, k.frozen_d, k.frozen_g),
                           live=(self.loss, self.opt_d, self.opt_d.state, self.opt_g, self.opt_g.state))
        self._n_d += n_d
        self.d_steps += n_d
        self._n_g += n_g
        self.g_steps += n_g
        self.step += 1

    # ---------------------------------------------------------------------------- read-outs
    @property
    def has_pending_readout(self) -> bool:
        """Whether any step was taken since the last read-out."""
        return bool(self._n_d or self._n_g)

    @property
    def window_steps(self) -> tuple[int, int]:
        """(D-steps, G-steps) measured since the last read-out: which of the window's metrics exist."""
        return self._n_d, self._n_g

    def readout(self) -> dict[str, float]:
        """Means of everything measured since the last read-out, plus held-out divergence bounds.

        This is the one place the trainer synchronises with the device. ``finite`` is 0.0 when a
        loss or any parameter is no longer finite.
        """
        extra_names, extra = self._heldout()
        params_norm = torch.stack(torch._foreach_norm(self.g_params + self.d_params)).sum()
        flat = torch.cat([self._acc_d, self._acc_g, torch.stack([*extra, params_norm])]).tolist()
        n_d, n_g = self._n_d, self._n_g
        self._acc_d.zero_()
        self._acc_g.zero_()
        self._n_d = self._n_g = 0
        nan = float("nan")
        out: dict[str, float] = {}
        for i, name in enumerate(D_SLOTS):
            out[name] = flat[i] / n_d if n_d else nan
        for i, name in enumerate(G_SLOTS):
            out[name] = flat[len(D_SLOTS) + i] / n_g if n_g else nan
        offset = len(D_SLOTS) + len(G_SLOTS)
        for i, name in enumerate(extra_names):
            out[name] = flat[offset + i]
        if self.loss.penalty is None:
            out["gp"] = nan
        if not self.loss.critic:
            out["v_real"] = out["v_fake"] = nan
        # Sums of zero steps are 0.0, so a non-finite entry here means a step produced one.
        out["finite"] = 1.0 if all(math.isfinite(v) for v in flat[:offset] + flat[-1:]) else 0.0
        return out

    def _heldout(self) -> tuple[list[str], list[torch.Tensor]]:
        """The loss's divergence read-out (and the condition's: mi_bound, AC-GAN's class accuracies) on a
        batch the optimiser never saw."""
        with (torch.no_grad(), frozen_buffers(self.D), frozen_buffers(self.G),
              isolated_rng(self.random_streams)):
            real, y_real = self.cond.real(self.sampler, self.eval_batch)
            z, c = self._latent(self.eval_batch)
            fake = self.cond.fake(self.G, z, c)
            v_real, aux_real = self.cond.judge(self.D, real, y_real)
            v_fake, aux_fake = self.cond.judge(self.D, fake, c)
            values = self.loss.readout(v_real, v_fake)
            values.update(self.cond.readout(aux_real, y_real, aux_fake, c))
        names = sorted(values)
        return names, [values[n].float() for n in names]

    @torch.no_grad()
    def generate(self, n: int | None = None, *,
                 latent: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> torch.Tensor:
        """Samples from G without touching the training noise stream or BatchNorm statistics: of the
        fixed noise batch, of ``n`` fresh latents, or of a given ``latent`` (z, c)."""
        with frozen_buffers(self.G), isolated_rng(self.random_streams):
            if latent is None:
                latent = (self.fixed_noise, None) if n is None else self._latent(n)
            return self.cond.fake(self.G, *latent)

    @torch.no_grad()
    def d_probability(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) = sigmoid(v) for display, with no trace left in D."""
        return torch.sigmoid(self.d_scores(x))

    @torch.no_grad()
    def d_scores(self, x: torch.Tensor) -> torch.Tensor:
        """D's raw output v for display (a critic's score), with no trace left in D."""
        with frozen_buffers(self.D):
            return self.D(x).float()

    # --------------------------------------------------------------------------- snapshots
    @property
    def random_streams(self) -> list[torch.Generator]:
        """The generators training draws from: its noise, and the sampler's when it has one."""
        data = getattr(self.sampler, "generator", None)
        return [self.noise, data] if isinstance(data, torch.Generator) else [self.noise]

    def live_tensors(self) -> list[torch.Tensor]:
        """Every tensor that a training step changes: parameters, buffers, optimiser state."""
        return [t for _name, t in self.named_live_tensors()]

    def named_live_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """:meth:`live_tensors`, each named in the GAN's words for a message that says what blew up:
        "G parameter net.0.weight", "D buffer net.3.running_var", "D's optimiser state exp_avg_sq of
        net.2.weight"."""
        named: list[tuple[str, torch.Tensor]] = []
        for who, module in (("G", self.G), ("D", self.D)):
            named += [(f"{who} parameter {n}", p) for n, p in module.named_parameters()]
            named += [(f"{who} buffer {n}", b) for n, b in module.named_buffers()]
        for who, opt, module in (("D", self.opt_d, self.D), ("G", self.opt_g, self.G)):
            names = {id(p): n for n, p in module.named_parameters()}
            for param, state in opt.state.items():
                of = names.get(id(param), "a parameter")
                named += [(f"{who}'s optimiser state {key} of {of}", v)
                          for key, v in state.items() if isinstance(v, torch.Tensor)]
        return named

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(D's, G's) optimiser: the objects of now (a loss switch may replace them)."""
        return self.opt_d, self.opt_g

    def discard_window(self) -> None:
        """Forget what was measured since the last read-out (after a restore: it was the bad branch)."""
        self._acc_d.zero_()
        self._acc_g.zero_()
        self._n_d = self._n_g = 0
