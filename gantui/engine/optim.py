"""The players' optimisers: the fastest implementation per device, and learning rates that steer cheaply.

A learning rate is a 0-dim float32 tensor on the training device wherever the optimiser's kernels read
it from memory at every step: fused Adam (CPU and CUDA: torch/optim/adam.py passes a device ``lr``
to ``_fused_adam_``, whose CUDA kernel reads it through a pointer — "lr must be on the same GPU
device as the params" in libtorch_cuda) and capturable foreach RMSprop on CUDA (torch/optim/
rmsprop.py divides by ``-lr`` as a tensor when ``capturable``; the float path would call ``item()``).
Changing it is then ``fill_``: one tiny kernel, no host sync, and a captured CUDA graph keeps working.
SGD's foreach step turns a tensor lr into a Python number (``alpha=-lr``, an ``item()``), so SGD keeps
a Python float, which a graph bakes in: changing it re-captures that player's step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gantui.engine.graphs import MIN_TORCH, torch_version

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


def reads_lr_tensor(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt``'s step reads a tensor lr on the device without turning it into a Python number."""
    groups = opt.param_groups
    if isinstance(opt, torch.optim.Adam):
        return all(g.get("fused") for g in groups)
    if isinstance(opt, torch.optim.RMSprop):
        return all(g.get("capturable") and g.get("foreach") for g in groups)
    return False


def lr_tensor(lr: float, device: torch.device) -> Tensor:
    """A learning rate as the fused kernels want it: 0-dim float32 on the parameters' device."""
    return torch.tensor(float(lr), dtype=torch.float32, device=device)


def attach_lr(opt: torch.optim.Optimizer, live: Tensor | None) -> None:
    """Make every group of ``opt`` read ``live`` (if given and the optimiser supports it).

    Only on the torch versions graphs run on (2.13+, checked against 2.14's sources): older ones keep
    Python floats, which cost them nothing since they never capture.
    """
    if live is None or not reads_lr_tensor(opt) or torch_version() < MIN_TORCH:
        return
    for group in opt.param_groups:
        group["lr"] = live


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set ``opt``'s learning rate: in place for a tensor lr (a captured graph sees it), else by value."""
    for group in opt.param_groups:
        current = group["lr"]
        if isinstance(current, Tensor):
            current.fill_(lr)
        else:
            group["lr"] = lr


def current_lr(opt: torch.optim.Optimizer) -> Tensor | float:
    return opt.param_groups[0]["lr"]


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


def keep_live_lr(opt: torch.optim.Optimizer, live: Tensor | None) -> None:
    """After ``load_state_dict``: the loaded lr goes into ``live`` in place, and the groups read ``live``.

    ``load_state_dict`` replaces the parameter groups with deep copies of the saved ones, so a saved
    tensor lr would become a new tensor (on the CPU, from a checkpoint) that no captured graph reads
    and that the CUDA kernel would turn into a host read at every step. Used as a load post-hook.
    """
    for group in opt.param_groups:
        loaded = group["lr"]
        if live is not None and reads_lr_tensor(opt) and torch_version() >= MIN_TORCH:
            if loaded is not live:
                if isinstance(loaded, Tensor):
                    live.copy_(loaded.detach().reshape(()))
                else:
                    live.fill_(float(loaded))
            group["lr"] = live
        elif isinstance(loaded, Tensor):  # a tensor lr saved by an optimiser that read one
            group["lr"] = float(loaded.detach().cpu())


def group_key(opt: torch.optim.Optimizer) -> tuple[tuple, tuple]:
    """What a captured step bakes in from ``opt``'s groups: Python values, and tensors by identity."""
    values, tensors = [], []
    for group in opt.param_groups:
        for name in sorted(group):
            if name in ("params", "param_names"):
                continue
            value = group[name]
            if isinstance(value, Tensor):
                tensors.append(value)
            else:
                values.append((name, value))
    return tuple(values), tuple(tensors)
