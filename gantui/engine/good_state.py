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


class _Slot:
    """One copy of the state: the players' tensors, the optimisers' state, the counters."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] | None = None
        self.optim: list[OptimState] = []
        self.counters = (0, 0, 0)  # step, d_steps, g_steps

    @torch.no_grad()
    def copy_from(self, trainer: Trainer) -> None:
        """Copy ``trainer``'s state in (in place when the shapes are unchanged).

        ``no_grad`` matters: copying a parameter into a plain tensor under autograd records a
        CopyBackwards node on the copy, chained to the previous one at every read-out (an autograd
        graph that grew about 1 GB an hour).
        """
        live = _module_tensors(trainer)
        saved = self.tensors
        if saved is not None and len(saved) == len(live) and all(
                g.shape == x.shape and g.dtype == x.dtype for g, x in zip(saved, live, strict=True)):
            torch._foreach_copy_(saved, live)
        else:
            self.tensors = [x.clone() for x in live]
        self.optim = [_remember_optimizer(opt, old)
                      for opt, old in zip(trainer.optimizers, self.optim or [{}, {}], strict=True)]
        self.counters = (trainer.step, trainer.d_steps, trainer.g_steps)


class GoodState:
    r"""The last good state, and a candidate waiting for its read-out to say whether it is good.

    On the CPU a read-out is known at once and :meth:`remember` copies straight into the good slot.
    On CUDA read-outs arrive later (:mod:`gantui.engine.readout`): the state at a window's close is
    :meth:`stage`\ d into the candidate slot, and :meth:`commit`\ ted as good once that window comes
    back finite; a window found non-finite leaves the good slot as it was.
    """

    def __init__(self) -> None:
        self._good = _Slot()
        self._candidate: _Slot | None = None
        self._spare: _Slot | None = _Slot()

    @property
    def step(self) -> int:
        return self._good.counters[0]

    @property
    def tensors(self) -> list[torch.Tensor] | None:
        return self._good.tensors

    @property
    def counters(self) -> tuple[int, int, int]:
        return self._good.counters

    def all_tensors(self) -> list[torch.Tensor]:
        """Every remembered tensor, in the order of ``Trainer.live_tensors()``."""
        out = list(self._good.tensors or [])
        for saved in self._good.optim:
            for i in sorted(saved):
                out.extend(v for v in saved[i].values() if isinstance(v, torch.Tensor))
        return out

    def remember(self, trainer: Trainer) -> None:
        """``trainer``'s state is good now (the caller has checked it is finite)."""
        self._good.copy_from(trainer)
        self.discard_candidate()

    def stage(self, trainer: Trainer) -> None:
        """Copy the state at a window's close, to be committed when its read-out is finite.

        With a candidate still waiting (read-outs lag several windows on a fast GPU) this window is not
        staged: the good state then advances at the pace the read-outs arrive, never past a bad one.
        """
        if self._candidate is None:  # then the spare slot is free (commit and discard hand it back)
            spare = self._spare or _Slot()
            spare.copy_from(trainer)
            self._candidate, self._spare = spare, None

    def commit(self, step: int) -> None:
        """The window closed at ``step`` was finite: its staged state (if that one) is good now."""
        candidate = self._candidate
        if candidate is not None and candidate.counters[0] == step:
            self._good, self._spare = candidate, self._good
            self._candidate = None

    def discard_candidate(self) -> None:
        if self._candidate is not None:
            self._spare, self._candidate = self._candidate, None

    @torch.no_grad()
    def restore(self, trainer: Trainer) -> None:
        """Put the good state back into ``trainer`` (a no-op before the first remember).

        Parameters and buffers are copied in place (a captured CUDA graph keeps pointing at them).
        Optimiser state is copied in place where it has the remembered shape, and otherwise replaced
        or removed, which invalidates the trainer's graph. The current read-out window is discarded.
        """
        good = self._good
        self.discard_candidate()
        if good.tensors is None:
            return
        live = _module_tensors(trainer)
        if len(live) != len(good.tensors):
            raise RuntimeError("the players changed shape since the good state was remembered")
        torch._foreach_copy_(live, good.tensors)
        replaced = False
        for opt, saved in zip(trainer.optimizers, good.optim, strict=True):
            replaced |= _restore_optimizer(opt, saved)
        trainer.step, trainer.d_steps, trainer.g_steps = good.counters
        trainer.discard_window()
        if replaced:
            trainer.invalidate_graph()


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
