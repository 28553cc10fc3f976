"""Is a state good? One look at every tensor a step changes, naming the first that is not finite.

A state that is remembered, restored or saved as good must hold no NaN or inf anywhere: not in the
players' parameters or buffers, and not in the optimisers' state (Adam's ``exp_avg_sq`` can overflow
while every weight is still finite, and the next step then spreads it). The check is one ``max |x|``
per tensor, fused, and one device synchronisation; it runs at read-outs and checkpoints, never per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["first_nonfinite", "nonfinite_in_state", "nonfinite_summary"]


@torch.no_grad()
def nonfinite_names(named: Sequence[tuple[str, torch.Tensor]]) -> list[str]:
    """The names of every tensor holding a NaN or an inf, in order ([] when all are finite)."""
    floats = [(name, t.detach()) for name, t in named if t.is_floating_point() and t.numel()]
    if not floats:
        return []
    # ord=inf is max |x|: finite exactly when every element is (a 2-norm could overflow on big values).
    norms = torch._foreach_norm([t for _, t in floats], ord=math.inf)
    finite = torch.stack([n.float() for n in norms]).isfinite().cpu()
    if bool(finite.all()):
        return []
    return [floats[int(i)][0] for i in (~finite).nonzero()[:, 0]]


def first_nonfinite(named: Sequence[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor holding a NaN or an inf, or None when every one is finite."""
    bad = nonfinite_names(named)
    return bad[0] if bad else None


def nonfinite_summary(named: Sequence[tuple[str, torch.Tensor]]) -> str | None:
    """What went non-finite, per owner: the first bad tensor of G, of D and of each optimiser, then a
    count ("D parameter net.0.weight, G parameter net.0.weight and 9 more tensors"). Within one window
    NaN in D reaches G through its gradients, so naming only the first tensor in order would blame G."""
    bad = nonfinite_names(named)
    if not bad:
        return None
    firsts: dict[str, str] = {}
    for name in bad:
        firsts.setdefault(name.split(" ", 1)[0], name)
    order = ("D", "D's", "G", "G's")
    shown = [firsts[k] for k in sorted(firsts, key=lambda k: order.index(k) if k in order else len(order))]
    more = len(bad) - len(shown)
    return ", ".join(shown) + (f" and {more} more tensor{'s' if more > 1 else ''}" if more else "")


def _tensors(obj: object, where: str):
    if isinstance(obj, torch.Tensor):
        yield where, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _tensors(value, f"{where}.{key}" if where else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{where}[{i}]")


STATE_KEYS = ("G", "D", "opt_g", "opt_d", "fixed_noise", "g_ema")


def nonfinite_in_state(state: dict, keys: Sequence[str] = STATE_KEYS) -> str | None:
    """The first non-finite tensor of a checkpoint's state dict ("opt_d.state.3.exp_avg_sq"), or None."""
    named = [item for key in keys if key in state for item in _tensors(state[key], key)]
    return first_nonfinite(named)
