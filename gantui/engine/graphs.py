"""The CUDA fast path: each player's step captured once in a CUDA graph and replayed.

Small GAN iterations are bound by Python and kernel-launch overhead, not by the GPU (issue 5: the
tutorial MLP runs ~13x faster when its iteration is graph replays). A graph records every kernel of
one step — the D-step with its penalty, weight clipping and metric accumulators, or the G-step — once,
and launches them all with one call. There is one graph per player: an iteration replays the D-step
graph k times and then the G-step graph, so changing k or freezing a player needs no capture.

What keeps replays correct:

- static tensors: parameters, buffers, optimiser state, the learning-rate tensors and the
  accumulators are the same tensors on every replay; a graph's intermediates (activations,
  gradients) live in its private memory pool;
- random streams: on torch >= 2.13 (the only versions graphs run on, see :func:`graph_blocker`) a
  capture keeps per-capture RNG state for every generator it draws from, and each replay advances the
  trainer's and the sampler's device generators exactly as an eager step would;
- baked-in values: whatever the step's Python reads once at capture (the loss, the batch size, λ,
  the clip bound, the optimiser objects and their hyper-parameters, the lr where it is a Python
  float) is its *key*. :meth:`StepGraph.run` is given the key on every call and re-captures (lazily)
  when any part changed. Learning rates that are 0-dim device tensors (fused Adam, capturable
  RMSprop) are read by the kernels at replay, so changing them is a ``fill_``, not a capture.

Before a capture, ordinary eager steps run on a side stream as warm-up (lazy optimiser state, cuDNN
autotuning, cuBLAS workspaces): ``WARMUP_STEPS`` before a player's first capture, ``REWARMUP_STEPS``
before later ones, as everything lazy already exists by then. They are real steps: the trainer counts
them like any other, so a run's trajectory does not depend on when graphs were (re-)captured. The
last warm-up runs under ``torch.cuda.set_sync_debug_mode("warn")``: a step that synchronises with
the host can never be captured, so the fast path is switched off with the offending line named,
instead of attempting a capture that would fail.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

WARMUP_STEPS = 3  # eager steps before a player's first capture (the PyTorch docs' whole-network example)
REWARMUP_STEPS = 1  # ... and before a re-capture: optimiser state and autotuning exist already
WARMUP_ITERATIONS = WARMUP_STEPS  # the name bench/gpu_check.py and older callers use
MIN_TORCH = (2, 13)  # per-capture RNG state: a failed capture no longer breaks later eager draws


class Graph(Protocol):
    def replay(self) -> None: ...


class Backend(Protocol):
    """How graphs are made: :class:`CudaBackend`, or a fake in CPU tests."""

    def warm_up(self, body: Callable[[], None], *, check_sync: bool) -> str | None:
        """Run ``body`` eagerly; with ``check_sync``, say where it synchronised with the host (or None)."""
        ...

    def capture(self, body: Callable[[], None]) -> Graph:
        """Record ``body``; on failure, undo what the capture left behind and raise."""
        ...


def torch_version() -> tuple[int, int]:
    """(major, minor) of the running torch."""
    match = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


SYNC_WARNING = "synchronizing CUDA operation"  # the text of torch's sync-debug warning


class CudaBackend:
    """Warm-up and capture on one side stream, as in the PyTorch docs and bench/graph_gp_check.py."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._stream: torch.cuda.Stream | None = None

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    def warm_up(self, body: Callable[[], None], *, check_sync: bool) -> str | None:
        side, main = self._side_stream(), torch.cuda.current_stream(self.device)
        side.wait_stream(main)
        try:
            with torch.cuda.stream(side):
                if not check_sync:
                    body()
                    return None
                return _first_sync(body)
        finally:
            main.wait_stream(side)

    def capture(self, body: Callable[[], None]) -> Graph:
        graph = torch.cuda.CUDAGraph()
        # Our own pool handle: if the capture fails we know which pool to hand back to the allocator.
        pool = torch.cuda.graph_pool_handle()
        main = torch.cuda.current_stream(self.device)
        try:
            # thread_local: a CUDA call from another thread (a UI, the garbage collector) cannot
            # invalidate this capture; the autograd engine's own calls are made safe by torch.
            with torch.cuda.graph(graph, pool=pool, stream=self._side_stream(),
                                  capture_error_mode="thread_local"):
                body()
        except BaseException:
            torch.cuda.set_stream(main)  # torch.cuda.graph leaves its stream current when capture_end fails
            _release_failed_capture(graph, pool, self.device)
            raise
        return graph


