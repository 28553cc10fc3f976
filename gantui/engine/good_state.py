"""The last good state of a run, kept on the device so that a blow-up can be undone in place.

The runner remembers it at every read-out that found the whole state finite (see
:mod:`gantui.engine.health`), and at the start of the run: before the first good read-out the good
state is the initial one. It restores it when a loss or any tensor turns NaN or inf, so the run
pauses at that step instead of dying, and whatever is saved from then on is good.

"Everything a step changes" includes the optimisers' state. Adam creates it lazily at its first step,
so the state remembered at step 0 has none: restoring it must *remove* the optimiser state that the
diverged steps created (it holds the overflow), not leave it in place because the shapes differ.
"""

from __future__ import annotations

import torch

from gantui.engine.trainer import Trainer

__all__ = ["GoodState"]

OptimState = dict[int, dict[str, object]]  # parameter index -> that parameter's state, copied


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in opt.param_groups for p in group["params"]]


def _module_tensors(trainer: Trainer) -> list[torch.Tensor]:
    return [x.detach() for _who, module in trainer.players()
            for x in (*module.parameters(), *module.buffers())]


def _copy(value: object) -> object:
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class GoodState:
    """Device-side copies of the players, their optimisers' state and the step counters."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] | None = None
        self.optim: list[OptimState] = []
        self.counters = (0, 0, 0)  # step, d_steps, g_steps

    @property
    def step(self) -> int:
        return self.counters[0]

    def all_tensors(self) -> list[torch.Tensor]:
        """Every remembered tensor, in the order of ``Trainer.live_tensors()``."""
        out = list(self.tensors or [])
        for saved in self.optim:
            for i in sorted(saved):
                out.extend(v for v in saved[i].values() if isinstance(v, torch.Tensor))
        return out

    @torch.no_grad()
    def remember(self, trainer: Trainer) -> None:
        """Copy ``trainer``'s state (the caller has checked it is finite).

        Copies are made in place when the shapes are unchanged. ``no_grad`` matters: copying a
        parameter into a plain tensor under autograd records a CopyBackwards node on the copy, chained
        to the previous one at every read-out (an autograd graph that grew about 1 GB an hour).
        """
        live = _module_tensors(trainer)
        saved = self.tensors
        if saved is not None and len(saved) == len(live) and all(
                g.shape == x.shape and g.dtype == x.dtype for g, x in zip(saved, live, strict=True)):
            torch._foreach_copy_(saved, live)
        else:
            self.tensors = [x.clone() for x in live]
        self.optim = [self._remember_optimizer(opt, old)
                      for opt, old in zip(trainer.optimizers, self.optim or [{}, {}], strict=True)]
        self.counters = (trainer.step, trainer.d_steps, trainer.g_steps)

    @staticmethod
    def _remember_optimizer(opt: torch.optim.Optimizer, old: OptimState) -> OptimState:
        out: OptimState = {}
        for i, param in enumerate(_params(opt)):
            state = opt.state.get(param)
            if not state:
                continue
            kept = old.get(i, {})
            copy: dict[str, object] = {}
            for key, value in state.items():
                mine = kept.get(key)
                if (isinstance(value, torch.Tensor) and isinstance(mine, torch.Tensor)
                        and mine.shape == value.shape and mine.dtype == value.dtype
                        and mine.device == value.device):
                    mine.copy_(value)
                    copy[key] = mine
                else:
                    copy[key] = _copy(value)
            out[i] = copy
        return out

    @torch.no_grad()
    def restore(self, trainer: Trainer) -> None:
        """Put the remembered state back into ``trainer`` (a no-op before the first remember).

        Parameters and buffers are copied in place (a captured CUDA graph keeps pointing at them).
        Optimiser state is copied in place where it has the remembered shape, and otherwise replaced
        or removed, which invalidates the trainer's graph. The current read-out window is discarded.
        """
        if self.tensors is None:
            return
        live = _module_tensors(trainer)
        if len(live) != len(self.tensors):
            raise RuntimeError("the players changed shape since the good state was remembered")
        torch._foreach_copy_(live, self.tensors)
        replaced = False
        for opt, saved in zip(trainer.optimizers, self.optim, strict=True):
            replaced |= self._restore_optimizer(opt, saved)
        trainer.step, trainer.d_steps, trainer.g_steps = self.counters
        trainer.discard_window()
        if replaced:
            trainer.invalidate_graph()

    @staticmethod
    def _restore_optimizer(opt: torch.optim.Optimizer, saved: OptimState) -> bool:
        """Restore one optimiser's state; True if any state tensor was replaced or removed."""
        replaced = False
        for i, param in enumerate(_params(opt)):
            want = saved.get(i)
            have = opt.state.get(param)
            if want is None:
                if have:
                    del opt.state[param]
                    replaced = True
                continue
            if have and have.keys() == want.keys() and all(
                    not isinstance(w, torch.Tensor) or (isinstance(h, torch.Tensor) and h.shape == w.shape
                                                        and h.dtype == w.dtype)
                    for h, w in ((have[k], want[k]) for k in want)):
                for key, value in want.items():
                    if isinstance(value, torch.Tensor):
                        have[key].copy_(value)
                    else:
                        have[key] = value
            else:
                opt.state[param] = {key: _copy(value) for key, value in want.items()}
                replaced = True
        return replaced
