"""The CUDA fast path: one whole training iteration captured in a CUDA graph and replayed.

Small GAN iterations are bound by Python and kernel-launch overhead, not by the GPU (issue 5: the
tutorial MLP runs ~13x faster when its iteration is one graph replay). A graph records every kernel of
one iteration — k D-steps, the G-step, penalties, weight clipping and the metric accumulators — once,
and launches them all with one call.

What keeps replays correct:

- static tensors: parameters, buffers, optimiser state and the accumulators are the same tensors on
  every replay; the graph's intermediates (activations, gradients) live in its private memory pool;
- random streams: the trainer's and the sampler's device generators are registered with the graph
  (``CUDAGraph.register_generator_state``, before capture), so each replay advances them exactly as
  an eager iteration would and draws new data and noise;
- baked-in settings: k, the loss, the learning rates (Python floats in the optimiser kernels), the
  frozen flags and the optimiser objects are part of what was captured. :meth:`IterationGraph.run`
  is given them on every call and re-captures (lazily) when any changed.

Before each (re-)capture, ``WARMUP_ITERATIONS`` ordinary eager iterations run on a side stream
(lazy optimiser state, cuDNN autotuning, cuBLAS workspaces), as the PyTorch docs prescribe. They are
real iterations: the trainer counts them like any other, so a run's trajectory does not depend on
when graphs were (re-)captured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import nn

WARMUP_ITERATIONS = 3  # eager iterations before each capture (the PyTorch docs' whole-network example)


class Graph(Protocol):
    def replay(self) -> None: ...


class Backend(Protocol):
    """How graphs are made: :class:`CudaBackend`, or a fake in CPU tests."""

    def warm_up(self, body: Callable[[], None]) -> None: ...
    def capture(self, body: Callable[[], None], generators: Sequence[torch.Generator]) -> Graph: ...


class CudaBackend:
    """Warm-up and capture on one side stream, as in the PyTorch docs and bench/graph_gp_check.py."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._stream: torch.cuda.Stream | None = None

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    def warm_up(self, body: Callable[[], None]) -> None:
        side, main = self._side_stream(), torch.cuda.current_stream(self.device)
        side.wait_stream(main)
        try:
            with torch.cuda.stream(side):
                body()
        finally:
            main.wait_stream(side)

    def capture(self, body: Callable[[], None], generators: Sequence[torch.Generator]) -> Graph:
        graph = torch.cuda.CUDAGraph()
        for generator in generators:  # must happen before capture begins
            graph.register_generator_state(generator)
        main = torch.cuda.current_stream(self.device)
        try:
            with torch.cuda.graph(graph, stream=self._side_stream()):
                body()
        except BaseException:
            # torch.cuda.graph leaves its stream current when ending the capture fails.
            torch.cuda.set_stream(main)
            raise
        return graph


def graph_blocker(*, enabled: bool, device: torch.device, sampler: Any) -> str | None:
    """Why this run cannot capture its iterations in a CUDA graph, or None when it can try."""
    if not enabled:
        return "off: train.cuda_graph = false"
    if device.type != "cuda":
        return f"off: CUDA graphs need a CUDA device (this run trains on {device.type})"
    generator = getattr(sampler, "generator", None)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cuda":
        return ("off: the real data comes through a DataLoader, whose host-to-device copies cannot be "
                "captured (data.on_device = yes keeps the set on the GPU)")
    return None


def optimizer_blocker(optimizers: Sequence[torch.optim.Optimizer]) -> str | None:
    """An optimiser whose step cannot be captured (Adam and RMSprop need ``capturable=True``)."""
    for opt in optimizers:
        if any(not group.get("capturable", True) for group in opt.param_groups):
            return f"off: {type(opt).__name__} is not capturable"
    return None


# How an optimiser runs, not what it computes: a checkpoint from another device must not impose its own.
IMPLEMENTATION_FLAGS = ("fused", "foreach", "capturable")


