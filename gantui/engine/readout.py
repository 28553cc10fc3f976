"""Measurement windows on their way from the device to the host, without making the CPU wait.

Every step adds what it measured to device accumulators; a read-out closes a *window*: it gathers the
accumulators and the held-out read-out into one device vector and starts copying it to the host.
On CUDA the copy goes into a pinned buffer with ``non_blocking=True`` and an event is recorded behind
it; the values are read once the event has completed — usually at the next read-out — so the CPU
never blocks on the GPU at a read-out and can run as far ahead as the GPU's queue allows. Should the
GPU fall ``MAX_PENDING`` windows behind, the oldest is waited for: at most one wait per window, never
one per step. Elsewhere (CPU, MPS) the copy is a plain read and the window is ready at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch
from torch import Tensor

from gantui.engine.rng import frozen_buffers, isolated_rng

D_SLOTS = ("d_real", "d_fake", "v_real", "v_fake", "loss_d", "gp", "grad_norm_d")  # per D-step
G_SLOTS = ("loss_g", "grad_norm_g")  # per G-step
MAX_PENDING = 8  # windows in flight before a read-out waits for the oldest (bounds pinned memory)


@dataclass(frozen=True)
class Layout:
    """How to read one window's vector: D slots, G slots, the held-out names, then the parameter norm."""

    extra: tuple[str, ...]
    n_d: int  # D-steps in the window (the divisor of the D sums)
    n_g: int
    penalty: bool  # the loss had a gradient penalty (else gp is meaningless)
    critic: bool  # the loss's raw outputs are critic values (else v_real / v_fake are not reported)


@dataclass(frozen=True)
class Window:
    """One closed measurement window: the counters at its end and the means measured over it."""

    step: int
    d_steps: int
    g_steps: int
    time: float  # time.monotonic() when the window was closed
    values: dict[str, float]  # every D/G slot, the held-out read-out, and "finite" (1.0 or 0.0)


def decode(flat: list[float], layout: Layout) -> dict[str, float]:
    """Means per step from the window's sums; ``finite`` is 0.0 when a step or a parameter was not."""
    nan = math.nan
    n_d, n_g = layout.n_d, layout.n_g
    out: dict[str, float] = {}
    for i, name in enumerate(D_SLOTS):
        out[name] = flat[i] / n_d if n_d else nan
    for i, name in enumerate(G_SLOTS):
        out[name] = flat[len(D_SLOTS) + i] / n_g if n_g else nan
    offset = len(D_SLOTS) + len(G_SLOTS)
    for i, name in enumerate(layout.extra):
        out[name] = flat[offset + i]
    if not layout.penalty:
        out["gp"] = nan
    if not layout.critic:
        out["v_real"] = out["v_fake"] = nan
    # Sums of zero steps are 0.0, so a non-finite entry here means a step produced one.
    out["finite"] = 1.0 if all(math.isfinite(v) for v in flat[:offset] + flat[-1:]) else 0.0
    return out


@dataclass
class _InFlight:
    host: Tensor  # pinned, being filled by a non-blocking copy
    event: torch.cuda.Event
    layout: Layout
    counters: tuple[int, int, int, float]


class Readouts:
    """The windows of one trainer, in the order they were closed."""

    def __init__(self, device: torch.device) -> None:
        self.asynchronous = device.type == "cuda"
        self._in_flight: deque[_InFlight] = deque()
        self._done: list[Window] = []
        self._free: dict[int, list[Tensor]] = {}  # pinned buffers by length, for reuse

    @property
    def pending(self) -> int:
        """Windows closed but not yet handed out."""
        return len(self._in_flight) + len(self._done)

    def push(self, flat: Tensor, layout: Layout, counters: tuple[int, int, int, float]) -> None:
        """Close a window whose vector ``flat`` (on the device) was just computed."""
        if not self.asynchronous:
            self._done.append(_window(flat.tolist(), layout, counters))
            return
        n = flat.numel()
        spare = self._free.get(n)
        host = spare.pop() if spare else torch.empty(n, dtype=flat.dtype, pin_memory=True)
        host.copy_(flat, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(flat.device))
        self._in_flight.append(_InFlight(host, event, layout, counters))
        if len(self._in_flight) > MAX_PENDING:
            self._finish(self._in_flight.popleft(), wait=True)

    def ready(self, *, wait: bool = False) -> list[Window]:
        """Every window whose values have reached the host (with ``wait``, every window), oldest first."""
        while self._in_flight and (wait or self._in_flight[0].event.query()):
            self._finish(self._in_flight.popleft(), wait=wait)
        out, self._done = self._done, []
        return out

    def newest(self) -> Window:
        """Wait for every window; hand out the newest and keep the older ones for :meth:`ready`."""
        while self._in_flight:
            self._finish(self._in_flight.popleft(), wait=True)
        return self._done.pop()

    def _finish(self, item: _InFlight, *, wait: bool) -> None:
        if wait:
            item.event.synchronize()
        self._done.append(_window(item.host.tolist(), item.layout, item.counters))
        self._free.setdefault(item.host.numel(), []).append(item.host)


def _window(flat: list[float], layout: Layout, counters: tuple[int, int, int, float]) -> Window:
    step, d_steps, g_steps, closed = counters
    return Window(step=step, d_steps=d_steps, g_steps=g_steps, time=closed, values=decode(flat, layout))


def heldout(trainer) -> tuple[list[str], list[Tensor]]:
    """The loss's divergence read-out (and the condition's: mi_bound, AC-GAN's class accuracies) on a
    batch the optimiser never saw, as 0-dim device tensors.

    BatchNorm statistics and the training random streams are left as they were, so looking at a run
    never changes it.
    """
    t, cond = trainer, trainer.cond
    with torch.no_grad(), frozen_buffers(t.D), frozen_buffers(t.G), isolated_rng(t.random_streams):
        real, y_real = cond.real(t.sampler, t.eval_batch)
        z, c = t._latent(t.eval_batch)
        fake = cond.fake(t.G, z, c)
        v_real, aux_real = cond.judge(t.D, real, y_real)
        v_fake, aux_fake = cond.judge(t.D, fake, c)
        values = t.loss.readout(v_real, v_fake)
        values.update(cond.readout(aux_real, y_real, aux_fake, c))
    names = sorted(values)
    return names, [values[n].float() for n in names]