def _first_sync(body: Callable[[], None]) -> str | None:
    """Run ``body`` with sync debugging on; where it first synchronised with the host, or None."""
    before = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a warning shown once before must still be recorded
        torch.cuda.set_sync_debug_mode("warn")
        try:
            body()
        finally:
            torch.cuda.set_sync_debug_mode(before)
    for w in caught:
        if SYNC_WARNING in str(w.message):
            return f"{w.filename}:{w.lineno}"
    return None


def _release_failed_capture(graph: Any, pool: Any, device: torch.device) -> None:
    """Give a failed capture's private pool back to the allocator.

    When ``cudaStreamEndCapture`` fails, torch's ``capture_end`` throws before it tells the caching
    allocator that the capture ended, and ``reset`` releases the pool only after a capture that
    ended; the allocator would keep filtering every allocation against this capture for the rest of
    the process. ``pool()`` raises exactly when the capture did not end.
    """
    try:
        graph.pool()
        return  # the capture ended: the graph's own destructor releases its pool
    except RuntimeError:
        pass
    index = device.index if device.index is not None else torch.cuda.current_device()
    for name in ("_cuda_endAllocateToPool", "_cuda_releasePool"):
        release = getattr(torch._C, name, None)
        if release is not None:
            with contextlib.suppress(RuntimeError):  # already done by the part of capture_end that ran
                release(index, tuple(pool))


def graph_blocker(*, enabled: bool, device: torch.device, sampler: Any,
                  compile_mode: str = "off") -> str | None:
    """Why this run cannot capture its steps in CUDA graphs, or None when it can try."""
    if not enabled:
        return "off: train.cuda_graph = false"
    if device.type != "cuda":
        return f"off: CUDA graphs need a CUDA device (this run trains on {device.type})"
    if compile_mode != "off":
        return f"off: train.compile = {compile_mode} (torch.compile runs the steps instead)"
    if torch_version() < MIN_TORCH:
        # Before 2.13 a capture that fails leaves the generators flagged as capturing, so the eager
        # fallback would raise on its first random draw ("Offset increment outside graph capture").
        return (f"off: CUDA graphs need torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} (this is torch "
                f"{torch.__version__}); training runs eagerly")
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


def root_cause(exc: BaseException) -> BaseException:
    """The first exception of a chain: a failed capture's ``capture_end`` error hides the body's."""
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def capture_failure(exc: BaseException) -> str:
    """The status line for a failed capture, naming its root cause in one line."""
    cause = root_cause(exc)
    first = (str(cause).strip().splitlines() or [""])[0][:160]
    if isinstance(cause, torch.OutOfMemoryError) or "out of memory" in first.lower():
        return f"off: capture needs more memory than the device has free ({type(cause).__name__}: {first})"
    return f"off: capture failed ({type(cause).__name__}: {first})"


Key = tuple[tuple, tuple]  # (values compared with ==, objects compared with `is`)