def make_optimizer(name: str, params: list[nn.Parameter], *, lr: float, betas: tuple[float, float],
                   device: torch.device, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam / RMSProp / SGD with the fastest implementation the device supports (fused Adam on CUDA and CPU).

    ``capturable`` keeps Adam's and RMSprop's step counters on the device so that ``step()`` can be
    captured in a CUDA graph (PyTorch refuses to capture it otherwise). SGD has no counter.
    """
    if name == "adam":
        if device.type == "cuda":
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, capturable=capturable)
        if device.type == "cpu":  # one kernel per tensor: 3.7x faster than foreach on the MNIST MLP
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
    if name == "rmsprop":
        if capturable:
            return torch.optim.RMSprop(params, lr=lr, foreach=True, capturable=True)
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.SGD(params, lr=lr, foreach=True)


def keep_implementation_flags(opt: torch.optim.Optimizer, saved: dict) -> dict:
    """``saved`` with this optimiser's fused/foreach/capturable flags in its parameter groups.

    ``Optimizer.load_state_dict`` adopts the saved groups' flags and places the step counters by them:
    a CPU checkpoint resumed on CUDA would otherwise lose ``capturable`` (no graph), and a CUDA one
    resumed on the CPU would ask for a capturable step there (an error). Used as a load pre-hook.
    """
    groups = [{**group, **{f: mine[f] for f in IMPLEMENTATION_FLAGS if f in mine}}
              # strict=False: a count mismatch is reported by load_state_dict itself.
              for group, mine in zip(saved["param_groups"], opt.param_groups, strict=False)]
    return {**saved, "param_groups": groups}


class IterationGraph:
    """Runs one iteration's device work: eagerly while warming up, then by replaying a captured graph.

    ``status`` says, in one line, what the fast path is doing and why it is off, for the runner to
    report. Capture is attempted only when ``blocked`` is None; a failed capture switches the fast path
    off for the rest of the run (the iteration then runs eagerly, so no step is lost).
    """

    def __init__(self, *, generators: Sequence[torch.Generator], blocked: str | None,
                 backend: Backend | None = None,
                 optimizers: Callable[[], Sequence[torch.optim.Optimizer]] = tuple) -> None:
        self.enabled = blocked is None
        self.status = blocked or "warming up"
        self.captures = 0
        self.replays = 0
        self._generators = list(generators)
        self._backend = backend
        self._optimizers = optimizers
        self._graph: Graph | None = None
        self._settings: tuple = ()
        self._live: tuple = ()
        self._warmup_left = WARMUP_ITERATIONS

    def invalidate(self) -> None:
        """Forget the captured graph; the next iterations warm up and capture again."""
        self._graph = None
        self._settings = self._live = ()
        self._warmup_left = WARMUP_ITERATIONS
        if self.enabled:
            self.status = "warming up"

    def disable(self, reason: str) -> None:
        self.invalidate()
        self.enabled = False
        self.status = reason

    def _matches(self, settings: tuple, live: tuple) -> bool:
        # Settings compare by value; live objects (loss, optimisers, their state dicts) by identity:
        # comparing state dicts by value would compare tensors.
        return (settings == self._settings and len(live) == len(self._live)
                and all(a is b for a, b in zip(live, self._live, strict=True)))

    def run(self, body: Callable[[], None], *, settings: tuple, live: tuple) -> None:
        """Do ``body``'s device work once. ``settings`` and ``live`` describe what a graph bakes in."""
        if not self.enabled or self._backend is None:
            body()
            return
        if not self._matches(settings, live):
            self.invalidate()
            self._settings, self._live = settings, live
        if self._graph is not None:
            self._graph.replay()
            self.replays += 1
            return
        if self._warmup_left > 0:
            self._warmup_left -= 1
            self._backend.warm_up(body)  # an ordinary iteration: its errors are training errors
            return
        blocked = optimizer_blocker(self._optimizers())
        if blocked is not None:
            self.disable(blocked)
            body()
            return
        try:
            graph = self._backend.capture(body, self._generators)
        except Exception as exc:  # anything at all: fall back to eager, say why once
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            self.disable(f"off: capture failed ({type(exc).__name__}: {first})")
            body()
            return
        self._graph = graph
        self.captures += 1
        self.status = "on" if self.captures == 1 else f"on (captured {self.captures} times)"
        graph.replay()  # capture records without running: this replay is the iteration
        self.replays += 1
