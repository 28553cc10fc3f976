"""What keeps the ranks' players identical: averaged gradients, shared statistics, one check per window.

Gradients are averaged in one flat all-reduce per player and step, between backward and the
optimiser's step (the flat all-reduce StyleGAN3 uses instead of DDP): the trainer computes G's
gradients with ``autograd.grad`` (which a DDP wrapper never sees), penalties differentiate twice
(poorly supported through DDP, pytorch#63929) and D is called several times before one backward
(a BatchNorm D then fails DDP's buffer broadcast, pytorch#22095). With the same averaged gradient
every rank's optimiser takes the same step, so parameters and optimiser state stay bitwise equal
(``all_reduce`` returns bitwise-identical results on every rank) and weight clipping, applied after
the step, clips the same weights.

BatchNorm buffers (running statistics) are each rank's own between windows and averaged at every
read-out, so the ranks agree whenever anything is checked or saved. ``train.sync_bn`` replaces each
BatchNorm by :class:`SharedBatchNorm`, which normalises by the statistics of the global batch, as
one process with the whole batch would: it synchronises only inside trainer steps that every rank
runs (see :func:`shared_statistics`), never in rank 0's sample grids, read-outs of its own or probes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

__all__ = ["SharedBatchNorm", "average_gradients", "fingerprint", "global_std", "share_batchnorm",
           "shared_statistics"]

_SHARED_GROUP: list = []  # the data group while a step that every rank runs is in progress


@contextlib.contextmanager
def shared_statistics(group, *, enabled: bool) -> Iterator[None]:
    """Let :class:`SharedBatchNorm` layers synchronise inside this block (a step every rank runs)."""
    if not enabled:
        yield
        return
    _SHARED_GROUP.append(group)
    try:
        yield
    finally:
        _SHARED_GROUP.pop()


def average_gradients(params: Sequence[nn.Parameter], *, world: int, group=None) -> None:
    """Replace each parameter's gradient by its mean over the ranks, in place (one all-reduce)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, group=group)
    flat.div_(world)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def global_std(x: Tensor, *, group=None) -> Tensor:
    """``x.std()`` over every rank's ``x`` together (unbiased), as one process holding them all."""
    x64 = x.detach().double()
    stats = torch.stack([x64.sum(), x64.square().sum(), x64.new_tensor(float(x.numel()))])
    dist.all_reduce(stats, group=group)
    total, squares, n = stats.unbind()
    var = (squares - total * total / n) / (n - 1)
    return var.clamp(min=0.0).sqrt().to(x.dtype)


def fingerprint(tensors: Sequence[Tensor]) -> Tensor:
    """Two numbers that differ when any of ``tensors`` differs (float64; one fused kernel per dtype)."""
    floats = [t.detach() for t in tensors if t.is_floating_point() and t.numel()]
    if not floats:
        return torch.zeros(2, dtype=torch.float64)
    sums = torch.stack(torch._foreach_norm(floats, 1)).double()
    weights = torch.arange(1, len(floats) + 1, device=sums.device, dtype=torch.float64)
    return torch.stack([sums.sum(), (sums * weights).sum()])


class SharedBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the global batch over every rank.

    The batch's sum and sum of squares (float64) are added over the ranks with a differentiable
    all-reduce, so the backward pass adds the statistics' gradients over the ranks too: forward and
    backward are those of one process holding the whole batch (as SyncBatchNorm, which has no CPU
    kernel). Outside a shared step (:func:`shared_statistics`) it is an ordinary BatchNorm.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and _SHARED_GROUP):
            return super().forward(x)
        group = _SHARED_GROUP[-1]
        dims = [0, *range(2, x.dim())]
        x64 = x.double()
        local = torch.cat([x64.sum(dims), x64.square().sum(dims),
                           x64.new_tensor([x.numel() / x.shape[1]])])
        stats = differentiable_all_reduce(local, group=group)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean.square()).clamp(min=0.0)
        if self.track_running_stats:
            self._track(mean.detach(), var.detach(), float(n))
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype).view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _track(self, mean: Tensor, var: Tensor, n: float) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (n / max(n - 1.0, 1.0))
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


def share_batchnorm(module: nn.Module) -> int:
    """Replace every BatchNorm2d in ``module`` by a SharedBatchNorm holding the same parameters and
    buffers (the optimisers keep pointing at them; state dicts keep their keys). Returns how many."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.BatchNorm2d:
                continue
            shared = SharedBatchNorm(child.num_features, eps=child.eps, momentum=child.momentum,
                                     affine=child.affine, track_running_stats=child.track_running_stats,
                                     device=_device_of(child))
            if child.affine:
                shared.weight, shared.bias = child.weight, child.bias
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(child, buffer, None) is not None:
                    setattr(shared, buffer, getattr(child, buffer))
            shared.train(child.training)
            setattr(parent, name, shared)
            count += 1
    return count


def _device_of(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")