class StepGraph:
    """One player's step: eager while warming up, then replays of its captured graph.

    ``release`` drops the player's gradients (they live in this graph's pool) whenever the graph is
    dropped, so an old pool is not pinned by a frozen player's ``.grad``.
    """

    def __init__(self, owner: IterationGraph, name: str, release: Callable[[], None]) -> None:
        self.owner = owner
        self.name = name
        self.captures = 0
        self.replays = 0
        self.warmups = 0
        self._release = release
        self._graph: Graph | None = None
        self._key: Key = ((), ())
        self._warmup_left = WARMUP_STEPS
        self.warming = False  # ran since the last reset but not captured yet

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def reset(self) -> None:
        """Forget the graph; the next steps warm up and capture again."""
        if self._graph is not None:
            self._release()
        self._graph = None
        self._key = ((), ())
        self._warmup_left = WARMUP_STEPS if self.captures == 0 else REWARMUP_STEPS
        self.warming = False

    def _matches(self, key: Key) -> bool:
        (values, objects), (old_values, old_objects) = key, self._key
        return (values == old_values and len(objects) == len(old_objects)
                and all(a is b for a, b in zip(objects, old_objects, strict=True)))

    def run(self, body: Callable[[], None], key: Callable[[], Key]) -> None:
        """Do ``body``'s device work once; ``key()`` describes what a capture of it bakes in."""
        owner = self.owner
        if not owner.enabled or owner.backend is None:
            body()
            return
        now = key()
        if not self._matches(now):
            self.reset()
            self._key = now
        if self._graph is not None:
            self._graph.replay()
            self.replays += 1
            return
        self.warming = True
        if self._warmup_left > 0:
            self._warmup_left -= 1
            self.warmups += 1
            synced = owner.backend.warm_up(body, check_sync=self._warmup_left == 0)
            if synced is not None:
                owner.disable(f"off: the {self.name}-step synchronises with the host at {synced}, "
                              "so it cannot be captured")
            owner.refresh_status()
            return
        blocked = optimizer_blocker(owner.optimizers())
        if blocked is not None:
            owner.disable(blocked)
            body()
            return
        failure = self._capture(body)
        if failure is not None:  # outside the except block: no traceback keeps the pool's tensors alive
            self._release()  # the capture rebound this player's gradients to its (failed) pool
            owner.disable(failure)
            body()
            return
        owner.refresh_status()
        assert self._graph is not None
        self._graph.replay()  # capture records without running: this replay is the step
        self.replays += 1

    def _capture(self, body: Callable[[], None]) -> str | None:
        try:
            graph = self.owner.backend.capture(body)
        except Exception as exc:  # anything at all: fall back to eager, say why once
            return capture_failure(exc)
        self._graph = graph
        self.captures += 1
        self.warming = False
        return None


class IterationGraph:
    """The two step graphs of a run and the one status line the runner reports.

    Capture is attempted only when ``blocked`` is None; a failed capture (or a step that synchronises)
    switches the fast path off for the rest of the run: the steps then run eagerly, none is lost.
    """

    def __init__(self, *, blocked: str | None, backend: Backend | None = None,
                 optimizers: Callable[[], Sequence[torch.optim.Optimizer]] = tuple,
                 release_d: Callable[[], None] = lambda: None,
                 release_g: Callable[[], None] = lambda: None) -> None:
        self.enabled = blocked is None
        self.status = blocked or "warming up"
        self.backend = backend
        self.optimizers = optimizers
        self.d = StepGraph(self, "D", release_d)
        self.g = StepGraph(self, "G", release_g)

    @property
    def steps(self) -> tuple[StepGraph, StepGraph]:
        return (self.d, self.g)

    @property
    def captures(self) -> int:
        return sum(s.captures for s in self.steps)

    @property
    def replays(self) -> int:
        return sum(s.replays for s in self.steps)

    @property
    def warmups(self) -> int:
        return sum(s.warmups for s in self.steps)

    def invalidate(self) -> None:
        """Forget both graphs (call after replacing any tensor a step uses)."""
        for s in self.steps:
            s.reset()
        self.refresh_status()

    def disable(self, reason: str) -> None:
        self.invalidate()
        self.enabled = False
        self.status = reason

    def refresh_status(self) -> None:
        if not self.enabled:
            return
        steps = self.steps
        if any(s.warming for s in steps) or not any(s.captured for s in steps):
            self.status = "warming up"
            return
        again = sum(max(0, s.captures - 1) for s in steps)
        self.status = "on" if again == 0 else f"on (re-captured {again} time{'s' if again > 1 else ''})"
