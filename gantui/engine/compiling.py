"""``train.compile``: the players' forward and backward passes through ``torch.compile``, on CUDA.

An alternative to the CUDA-graph fast path (:mod:`gantui.engine.graphs`), measured against it in
``bench/bench.py --compile MODE``. The modules themselves stay uncompiled (their state-dict keys, the
checkpoints and the probe's copies are unchanged); the trainer calls compiled wrappers that share
their parameters. Gradient penalties differentiate D twice, which compiled autograd does not support,
so they call the plain D. "reduce-overhead" replays torch's own CUDA graphs, so gantui's graphs are
off while it is on; "max-autotune" searches kernels at start-up (minutes for a DCGAN).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gantui.config import ConfigError
from gantui.engine.device import DeviceError

COMPILE_MODES = ("off", "reduce-overhead", "max-autotune")


def compile_blocker(mode: str, device: torch.device) -> str | None:
    """Why ``train.compile = mode`` cannot work here (one line), or None."""
    if mode == "off":
        return None
    if device.type != "cuda":
        return (f"train.compile = '{mode}' needs a CUDA device (this run trains on {device.type}); "
                "use train.compile = off")
    try:
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            return f"train.compile = '{mode}': torch.compile is not supported on this Python; use off"
        from torch.utils._triton import has_triton
    except ImportError as exc:
        return f"train.compile = '{mode}': torch.compile is unavailable ({exc}); use off"
    if not has_triton():
        return f"train.compile = '{mode}': torch.compile needs Triton on CUDA (pip install triton); use off"
    return None


def compiled_players(G: nn.Module, D: nn.Module, *, mode: str, device: torch.device
                     ) -> tuple[Callable, Callable, Callable[[], None]]:
    """(G, D, step_begin) for the training steps; step_begin marks a new step for "reduce-overhead".

    Raises ConfigError for an unknown mode and DeviceError where compiling cannot work.
    """
    if mode not in COMPILE_MODES:
        raise ConfigError(f"train.compile = {mode!r}: expected one of {', '.join(COMPILE_MODES)}")
    if mode == "off":
        return G, D, lambda: None
    reason = compile_blocker(mode, device)
    if reason is not None:
        raise DeviceError(reason)
    g, d = torch.compile(G, mode=mode), torch.compile(D, mode=mode)
    if mode == "reduce-overhead":
        return g, d, torch.compiler.cudagraph_mark_step_begin
    return g, d, lambda: None
