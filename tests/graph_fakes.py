"""A CPU stand-in for CUDA graphs that is strict about what a real capture bakes in.

A real capture runs a step's Python once and records its kernels without running them; a replay runs
the kernels only, on the tensors (addresses) and with the Python numbers of that one run. This fake:

- "captures" by running the body under a spy that records every trainer attribute the body reads,
  then puts every tensor and random stream back (the kernels of a capture do not execute);
- fingerprints, at capture, every Python scalar the body read (on the trainer, its knobs, the
  optimisers' parameter groups), the address (``data_ptr``) of every tensor the step touches
  (parameters, buffers, optimiser state, accumulators, learning-rate tensors, the sampler's data),
  and the objects the step is built from;
- on replay asserts that the fingerprint still holds, then runs the body: a value changed after
  capture without a re-capture fails the test on the CPU, as it would silently misbehave on CUDA.

``fail_inside`` makes the capture raise from *inside* the body (as a host sync would: after the
gradients were rebound), followed by the error ``capture_end`` raises on CUDA, chained to it.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable

import torch

from gantui.engine.graphs import IterationGraph
from gantui.engine.trainer import Trainer

COUNTERS = {"step", "d_steps", "g_steps", "_n_d", "_n_g", "_thread"}  # host bookkeeping, not baked
SCALARS = (bool, int, float, str, type(None))
CAPTURE_END = "CUDA error: operation failed due to a previous error during capture"


def _state(t: Trainer) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    tensors = [*t.live_tensors(), t._acc_d, t._acc_g]
    return [x.detach().clone() for x in tensors], [g.get_state() for g in t.random_streams]


def _put_back(t: Trainer, saved: tuple[list[torch.Tensor], list[torch.Tensor]]) -> None:
    tensors, streams = saved
    with torch.no_grad():
        for x, s in zip([*t.live_tensors(), t._acc_d, t._acc_g], tensors, strict=True):
            x.copy_(s)
    for g, s in zip(t.random_streams, streams, strict=True):
        g.set_state(s)


class Spy:
    """Records the names of the trainer attributes read while it is on."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer, self.read = trainer, set()

    def __enter__(self) -> Spy:
        cls, target, read = type(self.trainer), self.trainer, self.read
        self._original = original = cls.__getattribute__

        def spy(obj, name):
            if obj is target:
                read.add(name)
            return original(obj, name)

        cls.__getattribute__ = spy
        return self

    def __exit__(self, *exc) -> None:
        type(self.trainer).__getattribute__ = self._original


def fingerprint(t: Trainer, read: set[str]) -> dict:
    """What a capture that read the attributes ``read`` of ``t`` depends on."""
    scalars, objects, tensors = {}, {}, []
    for name in sorted(read - COUNTERS):
        value = getattr(t, name)
        if isinstance(value, SCALARS):
            scalars[name] = value
        elif isinstance(value, torch.Tensor):
            tensors.append((name, value))
        elif isinstance(value, torch.optim.Optimizer):
            objects[name], objects[name + ".state"] = value, value.state
            for i, group in enumerate(value.param_groups):
                for key, v in group.items():
                    if isinstance(v, torch.Tensor):
                        tensors.append((f"{name}.lr", v))
                    elif key != "params":
                        scalars[f"{name}[{i}].{key}"] = v
            tensors += [(f"{name}.state", v) for s in value.state.values() for v in s.values()
                        if isinstance(v, torch.Tensor)]
        elif isinstance(value, torch.nn.Module):
            objects[name] = value
            tensors += [(f"{name}.{n}", v) for n, v in [*value.named_parameters(), *value.named_buffers()]]
        elif inspect.ismethod(value):  # a new bound-method object on every access: compare the function
            objects[name] = value.__func__
        elif callable(value) or isinstance(value, (list, tuple, dict)):
            objects[name] = value
        else:  # a plain object (the knobs, the loss, the sampler): its identity and its scalars
            objects[name] = value
            for key, v in vars(value).items() if hasattr(value, "__dict__") else ():
                if isinstance(v, SCALARS):
                    scalars[f"{name}.{key}"] = v
                elif isinstance(v, torch.Tensor):
                    tensors.append((f"{name}.{key}", v))
    return {"scalars": scalars, "objects": objects,
            "ptrs": [(n, v.data_ptr(), tuple(v.shape)) for n, v in tensors]}


