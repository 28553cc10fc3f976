"""Choosing the training device and the CPU thread budget."""

from __future__ import annotations

import os

import torch


class DeviceError(ValueError):
    """The requested device does not exist on this machine (a user's mistake, shown in one line)."""


def resolve_device(name: str) -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device that exists, or raise DeviceError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"train.device = '{name}': CUDA is not available on this machine "
                              "(use auto or cpu)")
        index = int(name.split(":", 1)[1]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(f"train.device = '{name}': this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s): use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("train.device = 'mps': Apple MPS is not available on this machine")
        return torch.device("mps")
    return torch.device("cpu")


def configure_threads(requested: int, *, convolutional: bool = False) -> int:
    """Set torch's intra-op threads and return the number used.

    With 0 ("auto"): convolutional models get every core, since their steps are compute-bound
    (DCGAN-64 on 2 cores: 0.44x the plain loop on one thread). MLPs leave one core free, headless
    too: their steps are bound by per-op overhead, and intra-op threads that contend with any other
    busy thread (the dashboard, the main thread, a DataLoader) cost more than they give
    (bench/bench.py on 2 cores: one thread measured 10-20 % faster on ring8 and the MNIST MLP).
    """
    cores = os.cpu_count() or 1
    threads = requested or (cores if convolutional else max(1, cores - 1))
    torch.set_num_threads(threads)
    return threads


def enable_fast_math(device: torch.device) -> None:
    """TF32 matmuls and cuDNN autotuning on CUDA: free speed for GAN training, no visible cost."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def memory_summary(device: torch.device) -> str:
    """'1.2/79.6 GiB' on CUDA (reserved / total), '' elsewhere. Cheap: no device sync."""
    if device.type != "cuda":
        return ""
    reserved = torch.cuda.memory_reserved(device) / 2**30
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    return f"{reserved:.1f}/{total:.0f} GiB"