class FakeGraph:
    def __init__(self, trainer: Trainer, body: Callable[[], None], read: set[str]) -> None:
        self.trainer, self.body, self.read = trainer, body, read
        self.print = fingerprint(trainer, read)

    def replay(self) -> None:
        now = fingerprint(self.trainer, self.read)
        for name, value in self.print["scalars"].items():
            assert now["scalars"].get(name) == value, \
                f"replayed a graph that baked {name} = {value!r}; it is now {now['scalars'].get(name)!r}"
        for name, obj in self.print["objects"].items():
            assert now["objects"].get(name) is obj, f"replayed a graph built on a replaced {name}"
        replaced = [a[0] for a, b in zip(self.print["ptrs"], now["ptrs"], strict=False) if a != b]
        if len(now["ptrs"]) != len(self.print["ptrs"]):
            replaced.append(f"{len(self.print['ptrs'])} tensors, now {len(now['ptrs'])}")
        assert not replaced, f"replayed a graph whose tensors were replaced: {', '.join(replaced)}"
        self.body()


class FakeBackend:
    def __init__(self, trainer: Trainer, *, fail_inside: Exception | None = None,
                 sync_at: str | None = None) -> None:
        self.trainer, self.fail_inside, self.sync_at = trainer, fail_inside, sync_at
        self.warmups = 0
        self.sync_checks = 0
        self.graphs: list[FakeGraph] = []
        self.capture_grads: list[weakref.ref] = []  # gradients bound during a failed capture

    def warm_up(self, body, *, check_sync: bool) -> str | None:
        self.warmups += 1
        body()
        if check_sync:
            self.sync_checks += 1
            return self.sync_at
        return None

    def capture(self, body) -> FakeGraph:
        t = self.trainer
        saved = _state(t)
        try:
            with Spy(t) as spy:
                if self.fail_inside is None:
                    body()
                else:
                    self._body_failing_in_the_optimizer(body)
        except Exception:
            _put_back(t, saved)
            raise RuntimeError(CAPTURE_END)  # noqa: B904 -- chained implicitly, as torch.cuda.graph's __exit__ does
        _put_back(t, saved)  # a capture records kernels without running them
        self.graphs.append(FakeGraph(t, body, spy.read))
        return self.graphs[-1]

    def _body_failing_in_the_optimizer(self, body) -> None:
        """Run ``body`` until its first optimiser step, then raise: the gradients are rebound by then."""
        t, failure, grads = self.trainer, self.fail_inside, self.capture_grads
        originals = {opt: opt.step for opt in (t.opt_d, t.opt_g)}

        def failing_step(*args, **kwargs):
            for p in [*t.d_params, *t.g_params]:
                if p.grad is not None:
                    grads.append(weakref.ref(p.grad))
            raise failure

        for opt in originals:
            opt.step = failing_step
        try:
            body()
        finally:
            for opt, step in originals.items():
                opt.step = step


def capturable(t: Trainer) -> None:
    """Flag the CPU optimisers capturable, as on CUDA (the CPU fused kernel ignores the flag)."""
    for opt in (t.opt_d, t.opt_g):
        for group in opt.param_groups:
            group["capturable"] = True


def graphed(t: Trainer, **backend_options) -> tuple[Trainer, FakeBackend]:
    """``t`` with its graph machinery on the fake backend; the capturable check is real."""
    backend = FakeBackend(t, **backend_options)
    capturable(t)
    make = t._optimizer

    def capturable_optimizer(params, player):  # optimisers made later (a reset) are flagged too
        opt = make(params, player)
        for group in opt.param_groups:
            group["capturable"] = True
        return opt

    t._optimizer = capturable_optimizer
    t.graph = IterationGraph(blocked=None, backend=backend, optimizers=lambda: (t.opt_d, t.opt_g),
                             release_d=lambda: t._release_grads(t.d_params),
                             release_g=lambda: t._release_grads(t.g_params))
    return t, backend
